"""Synchronous mediated calls as a caller meets them: the provider's answer as JSON, both legs in
the message log, and every refusal or provider failure as the right problem."""

from __future__ import annotations

from typing import Any

import pytest

from tests.mediation.conftest import LOOKUP, World, assert_problem
from tests.mediation.province import JUSTICE, LAND_REGISTRY
from tests.support.platform import IOC, ONE_STOP

JUSTICE_CALL = f"/v1/services/{JUSTICE}"


def test_soap_lookup_answers_json_and_both_legs_are_logged(world: World) -> None:
    r = world.call(LOOKUP, {"SoPhatHanh": "CY 000123"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["Found"] is True
    certificate = body["Certificate"]
    # xs:decimal and xs:date of the WSDL arrive as a JSON number and an ISO date.
    assert certificate["SoPhatHanh"] == "CY 000123" and certificate["DienTich"] == 152.5
    assert certificate["NgayVaoSo"] == "2021-03-15"
    assert [p["HoTen"] for p in certificate["NguoiSuDung"]] == ["Nguyễn Văn An"]
    # It really went over SOAP, with the caller named in the HTTP headers.
    [received] = world.land.service.received
    assert received.operation == "LookupCertificate"
    assert received.params == {"SoPhatHanh": "CY 000123"}
    assert received.headers["x-lgsp-caller"] == ONE_STOP
    request_id = r.headers["x-request-id"]
    assert received.headers["x-lgsp-request-id"] == request_id

    missing = world.call(LOOKUP, {"SoPhatHanh": "ZZ 999999"})
    assert missing.status_code == 200 and missing.json() == {"Found": False, "Certificate": None}

    entries = world.log("call.request", "call.response")
    assert [e.kind for e in entries] == ["call.request", "call.response"] * 2
    request, response = entries[0], entries[1]
    assert request.agency == ONE_STOP and request.actor and request.body_sha256
    assert request.detail["provider"] == response.agency
    assert request.detail["service"] == "LookupCertificate"
    assert request.detail["request_id"] == response.detail["request_id"] == request_id
    assert response.detail["status_code"] == 200 and response.detail["error"] is None
    assert isinstance(response.detail["duration_ms"], int | float)
    assert response.detail["duration_ms"] >= 0
    assert response.body_sha256
    sent, got = response.detail["captures"]
    assert sent["direction"] == "request" and "text/xml" in sent["content_type"]
    assert "LookupCertificate" in sent["body"] and "CY 000123" in sent["body"]
    assert got["direction"] == "response" and "<lr:LookupCertificateResponse>" in got["body"]
    # The captured request is the envelope the service received, byte for byte.
    assert sent["body"] == received.envelope.decode()


def test_rest_call_passes_path_and_query_through(world: World) -> None:
    r = world.call(f"{JUSTICE_CALL}/Echo/ho-so/123?trang=2&loai=a%20b")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "method": "GET",
        "path": "/ho-so/123",
        "query": {"trang": "2", "loai": "a b"},
    }

    found = world.call(f"{JUSTICE_CALL}/TraCuuGCN", {"SoPhatHanh": "CY 000123"})
    assert found.status_code == 200, found.text
    assert found.json() == {"SoPhatHanh": "CY 000123", "DienTich": 152.5, "ThuaDatSo": "125"}
    seen = world.justice.recipient.requests
    assert [(q.method, q.path) for q in seen] == [
        ("GET", "/ho-so/123"),
        ("GET", "/land/certificates/CY 000123"),
    ]
    assert seen[1].headers["x-lgsp-caller"] == ONE_STOP

    responses = world.log("call.response")
    assert [e.detail["status_code"] for e in responses] == [200, 200]
    assert responses[0].detail["captures"][0]["body"].startswith("GET http://")
    assert '"ThuaDatSo":"125"' in responses[1].detail["captures"][1]["body"]


def test_refused_calls_reach_no_provider_and_log_nothing(world: World) -> None:
    no_scope = world.call(
        LOOKUP, {"SoPhatHanh": "CY 000123"}, headers=world.live.auth(ONE_STOP, "messages:send")
    )
    assert_problem(no_scope, 403, "insufficient-scope")
    # The IOC holds services:call but no grant for the land registry.
    not_granted = world.call(LOOKUP, {"SoPhatHanh": "CY 000123"}, agency=IOC)
    assert_problem(not_granted, 403, "not-granted")
    assert_problem(world.call(f"{JUSTICE_CALL}/KhongCo", {}), 404, "not-found")
    assert_problem(world.call("/v1/services/000.99.99.H56/LookupCertificate", {}), 404, "not-found")

    # Three faults at once: a bad phone number, a wrong type and an unknown field.
    invalid = world.call(
        f"{JUSTICE_CALL}/GuiTinNhan", {"phone": "12ab", "content": 5, "GuiLuc": "now"}
    )
    problem = assert_problem(invalid, 422, "validation-failed")
    errors: list[dict[str, Any]] = problem["errors"]
    assert {(e["pointer"], e["keyword"]) for e in errors} >= {
        ("/phone", "format"),
        ("/content", "type"),
    }, errors
    assert any("GuiLuc" in e["message"] or e["pointer"] == "/GuiLuc" for e in errors), errors

    assert world.land_hits() == 0 and world.justice.recipient.requests == []
    assert world.log("call.request", "call.response") == []

    valid = world.call(
        f"{JUSTICE_CALL}/GuiTinNhan",
        {
            "phone": "0912345678",
            "content": "Hồ sơ đã có kết quả",
            "MaHoSo": f"{ONE_STOP}-261126-0001",
        },
    )
    assert valid.status_code == 201, valid.text
    assert world.justice.recipient.requests[0].path == "/sms"


def test_provider_failures_become_problems_and_later_calls_work(world: World) -> None:
    land, rest = world.land.service, world.justice.recipient

    land.script("slow", delay=3.0)
    timeout = assert_problem(
        world.call(LOOKUP, {"SoPhatHanh": "CY 000123"}), 504, "upstream-timeout"
    )
    assert "did not answer" in timeout["detail"]

    land.script("http_503")
    unavailable = assert_problem(
        world.call(LOOKUP, {"SoPhatHanh": "CY 000123"}), 502, "upstream-error"
    )
    assert unavailable["upstream_status"] == 503

    rest.script("error")
    assert_problem(world.call(f"{JUSTICE_CALL}/Echo"), 502, "upstream-error")

    # A provider's 4xx is the caller's to fix: passed on with the provider's reply.
    rest.script("reject")
    rejected = assert_problem(world.call(f"{JUSTICE_CALL}/Echo"), 422, "upstream-rejected")
    assert rejected["upstream_status"] == 422
    assert "MaHoSo is missing" in rejected["upstream_reply"]
    unknown = world.call(f"{JUSTICE_CALL}/TraCuuGCN", {"SoPhatHanh": "XX 1"})
    assert assert_problem(unknown, 404, "upstream-rejected")["upstream_reply"]

    # A SOAP Client fault: the provider refuses the content.
    land.script("client_fault")
    fault = assert_problem(world.call(LOOKUP, {"SoPhatHanh": "CY 000123"}), 502, "upstream-error")
    assert "thiếu MaHoSoMotCua" in fault["upstream_reply"]

    # An answer that breaks the service's response schema is not passed on.
    broken = world.call(f"{JUSTICE_CALL}/TraCuuGCNChuan", {"SoPhatHanh": "CY 000123"})
    problem = assert_problem(broken, 502, "upstream-error")
    assert "land-certificate/1" in problem["detail"]
    assert ("/MaXa", "required") in {(e["pointer"], e["keyword"]) for e in problem["errors"]}

    ok = world.call(LOOKUP, {"SoPhatHanh": "CY 000123"})
    assert ok.status_code == 200 and ok.json()["Found"] is True
    assert world.call(f"{JUSTICE_CALL}/Echo").status_code == 200

    responses = world.log("call.response")
    assert [e.detail["status_code"] for e in responses] == [
        None,  # timed out: no answer
        503,
        500,
        422,
        404,
        500,  # SOAP 1.1 sends faults with 500
        200,
        200,
        200,
    ]
    assert all(e.detail["error"] for e in responses[:7])
    assert "did not answer" in responses[0].detail["error"]
    assert responses[1].detail["captures"][1]["body"] == "maintenance"


@pytest.mark.fault
def test_malicious_soap_replies_are_refused_and_the_platform_carries_on(world: World) -> None:
    land = world.land.service
    for behaviour in ("xml_bomb", "xxe", "xxe_utf16"):
        land.script(behaviour)
        r = world.call(LOOKUP, {"SoPhatHanh": "CY 000123"})
        problem = assert_problem(r, 502, "upstream-error")
        assert "unsafe XML" in problem["detail"], problem
        assert "lol" not in r.text and "root:" not in r.text
        assert world.call(LOOKUP, {"SoPhatHanh": "CY 000124"}).status_code == 200
    assert land.external_fetches == 0
    responses = world.log("call.response")
    assert len(responses) == 6
    for entry in responses[0::2]:
        assert "unsafe XML" in entry.detail["error"]
        assert entry.detail["captures"][-1]["direction"] == "response"


def test_a_request_that_does_not_fit_the_operation_is_the_callers_to_fix(world: World) -> None:
    # Refused before anything is sent: 422 for the caller, not 502 blaming the provider. The
    # sample service's request schema answers first ...
    for body in ({"Khac": "1"}, None, ["CY 000123"], {"SoPhatHanh": {"a": 1}}):
        assert_problem(world.call(LOOKUP, body), 422, "validation-failed")
    # ... and where a service has no schema, the adapter's own check does.
    raw = f"/v1/services/{LAND_REGISTRY}/LookupCertificateRaw"
    for body, words in (
        ({"Khac": "1"}, "unexpected keyword argument 'Khac'"),
        (None, "Missing element SoPhatHanh"),
        (["CY 000123"], "JSON object"),
        ({"SoPhatHanh": {"a": 1}}, "does not fit the operation"),
    ):
        r = world.call(raw, body)
        problem = assert_problem(r, 422, "unfit-request")
        assert words in problem["detail"], problem
        assert "unexpected ValueError" not in r.text
    missing = world.call(f"{JUSTICE_CALL}/TraCuuGCN", {})
    assert "{SoPhatHanh}" in assert_problem(missing, 422, "unfit-request")["detail"]
    assert world.land_hits() == 0 and world.justice.recipient.requests == []
    assert len(world.log("call.response")) == 5
    # The provider is not to blame, so its circuit stays closed.
    assert world.call(LOOKUP, {"SoPhatHanh": "CY 000123"}).status_code == 200
