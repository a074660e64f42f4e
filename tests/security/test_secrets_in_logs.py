"""Credentials the platform sends to providers must not reach the message log, which is sealed:
a secret written there cannot be removed without breaking verification. What the log keeps of an
exchange is the adapters' captures, so each adapter's captures are checked for every kind of
credential it sends."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from lgsp_adapters import registry
from lgsp_adapters.base import CallRequest, Capture
from lgsp_testkit.contract import envelope
from lgsp_testkit.rest_recipient import RestRecipient, serve_rest_recipient
from lgsp_testkit.soap_service import LandRegistryService, serve_land_registry

SECRET = "s3cret-Value-9"
REST_AUTH: dict[str, dict[str, Any]] = {
    "bearer": {"type": "bearer", "token": SECRET},
    "basic": {"type": "basic", "username": "lgsp", "password": SECRET},
    "header": {"type": "header", "name": "access_token", "value": SECRET},
}


def leaked(captures: list[Capture]) -> bool:
    encoded = base64.b64encode(f"lgsp:{SECRET}".encode()).decode()
    text = " ".join((c.body or "") + c.content_type for c in captures)
    return SECRET in text or encoded in text


@pytest.mark.parametrize("kind", list(REST_AUTH))
def test_rest_credentials_stay_out_of_captures(kind: str) -> None:
    with serve_rest_recipient(RestRecipient()) as running:
        adapter = registry.build(
            "rest",
            {"url": running.base_url, "auth": REST_AUTH[kind]},
            agency_code="000.00.16.H56",
            timeout=5.0,
        )
        # A mediated call: its request and reply are captured into the log.
        result = adapter.call(
            CallRequest("Echo", {"method": "POST", "path": "/records"}, {"q": 1}, "H56", "r1")
        )
    assert len(result.captures) == 2 and not leaked(result.captures)


@pytest.mark.parametrize("digest", [False, True])
def test_ws_security_passwords_stay_out_of_captures(digest: bool) -> None:
    service = LandRegistryService(username="lgsp", password=SECRET)
    with serve_land_registry(service) as running:
        adapter = registry.build(
            "soap",
            {
                "wsdl": running.wsdl_url,
                "operation": "ReceiveDossier",
                "payload_param": "Dossier",
                "envelope_params": {
                    "MessageId": "message_id",
                    "MessageType": "type",
                    "Sender": "sender",
                    "CorrelationId": "correlation_id",
                },
                "ws_security": {"username": "lgsp", "password": SECRET, "digest": digest},
            },
            agency_code="000.00.12.H56",
            timeout=5.0,
        )
        message = envelope(
            {
                "SoBienNhan": "BN00007",
                "MaHoSoMotCua": "000.00.01.H56-261126-0007",
                "NguoiTiepNhan": "Phạm Thị Dung",
                "NgayTiepNhan": "20261126083000",
                "NgayHenTra": "20261210170000",
                "XaId": "26734",
                "ThongTinNguoiNopDon": {"HoTen": "Nguyễn Văn An", "SoChungMinh": "079203001234"},
                "ThongTinQuyTrinh": {"MaQuyTrinh": "QT-DK-01", "TenQuyTrinh": "Đăng ký lần đầu"},
                "ThongTinThuaDat": [{"SoThuTuThua": "125", "SoHieuBanDo": "18", "DienTich": "1"}],
            }
        )
        result = adapter.deliver(message)
    assert service.received_message_ids() == [message.message_id]  # it did authenticate
    assert result.captures and not leaked(result.captures)
    assert not any("Password" in (c.body or "") for c in result.captures)
