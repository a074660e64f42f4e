"""Body size limits: a small default (1 MB) with a larger limit for the message types that need
one (LGSP_MAX_BODY_BYTES_BY_TYPE), answered 413 problem+json, and nothing stored."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from lgsp.exchange.models import Message
from lgsp.settings import Settings
from tests.support.platform import ONE_STOP, LivePlatform, live_platform

DEFAULT = 64 * 1024
DOSSIER = 256 * 1024


@pytest.fixture(scope="module")
def live() -> Iterator[LivePlatform]:
    import tempfile

    with (
        tempfile.TemporaryDirectory() as tmp,
        live_platform(
            f"sqlite:///{tmp}/lgsp.db",
            max_body_bytes=DEFAULT,
            max_body_bytes_by_type={"dossier": DOSSIER},
        ) as live,
    ):
        yield live


def stored(live: LivePlatform) -> int:
    with live.platform.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Message)) or 0)


def send(live: LivePlatform, kind: str, size: int) -> httpx.Response:
    body = {"type": kind, "payload": {"GhiChu": "x" * size}}
    with live.http() as http:
        return http.post("/v1/messages", json=body, headers=live.auth(ONE_STOP))


def assert_too_large(r: httpx.Response, limit: int) -> None:
    assert r.status_code == 413, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/payload-too-large")
    assert str(limit) in r.json()["detail"]


def test_the_default_limit_is_one_megabyte() -> None:
    assert Settings().max_body_bytes == 1024 * 1024


def test_a_type_without_its_own_limit_gets_the_default(live: LivePlatform) -> None:
    before = stored(live)
    assert_too_large(send(live, "field-report", DEFAULT + 100), DEFAULT)
    assert send(live, "field-report", DEFAULT // 2).status_code != 413
    assert stored(live) == before


def test_a_type_with_its_own_limit_gets_it(live: LivePlatform) -> None:
    before = stored(live)
    assert send(live, "dossier", DEFAULT * 2).status_code != 413
    assert_too_large(send(live, "dossier", DOSSIER + 100), DOSSIER)
    assert stored(live) == before


def test_a_declared_length_over_every_limit_is_refused_before_the_body_is_read(
    live: LivePlatform,
) -> None:
    def body() -> Iterator[bytes]:
        for _ in range(DOSSIER // 1024 * 8):
            yield b"x" * 1024

    headers = {**live.auth(ONE_STOP), "Content-Type": "application/json"}
    headers["Content-Length"] = str(DOSSIER * 8)
    with live.http() as http:
        r = http.post("/v1/messages", content=body(), headers=headers)
    assert_too_large(r, DOSSIER)


def test_the_validate_endpoint_uses_the_type_in_its_path(live: LivePlatform) -> None:
    payload = {"GhiChu": "x" * (DEFAULT * 2)}
    with live.http() as http:
        headers = live.auth(ONE_STOP)
        dossier = http.post("/v1/schemas/dossier/validate", json=payload, headers=headers)
        report = http.post("/v1/schemas/field-report/validate", json=payload, headers=headers)
    assert dossier.status_code != 413, dossier.text
    assert_too_large(report, DEFAULT)
