"""Redirects and oversized replies from providers, through every adapter that makes mediated
calls. A hostile provider answers 307 towards another real server (which records whatever
reaches it) or streams a reply far larger than the endpoint allows. The platform follows no
redirect (the SOAP envelope, the portal login and the REST credentials stay home), reads no
more than its cap, and answers the caller with a 502 problem."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from lgsp_adapters.base import Capture, PermanentError
from lgsp_adapters.dvcqg.client import PortalClient
from lgsp_testkit.rest_recipient import RestRecipient, serve_rest_recipient
from lgsp_testkit.servers import serve_asgi
from lgsp_testkit.soap_service import serve_land_registry

from tests.mediation.conftest import World, assert_problem, mediation_province
from tests.mediation.province import JUSTICE, LAND_REGISTRY, Province
from tests.support.platform import live_platform

NORTH_BRANCH = "001.01.12.H56"
SOUTH_BRANCH = "002.01.12.H56"
IOC = "000.01.13.H56"
PORTAL = "000.00.00.G22"
CAP = 64 * 1024
BIG = 20 * 1024 * 1024


@dataclass
class Recorder:
    """An ASGI server's memory: every request that reached it (method, path, body)."""

    requests: list[tuple[str, str, bytes]] = field(default_factory=list)


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _record(scope: Any, receive: Any, recorder: Recorder) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    target = scope["path"] + ("?" + scope["query_string"].decode() if scope["query_string"] else "")
    recorder.requests.append((scope["method"], target, body))


def sink_app(recorder: Recorder) -> Any:
    """Where a redirect points: it would answer anything happily."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await _lifespan(receive, send)
        await _record(scope, receive, recorder)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b'{"error_code": 0}'})

    return app


def hostile_app(recorder: Recorder, sink_url: str) -> Any:
    """``/redirect/...`` answers 307 to the same path on the sink; ``/big/...`` streams 20 MB."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await _lifespan(receive, send)
        await _record(scope, receive, recorder)
        path: str = scope["path"]
        if path.startswith("/redirect"):
            location = sink_url + path.removeprefix("/redirect")
            if scope["query_string"]:
                location += "?" + scope["query_string"].decode()
            headers = [(b"location", location.encode()), (b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 307, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/xml; charset=utf-8")],
            }
        )
        chunk = b"<x>" + b"A" * (64 * 1024 - 7) + b"</x>"
        for _ in range(BIG // len(chunk)):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


@dataclass
class Hostile:
    world: World
    hostile: Recorder
    sink: Recorder


def hostile_edits(land_wsdl: str, hostile_url: str) -> Callable[[Province], None]:
    def edit(province: Province) -> None:
        land_registry = province.endpoint(LAND_REGISTRY)
        land_registry["settings"]["endpoint"] = hostile_url + "/redirect/land-registry"
        north = province.endpoint(NORTH_BRANCH)
        north["settings"]["wsdl"] = hostile_url + "/redirect/land-registry?wsdl"
        south = province.endpoint(SOUTH_BRANCH)
        south["settings"].update(
            wsdl=land_wsdl, endpoint=hostile_url + "/big/land-registry", max_reply_bytes=CAP
        )
        province.endpoint(JUSTICE)["settings"]["url"] = hostile_url + "/redirect/api"
        ioc = province.endpoint(IOC)["settings"]
        ioc.update(url=hostile_url + "/big/api", max_reply_bytes=CAP)
        province.endpoint(PORTAL)["settings"]["base_url"] = hostile_url + "/redirect/portal"
        for provider in (NORTH_BRANCH, SOUTH_BRANCH):
            province.add_service(provider, "LookupCertificate", operation={})
        province.add_service(IOC, "Echo", operation={"method": "GET"})
        province.add_grant(
            agency="@reception", call=[f"{NORTH_BRANCH}/*", f"{SOUTH_BRANCH}/*", f"{IOC}/*"]
        )

    return edit


@pytest.fixture
def hostile(database_url: str, tmp_path: Path) -> Iterator[Hostile]:
    sink, bad = Recorder(), Recorder()
    with (
        serve_asgi(sink_app(sink)) as sink_url,
        serve_asgi(hostile_app(bad, sink_url)) as hostile_url,
        serve_land_registry() as land,
        serve_rest_recipient(RestRecipient()) as justice,
    ):
        edit = hostile_edits(land.wsdl_url, hostile_url)
        config = mediation_province(tmp_path, land, justice, edit=edit)
        with live_platform(database_url, config_dir=config) as live:
            yield Hostile(World(live, land, justice), bad, sink)


def test_no_adapter_follows_a_redirect(hostile: Hostile) -> None:
    world = hostile.world
    calls = [
        # SOAP envelope POSTed to an endpoint that answers 307.
        (f"/v1/services/{LAND_REGISTRY}/LookupCertificate", {"SoPhatHanh": "CY 000123"}),
        # A WSDL fetch answered with 307.
        (f"/v1/services/{NORTH_BRANCH}/LookupCertificate", {"SoPhatHanh": "CY 000123"}),
        # REST.
        (f"/v1/services/{JUSTICE}/Echo", None),
        # The national portal: its login (username and password) answered with 307.
        (f"/v1/services/{PORTAL}/TraCuuHoSo", {"MaHoSo": "000.00.01.H56-261126-0001"}),
    ]
    for path, body in calls:
        problem = assert_problem(world.call(path, body), 502, "upstream-error")
        assert "307" in problem["detail"] or "redirect" in problem["detail"], problem
    assert hostile.sink.requests == []
    reached = [(method, target) for method, target, _ in hostile.hostile.requests]
    assert reached == [
        ("POST", "/redirect/land-registry"),
        ("GET", "/redirect/land-registry?wsdl"),
        ("GET", "/redirect/api"),
        ("POST", "/redirect/portal/auth"),
    ]
    assert b"CY 000123" in hostile.hostile.requests[0][2]
    assert world.land_hits() == 0 and world.justice.recipient.requests == []


def test_replies_are_read_with_a_cap(hostile: Hostile) -> None:
    world = hostile.world
    for path, body in (
        (f"/v1/services/{SOUTH_BRANCH}/LookupCertificate", {"SoPhatHanh": "CY 000123"}),
        (f"/v1/services/{IOC}/Echo", None),
    ):
        problem = assert_problem(world.call(path, body), 502, "upstream-error")
        assert f"larger than {CAP} bytes" in problem["detail"], problem
    assert [target for _, target, _ in hostile.hostile.requests] == [
        "/big/land-registry",
        "/big/api",
    ]


def test_the_portal_client_reads_with_a_cap_and_follows_no_redirect() -> None:
    sink, bad = Recorder(), Recorder()
    with serve_asgi(sink_app(sink)) as sink_url, serve_asgi(hostile_app(bad, sink_url)) as url:
        for base, words in ((url + "/big", "larger than"), (url + "/redirect", "HTTP 307")):
            client = PortalClient(
                base_url=base,
                auth_path="/auth",
                integration_path="/integration",
                username="lgsp",
                password="portal-password",
                agency_code="000.00.00.H56",
                timeout=10,
                login_retry_after=0,
                max_reply_bytes=CAP,
            )
            captures: list[Capture] = []
            with pytest.raises(PermanentError, match=words):
                client.invoke("TraCuuHoSo", {"MaHoSo": "x"}, captures)
            client.close()
    assert sink.requests == []
    assert [target for _, target, _ in bad.requests] == ["/big/auth", "/redirect/auth"]
