"""Hostile XML at every place the platform could read XML: entities, external entities, a DTD,
a billion laughs. The API takes JSON only, so XML bodies are refused before anything is read or
stored; SOAP WSDLs are refused when they declare a DTD, unexpanded.

SOAP replies (deliveries and mediated calls) are the other XML entry point; their tests live with
the adapter and the mediation tests and are not repeated here:
tests/adapters/test_soap.py::test_malicious_reply_refused_unexpanded (bomb, XXE, UTF-16 XXE),
tests/adapters/test_soap.py::test_a_dtd_without_entities_is_refused_even_where_byte_checks_miss_it,
tests/adapters/test_soap.py::test_the_parser_policy_for_replies,
tests/adapters/test_soap.py::test_remote_wsdl_may_not_reach_local_files,
tests/mediation/test_calls.py::test_malicious_soap_replies_are_refused_and_the_platform_carries_on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lgsp_adapters import registry
from lgsp_adapters.base import AdapterError
from lgsp_testkit import serve_asgi
from lgsp_testkit.contract import envelope
from lgsp_testkit.soap_service import WSDL_PATH
from sqlalchemy import func, select

from lgsp.deliveries.models import Delivery
from lgsp.exchange.models import Message
from lgsp.messagelog.models import LogEntry
from tests.api.test_accept import assert_problem
from tests.support.platform import ONE_STOP, TNMT, LivePlatform, live_platform

LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'.encode()
        for i in range(1, 10)
    )
    + b"]>\n<lolz>&lol9;</lolz>"
)
XXE = b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<r>&x;</r>'
DOCUMENTS = {"billion laughs": LAUGHS, "external entity": XXE}
# Every entry point that takes a body.
ENTRY_POINTS = [
    "/v1/messages",
    f"/v1/services/{TNMT}/TraCuuHoSo",
    "/v1/schemas/dossier/validate",
    "/v1/admin/dead-letters/replay",
]


@pytest.fixture
def live(database_url: str) -> Iterator[LivePlatform]:
    with live_platform(database_url) as live:
        live.token(ONE_STOP)
        yield live


def footprint(live: LivePlatform) -> tuple[Any, ...]:
    with live.platform.sessions() as s:
        return (
            s.scalar(select(func.count()).select_from(Message)),
            s.scalar(select(func.count()).select_from(Delivery)),
            s.scalar(select(func.max(LogEntry.id))),
        )


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_the_api_takes_no_xml(live: LivePlatform, name: str) -> None:
    headers = {
        **live.auth(ONE_STOP, "messages:send services:call schemas:validate admin"),
        "Content-Type": "application/xml",
    }
    before = footprint(live)
    with live.http() as http:
        for path in ENTRY_POINTS:
            r = http.post(path, content=DOCUMENTS[name], headers=headers)
            assert r.status_code in (400, 415), (path, r.status_code, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert "lollol" not in r.text and "root:" not in r.text
        # Declared as JSON, it is not JSON: refused the same way, nothing read into anything.
        r = http.post(
            "/v1/messages",
            content=DOCUMENTS[name],
            headers={**headers, "Content-Type": "application/json"},
        )
        assert_problem(r, 400, "malformed-body")
    assert footprint(live) == before


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_a_hostile_wsdl_is_refused_unexpanded(name: str) -> None:
    """A WSDL that declares a DTD: the adapter refuses it and expands nothing."""
    wsdl = WSDL_PATH.read_bytes()
    doctype = DOCUMENTS[name].split(b"]>", 1)[0] + b"]>"
    hostile = wsdl.replace(b"?>", b"?>" + doctype.split(b"?>", 1)[1], 1)
    assert b"<!DOCTYPE" in hostile
    fetched: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        fetched.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": hostile})

    with serve_asgi(app) as base_url:
        adapter = registry.build(
            "soap",
            {"wsdl": base_url + "/evil?wsdl", "operation": "ReceiveDossier"},
            agency_code="000.00.01.H22",
            timeout=2.0,
        )
        with pytest.raises(AdapterError) as caught:
            adapter.deliver(envelope({"MaHoSoMotCua": "x"}))
    text = caught.value.reason + " ".join(c.body or "" for c in caught.value.captures)
    assert "lollol" not in text and "root:" not in text
    assert fetched and all(p == "/evil" for p in fetched)  # nothing else was fetched
