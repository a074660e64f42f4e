"""Path traversal through mediated calls: the caller's sub-path and query steer a request the
platform makes with its own credentials for the provider, so nothing may take that request
outside the service's address. The provider is a real HTTP server that records every request;
each refusal is checked there (nothing arrived) and in the message log (nothing was called)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from lgsp_testkit.rest_recipient import RestRecipient, serve_rest_recipient
from lgsp_testkit.soap_service import serve_land_registry

from lgsp.mediation.paths import UnsafeSubPath, check_sub_path, split_raw
from tests.mediation.conftest import World, assert_problem, mediation_province
from tests.mediation.province import JUSTICE
from tests.support.platform import ONE_STOP, live_platform

RECORDS = f"/v1/services/{JUSTICE}/HoSo"
SMS_LOOKUP = f"/v1/services/{JUSTICE}/TraCuuTinNhan"


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    """The Department of Justice's API lives under /api on its server; everything outside it
    (here /admin/users) is what an attacker would aim at."""
    with serve_land_registry() as land, serve_rest_recipient(RestRecipient()) as justice:
        config = mediation_province(tmp_path, land, justice, justice_path="/api")
        _add_services(config)
        with live_platform(database_url, config_dir=config) as live:
            yield World(live, land, justice)


def _add_services(config: Path) -> None:
    import yaml

    path = config / "services.yaml"
    data = yaml.safe_load(path.read_text("utf-8"))
    data["services"] += [
        {
            "provider": JUSTICE,
            "name": "HoSo",
            "operation": {
                "method": "GET",
                "path": "/records",
                "sub_paths": ["/{id}", "/{id}/history"],
            },
        },
        {
            "provider": JUSTICE,
            "name": "TraCuuTinNhan",
            "operation": {"method": "GET", "path": "/sms/{phone}"},
            "request_schema": "sms-notification/1",
        },
    ]
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")


def raw_post(world: World, target: str, body: Any = None) -> tuple[int, dict[str, Any], str]:
    """A request with exactly this target on the wire (an HTTP library would normalise dot
    segments and backslashes before sending, which is not what an attacker's client does)."""
    url = urlsplit(world.live.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
    try:
        data = json.dumps(body).encode() if body is not None else b""
        headers = {**world.auth(ONE_STOP), "Content-Type": "application/json"}
        conn.putrequest("POST", target, skip_accept_encoding=True)
        for key, value in {**headers, "Content-Length": str(len(data))}.items():
            conn.putheader(key, value)
        conn.endheaders(data)
        response = conn.getresponse()
        text = response.read().decode()
        return response.status, dict(response.getheaders()), text
    finally:
        conn.close()


def assert_raw_problem(
    answer: tuple[int, dict[str, Any], str], status: int, slug: str
) -> dict[str, Any]:
    code, headers, text = answer
    assert code == status, text
    assert headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = json.loads(text)
    assert problem["type"].endswith("/" + slug), problem
    return problem


def assert_nothing_called(world: World) -> None:
    assert world.justice.recipient.requests == []
    assert world.log("call.request", "call.response") == []


UNSAFE = [
    # The reported attack: encoded slashes and query, dot segments climbing out of /api.
    "/..%2F..%2F..%2Fadmin%2Fusers%3Frole%3Dall",
    "/1/../../../admin/users",
    "/%2e%2e/%2E%2E/admin",
    "/..",
    "/.",
    "/1/%2E",
    "/..%5Cadmin",
    "/1\\..\\admin",
    "/1%23fragment",
    "/1%3Frole=all",
    "/1%00",
    "/1//history",
]


def test_unsafe_sub_paths_are_refused_before_the_provider(world: World) -> None:
    for sub_path in UNSAFE:
        answer = raw_post(world, RECORDS + sub_path)
        assert_raw_problem(answer, 400, "unsafe-sub-path")
    assert_nothing_called(world)


def test_only_declared_sub_paths_reach_the_provider_each_segment_encoded(world: World) -> None:
    for sub_path in ("/1/secret", "/1/history/more", "/admin"):
        # "/admin" matches "/{id}": allowed, but lands under /api/records, never at /admin.
        if sub_path == "/admin":
            continue
        assert_raw_problem(raw_post(world, RECORDS + sub_path), 404, "undeclared-sub-path")
    assert_nothing_called(world)

    ok = world.call(RECORDS + "/H56-001%20a/history?trang=2")
    assert ok.status_code == 200, ok.text
    assert ok.json()["path"] == "/api/records/H56-001 a/history"
    again = world.call(RECORDS + "/admin")
    assert again.json()["path"] == "/api/records/admin"
    seen = world.justice.recipient.requests
    assert [r.path for r in seen] == ["/api/records/H56-001 a/history", "/api/records/admin"]
    assert seen[0].query == {"trang": "2"}

    # A service that declares no sub-path takes none.
    none = world.call(f"/v1/services/{JUSTICE}/TraCuuGCN/extra", {"SoPhatHanh": "CY 000123"})
    assert_problem(none, 404, "undeclared-sub-path")
    assert len(world.justice.recipient.requests) == 2


def test_query_values_do_not_bypass_the_request_schema(world: World) -> None:
    # The query once filled {phone} after the body had been validated: "../../admin" passed.
    sneaked = world.call(
        SMS_LOOKUP + "?phone=..%2F..%2Fadmin", {"phone": "0912345678", "content": "x"}
    )
    assert_problem(sneaked, 400, "bad-request")
    invalid = world.call(SMS_LOOKUP + "?phone=..%2F..%2Fadmin", {"content": "x"})
    problem = assert_problem(invalid, 422, "validation-failed")
    assert ("/phone", "format") in {(e["pointer"], e["keyword"]) for e in problem["errors"]}
    assert_nothing_called(world)

    ok = world.call(SMS_LOOKUP + "?phone=0912345678", {"content": "x"})
    assert ok.status_code == 200, ok.text
    assert world.justice.recipient.requests[0].path == "/api/sms/0912345678"


def test_a_placeholder_value_cannot_climb_out_either(world: World) -> None:
    # No schema on TraCuuGCN: the adapter itself refuses a dot segment for {SoPhatHanh}.
    r = world.call(f"/v1/services/{JUSTICE}/TraCuuGCN", {"SoPhatHanh": ".."})
    assert_problem(r, 422, "unfit-request")
    assert world.justice.recipient.requests == []


def test_sub_path_rules() -> None:
    operation = {"sub_paths": ["/records/{id}"]}
    assert check_sub_path("/records/a%20b", operation, "x").encoded == "/records/a%20b"
    assert check_sub_path("/records/%C4%91", operation, "x").values == {"id": "đ"}
    assert split_raw("") == () and split_raw("/") == ()
    unsafe = ("/a/%2fb", "/a/%5C", "/a/.", "/%2e%2E", "/a?b", "/a#b", "/a\\b", "/%ff", "/a%0d")
    for bad in unsafe:
        with pytest.raises(UnsafeSubPath):
            split_raw(bad)
