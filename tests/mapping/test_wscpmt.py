"""Acceptance: a Viettel-style SOAP SMS gateway (``wsCpMt``) the project has no adapter for,
connected through the province configuration alone: the generic SOAP adapter with a
declarative mapping (constants from the environment, the phone turned into 84..., one value into
two parameters, MaHoSo dropped) and a success test on the reply (0 is not delivered)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from tests.mapping.gateway import Gateway, serve_gateway
from tests.mediation.province import SMS_GATEWAY, Province
from tests.support.platform import ONE_STOP, LivePlatform, live_platform

REFUSED = "84900000000"


def gateway_endpoint(wsdl: str, failure: Literal["permanent", "retriable"]) -> dict[str, Any]:
    """The endpoint as an integrator writes it in agencies.yaml."""
    phone = {"from": "/phone", "transform": ["phone_84"]}
    return {
        "mode": "push",
        "adapter": "soap",
        "settings": {
            "wsdl": wsdl,
            "operation": "wsCpMt",
            "mapping": {
                "fields": {
                    "User": {"const": "${SMS_GW_USER}"},
                    "Password": {"const": "${SMS_GW_PASSWORD}"},
                    "CPCode": {"const": "HALAM"},
                    "RequestID": {"context": "message_id"},
                    "UserID": phone,
                    "ReceiverID": phone,
                    "ServiceID": {"const": "HaLam"},
                    "CommandCode": {"const": "bulksms"},
                    "Content": {"from": "/content", "transform": ["strip_diacritics"]},
                    "ContentType": {"const": "0"},
                },
                "success": {"pointer": "/result", "equals": 1, "failure": failure},
            },
        },
        "timeout_seconds": 5,
    }


def sms(phone: str) -> dict[str, Any]:
    return {
        "type": "sms-notification",
        "payload": {
            "phone": phone,
            "content": "Hồ sơ 000.00.01.H56-261126-0001 đã có kết quả",
            "MaHoSo": "000.00.01.H56-261126-0001",
        },
    }


def send(live: LivePlatform, message: dict[str, Any]) -> str:
    with live.http() as http:
        r = http.post("/v1/messages", json=message, headers=live.auth(ONE_STOP))
    assert r.status_code == 202, r.text
    message_id: str = r.json()["id"]
    return message_id


def recipient(live: LivePlatform, message_id: str) -> dict[str, Any]:
    with live.http() as http:
        r = http.get(f"/v1/messages/{message_id}", headers=live.auth(ONE_STOP))
    assert r.status_code == 200, r.text
    [status] = r.json()["recipients"]
    assert status["agency"] == SMS_GATEWAY
    found: dict[str, Any] = status
    return found


def wait_state(live: LivePlatform, message_id: str, *states: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        status = recipient(live, message_id)
        if status["state"] in states:
            return status
        assert time.monotonic() < deadline, f"still {status}"
        time.sleep(0.1)


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Gateway, str]]:
    monkeypatch.setenv("SMS_GW_USER", "halam-cp")
    monkeypatch.setenv("SMS_GW_PASSWORD", "gw-secret-9f3a")
    gw = Gateway(refuse={REFUSED})
    with serve_gateway(gw) as wsdl:
        yield gw, wsdl


def province(tmp_path: Path, wsdl: str, failure: Literal["permanent", "retriable"]) -> Path:
    p = Province(tmp_path)
    p.endpoint(SMS_GATEWAY).clear()
    p.endpoint(SMS_GATEWAY).update(gateway_endpoint(wsdl, failure))
    return p.save()


def test_the_gateway_is_connected_by_configuration_alone(
    database_url: str, tmp_path: Path, gateway: tuple[Gateway, str]
) -> None:
    gw, wsdl = gateway
    config = province(tmp_path, wsdl, "permanent")
    with live_platform(database_url, config_dir=config, inprocess_workers=True) as live:
        ok = send(live, sms("0912345678"))
        refused = send(live, sms("+84900000000"))
        assert wait_state(live, ok, "delivered", "dead")["state"] == "delivered"
        dead = wait_state(live, refused, "delivered", "dead")
    # A 0 from the gateway is not a delivery: configured permanent, so dead-lettered at once.
    assert dead["state"] == "dead" and dead["attempts"] == 1
    assert "/result is 0" in dead["last_error"]

    by_receiver = {r["ReceiverID"]: r for r in gw.received}
    assert set(by_receiver) == {"84912345678", REFUSED}
    sent = by_receiver["84912345678"]
    assert sent == {
        "User": "halam-cp",
        "Password": "gw-secret-9f3a",
        "CPCode": "HALAM",
        "RequestID": ok,
        "UserID": "84912345678",
        "ReceiverID": "84912345678",
        "ServiceID": "HaLam",
        "CommandCode": "bulksms",
        "Content": "Ho so 000.00.01.H56-261126-0001 da co ket qua",
        "ContentType": "0",
    }
    # MaHoSo is not a parameter of the gateway: dropped, nowhere in what was sent.
    assert all("MaHoSo" not in r for r in gw.received)


def test_a_refusal_configured_retriable_is_retried(
    database_url: str, tmp_path: Path, gateway: tuple[Gateway, str]
) -> None:
    gw, wsdl = gateway
    config = province(tmp_path, wsdl, "retriable")
    with live_platform(
        database_url, config_dir=config, inprocess_workers=True, retry_base_seconds=0.2
    ) as live:
        message_id = send(live, sms("+84900000000"))
        deadline = time.monotonic() + 30
        while len(gw.received) < 2:
            assert time.monotonic() < deadline, gw.received
            time.sleep(0.1)
        status = recipient(live, message_id)
        assert status["state"] in ("retrying", "pending"), status
        assert "/result is 0" in (status["last_error"] or "")
        gw.refuse.clear()  # the gateway takes it now
        assert wait_state(live, message_id, "delivered", "dead")["state"] == "delivered"
