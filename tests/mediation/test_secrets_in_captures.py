"""No credential reaches the sealed message log through a capture, on any adapter: a SOAP
provider behind WS-Security (the password would sit in the captured envelope), a REST provider
given password and token fields, the national portal (its login carries the account's password,
its reply the session) and the memory adapter. Every test reads the log rows themselves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from lgsp_adapters.base import Capture, DeliveryResult, PermanentError
from lgsp_sims.dvcqg.portal_state import DEFAULT_PASSWORD
from lgsp_sims.dvcqg.simulator import PortalState, create_app
from lgsp_testkit.rest_recipient import RestRecipient, serve_rest_recipient
from lgsp_testkit.servers import serve_asgi
from lgsp_testkit.soap_service import LandRegistryService, serve_land_registry

from tests.mediation.conftest import LOOKUP, World, mediation_province
from tests.mediation.province import JUSTICE, LAND_REGISTRY, Province
from tests.support.platform import live_platform

WS_PASSWORD = "ws-Pa55word-of-the-land-registry"
REST_SECRET = "rest-secret-value-42"
PORTAL = "000.00.00.G22"
IOC = "000.01.13.H56"


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    land_service = LandRegistryService(username="lgsp", password=WS_PASSWORD)
    with (
        serve_land_registry(land_service) as land,
        serve_rest_recipient(RestRecipient()) as justice,
        serve_asgi(create_app(PortalState())) as portal_url,
    ):

        def edit(province: Province) -> None:
            province.endpoint(LAND_REGISTRY)["settings"]["ws_security"] = {
                "username": "lgsp",
                "password": WS_PASSWORD,
            }
            province.endpoint(PORTAL)["settings"]["base_url"] = portal_url
            province.endpoint(IOC).update(adapter="memory", settings={})
            province.add_service(JUSTICE, "DangKy", operation={"method": "POST", "path": "/reg"})
            province.add_service(IOC, "Echo")
            province.add_grant(agency="@reception", call=[f"{IOC}/*"])

        config = mediation_province(tmp_path, land, justice, edit=edit)
        with live_platform(database_url, config_dir=config) as live:
            yield World(live, land, justice)


def logged_text(world: World) -> str:
    """Every call entry of the log, as stored."""
    entries = world.log("call.request", "call.response")
    assert entries, "nothing was logged"
    return "\n".join(orjson.dumps(e.detail).decode() for e in entries)


def test_soap_ws_security_is_not_logged(world: World) -> None:
    ok = world.call(LOOKUP, {"SoPhatHanh": "CY 000123"})
    assert ok.status_code == 200, ok.text
    # The password did go over the wire (the service checks it) ...
    assert WS_PASSWORD.encode() in world.land.service.received[0].envelope
    world.land.service.script("client_fault")
    assert world.call(LOOKUP, {"SoPhatHanh": "CY 000123"}).status_code == 502
    text = logged_text(world)
    # ... and is nowhere in the log, while the rest of the envelope is.
    assert WS_PASSWORD not in text
    assert "Security>[redacted]</" in text and "CY 000123" in text


def test_rest_password_and_token_fields_are_not_logged(world: World) -> None:
    r = world.call(
        f"/v1/services/{JUSTICE}/DangKy?access_token={REST_SECRET}",
        {"username": "can-bo", "password": REST_SECRET, "auth": {"client_secret": REST_SECRET}},
    )
    assert r.status_code == 201, r.text
    received = world.justice.recipient.requests[0]
    assert received.body["password"] == REST_SECRET and received.query["access_token"]
    text = logged_text(world)
    assert REST_SECRET not in text
    assert "can-bo" in text


def test_portal_login_and_session_are_not_logged(world: World) -> None:
    # The portal knows no such dossier; what matters here is what was logged on the way.
    world.call(f"/v1/services/{PORTAL}/TraCuuHoSo", {"MaHoSo": "000.00.01.H56-261126-0001"})
    [response] = world.log("call.response")
    bodies = [c["body"] for c in response.detail["captures"]]
    login, login_reply = bodies[0], bodies[1]
    assert '"password": "[redacted]"' in login and '"session":"[redacted]"' in login_reply
    assert DEFAULT_PASSWORD not in logged_text(world)


def test_memory_calls_log_no_secret(world: World) -> None:
    r = world.call(f"/v1/services/{IOC}/Echo", {"password": REST_SECRET})
    assert r.status_code == 200 and r.json()["payload"]["password"] == REST_SECRET
    assert REST_SECRET not in logged_text(world)


def test_every_capture_and_reply_is_redacted_when_made() -> None:
    # What a plug-in adapter makes is redacted too, since the contract's types do it.
    head = f"POST /x\nAuthorization: Bearer {REST_SECRET}\nCookie: sid={REST_SECRET}\n"
    assert REST_SECRET not in (Capture("request", "text/plain", head).body or "")
    assert REST_SECRET not in (DeliveryResult(reply=f'{{"token": "{REST_SECRET}"}}').reply or "")
    error = PermanentError("x", reply=f"<Password>{REST_SECRET}</Password>")
    assert error.reply == "<Password>[redacted]</Password>"
