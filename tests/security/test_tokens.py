"""Tokens that must not open any door: a forged signature, ``alg: none``, an expired token, one
for another audience or issuer, a revoked one, a disabled client's. Every protected entry point
refuses each with 401 problem+json, and nothing is stored or logged.

Also covered elsewhere (not repeated here): the same cases on ``POST /v1/messages`` with the
store counted (tests/api/test_accept.py::test_refused_tokens_store_nothing), revocation and
introspection (tests/api/test_oauth.py), expiry leeway and revocation across processes
(tests/auth/test_token_rules.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey
from sqlalchemy import func, select

from lgsp.auth import tokens
from lgsp.deliveries.models import Delivery
from lgsp.exchange.models import Message
from lgsp.messagelog.models import LogEntry
from tests.api.test_accept import assert_problem, b64, dossier, forge
from tests.support.platform import ONE_STOP, TNMT, LivePlatform, live_platform

ALL_SCOPES = "messages:send messages:read inbox:read services:call schemas:validate audit admin"
# A real client holds either admin or audit; a bad token fails before its scopes are looked at.
CLIENT_SCOPES = "messages:send messages:read inbox:read services:call schemas:validate audit"
# (method, path, body): every kind of protected entry point.
ENTRY_POINTS = [
    ("POST", "/v1/messages", {"type": "dossier", "payload": dossier(90)}),
    ("GET", "/v1/messages/0190f0f0-0000-7000-8000-000000000000", None),
    ("GET", "/v1/inbox", None),
    ("POST", "/v1/inbox/0190f0f0-0000-7000-8000-000000000000/ack", None),
    ("POST", f"/v1/services/{TNMT}/TraCuuHoSo", {"MaHoSo": "x"}),
    ("POST", "/v1/schemas/dossier/validate", dossier(91)),
    ("GET", "/v1/audit/log", None),
    ("POST", "/v1/audit/log/verify", None),
    ("GET", "/v1/admin/dead-letters", None),
    ("POST", "/v1/admin/dead-letters/replay", {"all": True}),
    ("GET", "/metrics", None),
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePlatform]:
    # One platform for the module (SQLite): every refusal happens before the database is used,
    # and the table of entry points and tokens is long.
    url = f"sqlite:///{tmp_path_factory.mktemp('tokens') / 'lgsp.db'}"
    with live_platform(url) as live:
        yield live


def footprint(live: LivePlatform) -> tuple[Any, ...]:
    with live.platform.sessions() as s:
        return (
            s.scalar(select(func.count()).select_from(Message)),
            s.scalar(select(func.count()).select_from(Delivery)),
            s.scalar(select(func.max(LogEntry.id))),
        )


def bad_tokens(live: LivePlatform) -> dict[str, str]:
    now = int(time.time())
    claims = tokens.issue_claims(
        live.settings, client_id="c_x", agency=ONE_STOP, scope=ALL_SCOPES, ttl=600
    )
    every = {"scope": ALL_SCOPES}
    unsigned = b64(b'{"alg":"none","typ":"at+jwt"}') + "." + b64(json.dumps(claims).encode())
    return {
        "forged signature": forge(live, key=ECKey.generate_key("P-256"), **every),
        "alg none": unsigned + ".",
        "expired": forge(live, exp=now - 3600, iat=now - 4000, nbf=now - 4000, **every),
        "wrong audience": forge(live, aud="another-platform", **every),
        "wrong issuer": forge(live, iss="https://elsewhere.example", **every),
        "garbage": "not.a.jwt",
    }


def test_bad_tokens_open_no_entry_point(live: LivePlatform) -> None:
    cases = bad_tokens(live)
    before = footprint(live)
    with live.http() as http:
        for method, path, body in ENTRY_POINTS:
            for name, token in cases.items():
                r = http.request(
                    method, path, json=body, headers={"Authorization": f"Bearer {token}"}
                )
                assert r.status_code == 401, (method, path, name, r.text)
                assert_problem(r, 401, "unauthorized")
                assert "www-authenticate" in r.headers
    assert footprint(live) == before


def test_a_revoked_token_opens_no_entry_point(live: LivePlatform) -> None:
    client_id, secret = live.new_client(ONE_STOP, CLIENT_SCOPES)
    token_url = live.url + "/oauth/token"
    grant = {"grant_type": "client_credentials"}
    token = httpx.post(token_url, data=grant, auth=(client_id, secret)).json()["access_token"]
    assert httpx.post(
        live.url + "/oauth/revoke", data={"token": token}, auth=(client_id, secret)
    ).is_success
    before = footprint(live)
    with live.http() as http:
        for method, path, body in ENTRY_POINTS:
            r = http.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
            assert_problem(r, 401, "unauthorized")
    assert footprint(live) == before


def test_a_disabled_clients_token_opens_no_entry_point(live: LivePlatform) -> None:
    from lgsp.admin.clients import set_disabled

    client_id, secret = live.new_client(ONE_STOP, CLIENT_SCOPES)
    grant = {"grant_type": "client_credentials"}
    token = httpx.post(live.url + "/oauth/token", data=grant, auth=(client_id, secret)).json()[
        "access_token"
    ]
    set_disabled(live.platform.sessions, client_id, True, actor="test")
    # Every API process sees the client's state within its refresh interval (a fraction of a
    # second); wait for this one before knocking on every door.
    deadline = time.monotonic() + 5
    with live.http() as http:
        while time.monotonic() < deadline:
            r = http.get("/v1/inbox", headers={"Authorization": f"Bearer {token}"})
            if r.status_code == 401:
                break
            time.sleep(0.05)
    before = footprint(live)
    with live.http() as http:
        for method, path, body in ENTRY_POINTS:
            r = http.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, (method, path, r.status_code)
    assert footprint(live) == before
