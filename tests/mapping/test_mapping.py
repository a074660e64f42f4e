"""The declarative mapping's rules, and the REST adapter driven by it against a real server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from lgsp_adapters.base import (
    AdapterConfigError,
    CallRequest,
    Envelope,
    PermanentError,
    RetriableError,
)
from lgsp_adapters.mapping import DeclarativeMapping, parse_mapping, phone_84, strip_diacritics
from lgsp_adapters.rest import RestAdapter, RestSettings
from lgsp_testkit.rest_recipient import RestRecipient, serve_rest_recipient
from pydantic import ValidationError


def build(fields: dict[str, Any], payload: Any, context: dict[str, Any] | None = None) -> Any:
    return DeclarativeMapping.model_validate({"fields": fields}).build(payload, context or {})


def test_transforms() -> None:
    assert phone_84("0912345678") == phone_84("+84 912.345.678") == "84912345678"
    assert phone_84("84912345678") == "84912345678"
    with pytest.raises(ValueError):
        phone_84("09x")
    assert strip_diacritics("Hồ sơ đã xong, ĐƯỢC") == "Ho so da xong, DUOC"
    payload = {"Ho": "Nguyễn Văn", "Ten": "An", "Ngay": "20261126083000", "Ds": "a;b;;c"}
    assert build(
        {
            "HoTen": {"from": ["/Ho", "/Ten"], "transform": [{"join": " "}, "upper"]},
            "Ngay": {
                "from": "/Ngay",
                "transform": [{"date": {"from": "%Y%m%d%H%M%S", "to": "%d/%m/%Y"}}],
            },
            "Ds": {"from": "/Ds", "transform": [{"split": ";"}]},
            "So": {"const": 5, "transform": ["string"]},
        },
        payload,
    ) == {"HoTen": "NGUYỄN VĂN AN", "Ngay": "26/11/2026", "Ds": ["a", "b", "c"], "So": "5"}


def test_sources_defaults_and_missing_values() -> None:
    fields = {
        "A": {"from": "/a/0/b"},
        "K": {"context": "message_id"},
        "D": {"from": "/none", "default": "-"},
        "O": {"from": "/none", "required": False},
    }
    assert build(fields, {"a": [{"b": 1}], "extra": "dropped"}, {"message_id": "m1"}) == {
        "A": 1,
        "K": "m1",
        "D": "-",
    }
    with pytest.raises(PermanentError, match="nothing at /a/0/b"):
        build(fields, {}, {"message_id": "m1"})
    with pytest.raises(PermanentError, match="not known here"):
        build({"K": {"context": "sender"}}, {}, {})
    with pytest.raises(PermanentError, match="transform failed"):
        build({"P": {"from": "/p", "transform": ["phone_84"]}}, {"p": "abc"})
    for wrong in (
        {"X": {}},
        {"X": {"const": 1, "from": "/a"}},
        {"X": {"from": "a"}},
        {"X": {"const": 1, "transform": ["nope"]}},
        {"X": {"const": 1, "transform": [{"join": ",", "split": ","}]}},
    ):
        with pytest.raises(ValidationError):
            DeclarativeMapping.model_validate({"fields": wrong})
    with pytest.raises(AdapterConfigError, match="not valid"):
        parse_mapping({"fields": {"X": {}}}, "service S")


def test_success_rule() -> None:
    mapping = DeclarativeMapping.model_validate(
        {"fields": {"X": {"const": 1}}, "success": {"pointer": "/code", "in": ["00", 1]}}
    )
    rule = mapping.success
    assert rule is not None
    for ok in ({"code": "00"}, {"code": 1}, {"code": "1"}):
        rule.check(ok, status_code=200, raw=None, captures=[])
    for bad in ({"code": "01"}, {}, None):
        with pytest.raises(PermanentError, match="does not mean success"):
            rule.check(bad, status_code=200, raw=None, captures=[])
    retriable = DeclarativeMapping.model_validate(
        {"fields": {"X": {"const": 1}}, "success": {"equals": True, "failure": "retriable"}}
    ).success
    assert retriable is not None
    with pytest.raises(RetriableError):
        retriable.check(False, status_code=200, raw=None, captures=[])
    with pytest.raises(ValidationError):
        DeclarativeMapping.model_validate(
            {"fields": {"X": {"const": 1}}, "success": {"pointer": "/a"}}
        )


def test_rest_delivery_and_call_through_a_mapping() -> None:
    with serve_rest_recipient(RestRecipient()) as running:
        settings = RestSettings.model_validate(
            {
                "url": running.base_url,
                "path": "/sms",
                "mapping": {
                    "fields": {
                        "to": {"from": "/phone", "transform": ["phone_84"]},
                        "text": {"from": "/content", "transform": ["strip_diacritics"]},
                        "ref": {"context": "message_id"},
                    },
                    "success": {"pointer": "/duplicate", "equals": False},
                },
            }
        )
        adapter = RestAdapter(settings, agency_code="H56.91", timeout=5)
        envelope = Envelope(
            message_id="m-1",
            type="sms-notification",
            sender="000.00.01.H56",
            recipient="H56.91",
            payload={"phone": "0912345678", "content": "Đã xong", "MaHoSo": "x"},
            accepted_at=datetime.now(UTC),
        )
        adapter.deliver(envelope)
        assert running.recipient.requests[0].body == {
            "to": "84912345678",
            "text": "Da xong",
            "ref": "m-1",
        }
        # The recipient answers {"duplicate": true} to a repeat: not a success by this rule.
        with pytest.raises(PermanentError, match="/duplicate is true"):
            adapter.deliver(envelope)

        request = CallRequest(
            service="TraCuuGCN",
            operation={
                "method": "GET",
                "path": "/land/certificates/{serial}",
                "mapping": {"fields": {"serial": {"from": "/so", "transform": ["upper"]}}},
            },
            payload={"so": "cy 000123", "ignored": 1},
            caller="000.00.01.H56",
            request_id="r-1",
        )
        result = adapter.call(request)
        assert result.body["SoPhatHanh"] == "CY 000123"
        assert running.recipient.requests[-1].path == "/land/certificates/CY 000123"
        adapter.close()


def test_endpoint_settings_refuse_a_wrong_mapping() -> None:
    from lgsp_adapters.soap import SoapSettings

    good = {"fields": {"X": {"const": 1}}}
    SoapSettings.model_validate({"wsdl": "http://gw.example/?wsdl", "mapping": good})
    for wrong in (
        {"wsdl": "http://gw.example/?wsdl", "mapping": {"fields": {"X": {"from": "x"}}}},
        {"wsdl": "http://gw.example/?wsdl", "mapping": good, "payload_param": "P"},
    ):
        with pytest.raises(ValidationError):
            SoapSettings.model_validate(wrong)
