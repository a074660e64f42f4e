"""The accept path as agency systems meet it: what is accepted, and everything that is refused
with the right problem and nothing stored."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy import func, select

from lgsp.auth import tokens
from lgsp.deliveries.models import Delivery
from lgsp.exchange.models import Message
from lgsp.messagelog.models import LogEntry
from tests.dvcqg.samples import sample_dossier
from tests.support.platform import IOC, KHDT, ONE_STOP, PORTAL, LivePlatform, live_platform

MAX_BODY = 64 * 1024


@pytest.fixture
def live(database_url: str) -> Iterator[LivePlatform]:
    with live_platform(database_url, max_body_bytes=MAX_BODY) as live:
        yield live


def dossier(seq: int = 1, procedure: str = "1.004227") -> dict[str, Any]:
    return sample_dossier(f"{ONE_STOP}-261126-{seq:04d}", procedure)


def counts(live: LivePlatform) -> tuple[int, int, int]:
    with live.platform.sessions() as s:
        return (
            s.scalar(select(func.count()).select_from(Message)) or 0,
            s.scalar(select(func.count()).select_from(Delivery)) or 0,
            s.scalar(
                select(func.count())
                .select_from(LogEntry)
                .where(LogEntry.kind == "message.accepted")
            )
            or 0,
        )


def send(
    live: LivePlatform, body: Any, headers: dict[str, str] | None = None, **kw: Any
) -> httpx.Response:
    with live.http() as http:
        headers = live.auth(ONE_STOP) if headers is None else headers
        return http.post("/v1/messages", json=body, headers=headers, **kw)


def assert_problem(r: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = r.json()
    assert problem["type"].endswith("/" + slug), problem
    assert problem["status"] == status and problem["detail"]
    assert r.headers["x-request-id"] and r.headers["traceparent"].startswith("00-")
    return problem


def test_accepted_dossier_is_routed_stored_and_readable(live: LivePlatform) -> None:
    # Enterprise registration: routed to Planning and Investment, which pulls its inbox.
    r = send(
        live, {"type": "dossier", "payload": dossier(procedure="2.001610"), "correlation_id": "abc"}
    )
    assert r.status_code == 202, r.text
    body = r.json()
    assert r.headers["location"] == f"/v1/messages/{body['id']}"
    # The department, plus the copy to the national portal.
    assert sorted(body["recipients"]) == sorted([KHDT, PORTAL])
    assert body["correlation_key"] == f"{ONE_STOP}-261126-0001"
    assert counts(live) == (1, 2, 1)
    with live.http() as http:
        view = http.get(r.headers["location"], headers=live.auth(ONE_STOP)).json()
        assert view["sender"] == ONE_STOP and view["payload"]["MaHoSo"] == body["correlation_key"]
        states = {x["agency"]: x["state"] for x in view["recipients"]}
        assert states == {KHDT: "inbox", PORTAL: "pending"}
        # The recipient may read it too and finds it in its inbox.
        tnmt = live.auth(KHDT)
        assert http.get(r.headers["location"], headers=tnmt).status_code == 200
        inbox_r = http.get("/v1/inbox", headers=tnmt)
        assert inbox_r.status_code == 200, inbox_r.text
        inbox = inbox_r.json()
        assert [i["id"] for i in inbox["items"]] == [body["id"]]
        ack = http.post(f"/v1/inbox/{body['id']}/ack", headers=tnmt)
        assert ack.json()["state"] == "acked"
        assert http.post(f"/v1/inbox/{body['id']}/ack", headers=tnmt).status_code == 200
        assert http.get("/v1/inbox", headers=tnmt).json()["items"] == []


def test_idempotency_key_returns_the_first_answer_and_refuses_a_different_body(
    live: LivePlatform,
) -> None:
    headers = {**live.auth(ONE_STOP), "Idempotency-Key": "dossier-0001-v1"}
    first = send(live, {"type": "dossier", "payload": dossier(1)}, headers)
    again = send(live, {"type": "dossier", "payload": dossier(1)}, headers)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert counts(live)[0] == 1
    other = send(live, {"type": "dossier", "payload": dossier(2)}, headers)
    assert_problem(other, 409, "idempotency-key-reused")
    assert counts(live)[0] == 1


def forge(
    live: LivePlatform, *, key: Any = None, header: dict[str, Any] | None = None, **claims: Any
) -> str:
    base = tokens.issue_claims(
        live.settings,
        client_id="c_forged",
        agency=ONE_STOP,
        scope="messages:send messages:read",
        ttl=600,
    )
    base.update(claims)
    active = live.platform.keys.active_key()
    key = key or active
    hdr = header or {"alg": "ES256", "typ": "at+jwt", "kid": active.kid}
    return jwt.encode(hdr, base, key)


def b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_refused_tokens_store_nothing(live: LivePlatform) -> None:
    body = {"type": "dossier", "payload": dossier()}
    valid = forge(live)
    assert send(live, body, {"Authorization": f"Bearer {valid}"}).status_code == 202
    baseline = counts(live)
    now = int(time.time())
    stranger = ECKey.generate_key("P-256")
    unsigned_header = b64(b'{"alg":"none","typ":"at+jwt"}')
    claims = tokens.issue_claims(
        live.settings, client_id="c_x", agency=ONE_STOP, scope="messages:send", ttl=600
    )
    payload = b64(json.dumps(claims).encode())
    cases = {
        "missing": None,
        "not a bearer": "Basic abc",
        "garbage": "Bearer not.a.jwt",
        "expired": "Bearer " + forge(live, exp=now - 3600, iat=now - 4000, nbf=now - 4000),
        "forged signature": "Bearer " + forge(live, key=stranger),
        "alg none": f"Bearer {unsigned_header}.{payload}.",
        "wrong audience": "Bearer " + forge(live, aud="another-platform"),
        "wrong issuer": "Bearer " + forge(live, iss="https://elsewhere.example"),
    }
    for name, value in cases.items():
        headers = {"Authorization": value} if value else {}
        r = send(live, body, headers)
        assert r.status_code == 401, name
        problem = assert_problem(r, 401, "unauthorized")
        assert "www-authenticate" in r.headers, name
        assert problem["detail"], name
    assert counts(live) == baseline


def test_scope_and_grants_are_enforced(live: LivePlatform) -> None:
    body = {"type": "dossier", "payload": dossier()}
    no_scope = send(live, body, live.auth(ONE_STOP, "inbox:read"))
    assert_problem(no_scope, 403, "insufficient-scope")
    # The operations centre may send field reports, not dossiers.
    not_type = send(live, body, live.auth(IOC))
    assert_problem(not_type, 403, "not-granted")
    # The one-stop office may send dossiers to departments, not to the operations centre.
    not_recipient = send(live, {**body, "to": IOC})
    problem = assert_problem(not_recipient, 403, "not-granted")
    assert IOC in problem["detail"]
    assert counts(live) == (0, 0, 0)


def test_malformed_requests_are_refused(live: LivePlatform) -> None:
    auth = live.auth(ONE_STOP)
    with live.http() as http:
        broken = http.post(
            "/v1/messages",
            content=b'{"type": "dossier", "payload": {',
            headers={**auth, "Content-Type": "application/json"},
        )
        assert_problem(broken, 400, "malformed-body")
        xml = http.post(
            "/v1/messages",
            content=b"<dossier/>",
            headers={**auth, "Content-Type": "application/xml"},
        )
        assert_problem(xml, 415, "unsupported-media-type")
        not_utf8 = http.post(
            "/v1/messages",
            content=b'{"type": "\xff"}',
            headers={**auth, "Content-Type": "application/json"},
        )
        assert_problem(not_utf8, 400, "malformed-body")
    envelope = assert_problem(
        send(live, {"kind": "dossier", "payload": []}), 422, "invalid-envelope"
    )
    pointers = {e["pointer"] for e in envelope["errors"]}
    assert {"/type", "/payload", "/kind"} <= pointers
    unknown_type = send(live, {"type": "parcel", "payload": {}})
    assert_problem(unknown_type, 422, "unknown-message-type")
    unknown_to = send(live, {"type": "dossier", "to": "000.00.99.H56", "payload": dossier()})
    assert_problem(unknown_to, 422, "unknown-recipient")
    assert counts(live) == (0, 0, 0)


def test_every_schema_violation_is_reported_with_its_pointer(live: LivePlatform) -> None:
    bad = dossier()
    bad["MaHoSo"] = "HS-2026-1"  # not {agency}-{yyMMdd}-{NNNN}
    bad["TrangThaiHoSo"] = "11"  # outside 1-10
    bad["NgayNopHoSo"] = "26/11/2026"  # not yyyyMMddHHmmss
    bad["SoGiayToChuHoSo"] = "12345"  # a citizen's CCCD has 12 digits
    del bad["TenTTHC"]
    problem = assert_problem(
        send(live, {"type": "dossier", "payload": bad}), 422, "validation-failed"
    )
    pointers = {e["pointer"] for e in problem["errors"]}
    assert {"/MaHoSo", "/TrangThaiHoSo", "/NgayNopHoSo", "/SoGiayToChuHoSo", "/TenTTHC"} <= pointers
    # The dry run answers exactly as a send.
    with live.http() as http:
        dry = http.post("/v1/schemas/dossier/validate", json=bad, headers=live.auth(ONE_STOP))
    assert dry.status_code == 422
    assert dry.json()["errors"] == problem["errors"]
    with live.http() as http:
        ok = http.post("/v1/schemas/dossier/validate", json=dossier(), headers=live.auth(ONE_STOP))
    assert ok.json() == {"valid": True, "schema": "dossier/1"}
    assert counts(live) == (0, 0, 0)


def test_oversized_bodies_are_refused_declared_or_streamed(live: LivePlatform) -> None:
    big = dossier()
    big["GhiChu"] = "x" * (MAX_BODY + 10)
    assert_problem(send(live, {"type": "dossier", "payload": big}), 413, "payload-too-large")

    def chunks() -> Iterator[bytes]:
        yield b'{"type": "dossier", "payload": {"GhiChu": "'
        for _ in range(MAX_BODY // 1024 + 2):
            yield b"y" * 1024
        yield b'"}}'

    with live.http() as http:
        streamed = http.post(
            "/v1/messages",
            content=chunks(),
            headers={**live.auth(ONE_STOP), "Content-Type": "application/json"},
        )
    assert_problem(streamed, 413, "payload-too-large")
    assert counts(live) == (0, 0, 0)


def test_a_client_cannot_read_messages_it_is_not_party_to(live: LivePlatform) -> None:
    sent = send(live, {"type": "dossier", "payload": dossier()}).json()
    with live.http() as http:
        outsider = http.get(f"/v1/messages/{sent['id']}", headers=live.auth(IOC))
        assert_problem(outsider, 404, "not-found")
        assert http.post(f"/v1/inbox/{sent['id']}/ack", headers=live.auth(IOC)).status_code == 404
        assert http.get("/v1/inbox", headers=live.auth(IOC)).json()["items"] == []
        auditor = live.auth(ONE_STOP, "audit")
        assert http.get(f"/v1/messages/{sent['id']}", headers=auditor).status_code == 200


def test_operational_endpoints(live: LivePlatform) -> None:
    with live.http() as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        assert http.get("/readyz").json()["status"] == "ready"
        send(live, {"type": "dossier", "payload": dossier()})
        metrics = http.get("/metrics", headers=live.auth(ONE_STOP, "metrics")).text
        assert 'lgsp_messages_accepted_total{type="dossier"}' in metrics
        spec = http.get("/openapi.json").json()
        assert "/v1/messages" in spec["paths"] and spec["openapi"].startswith("3.1")
        docs = http.get("/docs")
        assert docs.status_code == 200 and "cdn" not in docs.text.lower()
        assert "/_docs-assets/swagger-ui-bundle.js" in docs.text
        js = http.get("/_docs-assets/swagger-ui-bundle.js")
        assert js.status_code == 200 and "SwaggerUIBundle" in js.text
        assert "/_docs-assets/redoc.standalone.js" in http.get("/redoc").text
        schemas = http.get("/v1/schemas").json()
        assert {t["type"] for t in schemas["types"]} >= {"dossier", "dossier-status"}
        assert http.get("/v1/schemas/dossier").json()["$schema"].endswith("2020-12/schema")
        agencies = http.get("/v1/agencies", headers=live.auth(ONE_STOP)).json()
        assert any(a["code"] == KHDT and a["delivery"] == "pull" for a in agencies)
        assert all("settings" not in a for a in agencies)
        trace = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
        r = http.get("/healthz", headers={"traceparent": trace})
        assert r.headers["traceparent"].startswith("00-" + "a" * 32 + "-")
