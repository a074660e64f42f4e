"""HTTP conventions integrators rely on: what the dry-run validation takes, cursors that are
refused rather than read as an empty page, RFC 6750 challenges, Allow on 405, unknown schemas
as 404, token errors that do not tell which client ids exist, and audit times without offset."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from lgsp.auth import server as auth_server
from lgsp.kit.db import transaction
from lgsp.messagelog.service import append as log_append
from tests.dvcqg.samples import sample_dossier
from tests.support.platform import IOC, KHDT, ONE_STOP, LivePlatform, live_platform


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePlatform]:
    db = Path(tmp_path_factory.mktemp("conventions")) / "lgsp.db"
    with live_platform(f"sqlite:///{db}") as live:
        yield live


def assert_problem(r: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = r.json()
    assert problem["type"].endswith("/" + slug), problem
    assert problem["status"] == status and problem["detail"]
    return problem


def dossier() -> dict[str, Any]:
    return sample_dossier(f"{ONE_STOP}-261202-0001", "1.004227")


# -- /v1/schemas -------------------------------------------------------------------------------


def test_validate_takes_a_sends_envelope_as_well_as_a_bare_payload(live: LivePlatform) -> None:
    bad = {**dossier(), "TrangThaiHoSo": "11"}
    with live.http(headers=live.auth(ONE_STOP)) as http:
        bare = http.post("/v1/schemas/dossier/validate", json=dossier())
        envelope = http.post(
            "/v1/schemas/dossier/validate", json={"type": "dossier", "payload": dossier()}
        )
        untyped = http.post("/v1/schemas/dossier/validate", json={"payload": dossier()})
        bad_bare = http.post("/v1/schemas/dossier/validate", json=bad)
        bad_envelope = http.post(
            "/v1/schemas/dossier/validate", json={"type": "dossier", "payload": bad}
        )
        other_type = http.post(
            "/v1/schemas/dossier/validate", json={"type": "field-report", "payload": dossier()}
        )
        not_object = http.post(
            "/v1/schemas/dossier/validate", json={"type": "dossier", "payload": [1]}
        )
    for ok in (bare, envelope, untyped):
        assert ok.status_code == 200, ok.text
        assert ok.json() == {"valid": True, "schema": "dossier/1"}
    # The same errors, with pointers into the payload, whichever form was posted.
    errors = assert_problem(bad_bare, 422, "validation-failed")["errors"]
    assert [e["pointer"] for e in errors] == ["/TrangThaiHoSo"]
    assert assert_problem(bad_envelope, 422, "validation-failed")["errors"] == errors
    assert "field-report" in assert_problem(other_type, 400, "bad-request")["detail"]
    assert_problem(not_object, 400, "malformed-body")


def test_an_unknown_schema_is_not_found(live: LivePlatform) -> None:
    with live.http(headers=live.auth(ONE_STOP)) as http:
        assert_problem(http.get("/v1/schemas/nope"), 404, "not-found")
        assert_problem(http.post("/v1/schemas/nope/validate", json={}), 404, "not-found")
        assert http.get("/v1/schemas/dossier").status_code == 200


# -- /v1/inbox ---------------------------------------------------------------------------------


def test_an_inbox_cursor_that_names_no_message_is_refused(live: LivePlatform) -> None:
    # Planning and Investment pulls enterprise registrations (procedure 2.001610).
    with live.http() as http:
        sent = http.post(
            "/v1/messages",
            json={
                "type": "dossier",
                "payload": sample_dossier(f"{ONE_STOP}-261202-0002", "2.001610"),
            },
            headers=live.auth(ONE_STOP),
        )
        assert sent.status_code == 202, sent.text
        inbox = live.auth(KHDT)
        page = http.get("/v1/inbox", headers=inbox).json()
        assert sent.json()["id"] in [m["id"] for m in page["items"]]
        after_last = http.get("/v1/inbox", params={"after": page["items"][-1]["id"]}, headers=inbox)
        assert after_last.status_code == 200 and after_last.json()["items"] == []
        garbage = http.get("/v1/inbox", params={"after": "garbage"}, headers=inbox)
        problem = assert_problem(garbage, 422, "invalid-request")
        assert problem["errors"][0]["pointer"] == "/after"
        unknown = http.get("/v1/inbox", params={"after": str(uuid.uuid4())}, headers=inbox)
        assert_problem(unknown, 404, "not-found")
        # Another agency's message is no cursor for this inbox either.
        other = http.get("/v1/inbox", params={"after": sent.json()["id"]}, headers=live.auth(IOC))
        assert_problem(other, 404, "not-found")


# -- challenges and methods --------------------------------------------------------------------


def test_401_challenges_follow_rfc_6750(live: LivePlatform) -> None:
    with live.http() as http:
        no_token = assert_problem(http.get("/v1/agencies"), 401, "unauthorized")
        assert no_token  # a problem body as well as the challenge
        challenge = http.get("/v1/agencies").headers["www-authenticate"]
        assert challenge == 'Bearer realm="lgsp"'
        bad = http.get("/v1/agencies", headers={"Authorization": "Bearer not-a-jwt"})
        assert_problem(bad, 401, "unauthorized")
        assert bad.headers["www-authenticate"] == 'Bearer realm="lgsp", error="invalid_token"'


def test_405_names_the_allowed_methods(live: LivePlatform) -> None:
    with live.http() as http:
        r = http.delete("/v1/inbox")
        assert_problem(r, 405, "method-not-allowed")
        assert r.headers["allow"] == "GET"
        r = http.get("/v1/messages")
        assert_problem(r, 405, "method-not-allowed")
        assert r.headers["allow"] == "POST"


# -- token errors ------------------------------------------------------------------------------


def _token_answer(live: LivePlatform, client_id: str, secret: str, how: str) -> httpx.Response:
    form = {"grant_type": "client_credentials"}
    with live.http() as http:
        if how == "basic":
            return http.post("/oauth/token", data=form, auth=(client_id, secret))
        return http.post(
            "/oauth/token", data={**form, "client_id": client_id, "client_secret": secret}
        )


@pytest.mark.parametrize("how", ["basic", "post"])
def test_token_errors_do_not_tell_whether_the_client_exists(
    live: LivePlatform, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client_id, secret = live.new_client(ONE_STOP, "messages:send")
    hashed: list[str] = []
    real_verify = auth_server.verify_secret

    def counting_verify(given: str, stored: str) -> bool:
        hashed.append(stored)
        return real_verify(given, stored)

    monkeypatch.setattr(auth_server, "verify_secret", counting_verify)
    wrong = _token_answer(live, client_id, secret + "x", how)
    unknown = _token_answer(live, "c_" + "0" * 24, secret, how)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"] == "invalid_client"
    assert wrong.headers.get("www-authenticate") == unknown.headers.get("www-authenticate")
    # No shortcut: the unknown client's secret was hashed too, against a stored-form hash.
    assert len(hashed) == 2 and all(h.startswith("scrypt$") for h in hashed)
    assert _token_answer(live, client_id, secret, how).status_code == 200


# -- /v1/audit/log -----------------------------------------------------------------------------


def _mark(live: LivePlatform, at: datetime, name: str) -> None:
    with transaction(live.platform.sessions) as session:
        log_append(session, "test.marker", actor=name, at=at)


def test_audit_times_without_offset_are_the_platforms_local_time(live: LivePlatform) -> None:
    # 2 December 2026 starts at 1 December 17:00 UTC in Asia/Ho_Chi_Minh (UTC+7).
    _mark(live, datetime(2026, 12, 1, 16, 30, tzinfo=UTC), "before")
    _mark(live, datetime(2026, 12, 1, 17, 30, tzinfo=UTC), "after")
    auditor = live.auth(IOC, "audit")

    def actors(**params: str) -> list[str]:
        with live.http() as http:
            r = http.get("/v1/audit/log", params={"kind": "test.marker", **params}, headers=auditor)
        assert r.status_code == 200, r.text
        return [e["actor"] for e in r.json()["items"]]

    assert actors(since="2026-12-02") == ["after"]
    assert actors(until="2026-12-02") == ["before"]
    assert actors(since="2026-12-02T00:00:00") == ["after"]
    assert actors(since="2026-12-01T17:00:00Z") == ["after"]
    assert actors(since="2026-12-01T16:00:00+00:00", until="2026-12-01T17:00:00Z") == ["before"]
    with live.http() as http:
        for odd in ("0001-01-01T00:00:00+07:00", "2026-13-01", "yesterday"):
            r = http.get("/v1/audit/log", params={"since": odd}, headers=auditor)
            problem = assert_problem(r, 422, "invalid-request")
            assert problem["errors"][0]["pointer"] == "/since"


# -- ids and bodies the contract test found -----------------------------------------------------


def test_oversized_ids_and_loose_values_are_422_not_500(live: LivePlatform) -> None:
    huge = str(2**63)
    auditor = live.auth(IOC, "audit")
    with live.http(headers=live.auth(IOC, "admin")) as http:
        assert_problem(http.get(f"/v1/admin/dead-letters/{huge}"), 422, "invalid-request")
        assert_problem(
            http.get("/v1/admin/dead-letters", params={"after": huge}), 422, "invalid-request"
        )
        assert_problem(
            http.get("/v1/audit/log", params={"after_id": huge}, headers=auditor),
            422,
            "invalid-request",
        )
        replay = "/v1/admin/dead-letters/replay"
        assert_problem(http.post(replay, json={"delivery_ids": [2**63]}), 422, "invalid-envelope")
        assert_problem(http.post(replay, json={"all": 0}), 422, "invalid-envelope")
        assert_problem(http.post(replay, json={}), 400, "bad-request")
        assert http.post(replay, json={"all": True}).json() == {"replayed": []}
        # A literal path beside a templated one: 405 names the literal one's methods.
        r = http.get(replay)
        assert_problem(r, 405, "method-not-allowed")
        assert r.headers["allow"] == "POST"
        assert_problem(
            http.get("/v1/audit/log", params={"until": "0.5"}, headers=auditor),
            422,
            "invalid-request",
        )
