"""Oversized bodies, declared (Content-Length) or streamed (chunked), on every entry point that
takes a body: refused with 413 problem+json before anything is stored or logged.

``POST /v1/messages`` with the store counted: tests/api/test_accept.py::
test_oversized_bodies_are_refused_declared_or_streamed (not repeated here)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from lgsp.deliveries.models import Delivery
from lgsp.exchange.models import Message
from lgsp.messagelog.models import LogEntry
from tests.api.test_accept import assert_problem
from tests.support.platform import ONE_STOP, TNMT, LivePlatform, live_platform

LIMIT = 16 * 1024
ENTRY_POINTS = [
    "/v1/messages",
    f"/v1/services/{TNMT}/TraCuuHoSo",
    "/v1/schemas/dossier/validate",
    "/v1/admin/dead-letters/replay",
    "/oauth/token",
    "/token",
    "/oauth/introspect",
    "/oauth/revoke",
]


@pytest.fixture
def live(database_url: str) -> Iterator[LivePlatform]:
    with live_platform(database_url, max_body_bytes=LIMIT) as live:
        live.token(ONE_STOP)
        yield live


def footprint(live: LivePlatform) -> tuple[Any, ...]:
    with live.platform.sessions() as s:
        return (
            s.scalar(select(func.count()).select_from(Message)),
            s.scalar(select(func.count()).select_from(Delivery)),
            s.scalar(select(func.max(LogEntry.id))),
        )


def streamed(form: bool) -> Iterator[bytes]:
    yield b"grant_type=client_credentials&x=" if form else b'{"payload": {"GhiChu": "'
    for _ in range(LIMIT // 1024 + 2):
        yield b"y" * 1024
    yield b"" if form else b'"}}'


def test_oversized_bodies_are_refused_everywhere(live: LivePlatform) -> None:
    auth = live.auth(ONE_STOP, "messages:send services:call schemas:validate admin")
    before = footprint(live)
    with live.http() as http:
        for path in ENTRY_POINTS:
            form = "token" in path or "introspect" in path or "revoke" in path
            kind = "application/x-www-form-urlencoded" if form else "application/json"
            headers = {**auth, "Content-Type": kind}
            declared = b"".join(streamed(form)) + b"z" * 10
            for name, body in (("declared", declared), ("streamed", streamed(form))):
                r = http.post(path, content=body, headers=headers)
                assert r.status_code == 413, (path, name, r.status_code, r.text[:200])
                assert_problem(r, 413, "payload-too-large")
    assert footprint(live) == before
