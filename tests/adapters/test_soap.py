from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from lgsp_adapters import registry
from lgsp_adapters.base import (
    AdapterConfigError,
    CallRequest,
    PermanentError,
    RetriableError,
)
from lgsp_adapters.soap import SoapAdapter
from lgsp_testkit import free_port, serve_asgi
from lgsp_testkit.contract import AdapterContract, envelope
from lgsp_testkit.soap_service import (
    WSDL_PATH,
    LandRegistryService,
    RunningService,
    serve_land_registry,
)

ENVELOPE_PARAMS = {
    "MessageId": "message_id",
    "MessageType": "type",
    "Sender": "sender",
    "CorrelationId": "correlation_id",
}


def dossier(n: int = 7) -> dict[str, Any]:
    return {
        "SoBienNhan": f"BN{n:05d}",
        "MaHoSoMotCua": f"000.00.12.H02-261126-{n:04d}",
        "NguoiTiepNhan": "Phạm Thị Dung",
        "NgayTiepNhan": "20261126083000",
        "NgayHenTra": "20261210170000",
        "XaId": "26734",
        "ThongTinNguoiNopDon": {"HoTen": "Nguyễn Văn An", "SoChungMinh": "079203001234"},
        "ThongTinQuyTrinh": {"MaQuyTrinh": "QT-DK-01", "TenQuyTrinh": "Đăng ký lần đầu"},
        "ThongTinThuaDat": [
            {"SoThuTuThua": "125", "SoHieuBanDo": "18", "DienTich": "152.5"},
            {"SoThuTuThua": "126", "SoHieuBanDo": "18", "DienTich": 40},
        ],
    }


class ServiceRecipient:
    def __init__(self, running: RunningService) -> None:
        self.running = running

    def received_ids(self) -> list[str]:
        return self.running.service.received_message_ids()

    def fail_next(self, times: int = 1) -> None:
        self.running.service.script("server_fault", times)

    def reject_next(self, times: int = 1) -> None:
        self.running.service.script("client_fault", times)

    def stall_next(self, seconds: float) -> None:
        self.running.service.script("slow", delay=seconds)


def deliver_settings(wsdl: str, **extra: Any) -> dict[str, Any]:
    return {
        "wsdl": wsdl,
        "operation": "ReceiveDossier",
        "payload_param": "Dossier",
        "envelope_params": ENVELOPE_PARAMS,
        **extra,
    }


class TestSoapAdapter(AdapterContract):
    adapter_name = "soap"
    bad_settings = [
        ({}, "wsdl: Field required"),
        ({"wsdl": "/nonexistent/land.wsdl"}, "wsdl: Value error, WSDL file"),
        ({"wsdl": "http://"}, "wsdl"),
        (
            {"wsdl": str(WSDL_PATH), "envelope_params": {"MessageId": "msgid"}},
            "envelope_params.MessageId",
        ),
        ({"wsdl": str(WSDL_PATH), "ws_security": {"username": "u"}}, "ws_security.password"),
        ({"wsdl": str(WSDL_PATH), "timeout": 0}, "timeout"),
        ({"wsdl": str(WSDL_PATH), "endpoint": "not a url"}, "endpoint"),
    ]

    def payload(self, n: int) -> dict[str, Any]:
        return dossier(n)

    @pytest.fixture
    def recipient(self) -> Iterator[ServiceRecipient]:
        with serve_land_registry() as running:
            yield ServiceRecipient(running)

    @pytest.fixture
    def settings(self, recipient: ServiceRecipient) -> dict[str, Any]:
        return deliver_settings(recipient.running.wsdl_url)

    @pytest.fixture
    def unreachable_settings(self) -> dict[str, Any]:
        return deliver_settings(str(WSDL_PATH), endpoint=f"http://127.0.0.1:{free_port()}/lr")


@pytest.fixture
def running() -> Iterator[RunningService]:
    with serve_land_registry() as running:
        yield running


def build(settings: dict[str, Any], timeout: float = 2.0) -> SoapAdapter:
    adapter = registry.build("soap", settings, agency_code="000.00.01.H22", timeout=timeout)
    assert isinstance(adapter, SoapAdapter)
    return adapter


def test_delivery_maps_payload_and_envelope_to_parameters(running: RunningService) -> None:
    adapter = build(deliver_settings(str(WSDL_PATH), endpoint=running.endpoint_url))
    message = envelope(dossier(), correlation_id="000.00.12.H02-261126-0007")
    result = adapter.deliver(message)
    assert result.status_code == 200
    reply = json.loads(result.reply or "")
    assert reply["Accepted"] is True and reply["ReceiptNumber"] == "BN-000001"
    [received] = running.service.received
    assert received.operation == "ReceiveDossier"
    assert received.params["MessageId"] == message.message_id
    assert received.params["Sender"] == message.sender
    assert received.params["CorrelationId"] == "000.00.12.H02-261126-0007"
    assert received.params["Dossier"]["ThongTinThuaDat"][1] == {
        "SoThuTuThua": "126",
        "SoHieuBanDo": "18",
        "DienTich": "40",
    }
    assert received.headers["x-lgsp-message-id"] == message.message_id
    # The raw envelopes of the exchange are kept for the message log.
    request, response = result.captures
    assert request.direction == "request" and message.message_id in (request.body or "")
    assert response.direction == "response" and "BN-000001" in (response.body or "")


def test_top_level_payload_keys_are_parameters(running: RunningService) -> None:
    settings = {
        "wsdl": running.wsdl_url,
        "operation": "ReceiveDossier",
        "envelope_params": {"MessageId": "message_id"},
    }
    message = envelope({"Sender": "H02", "Dossier": dossier()})
    build(settings).deliver(message)
    assert running.service.dossiers()[message.message_id]["SoBienNhan"] == "BN00007"


def test_reply_is_json_safe(running: RunningService) -> None:
    adapter = build({"wsdl": running.wsdl_url})
    by_operation = adapter.call(
        CallRequest(
            "gcn", {"operation": "LookupCertificate"}, {"SoPhatHanh": "CY 000124"}, "H02", "r1"
        )
    )
    certificate = by_operation.body["Certificate"]
    assert certificate["DienTich"] == 1200 and isinstance(certificate["DienTich"], int)
    assert certificate["NgayVaoSo"] == "2019-11-02"
    assert [p["SoDinhDanh"] for p in certificate["NguoiSuDung"]] == [
        "075185004321",
        "075084009876",
    ]
    json.dumps(by_operation.body)
    by_service = adapter.call(
        CallRequest("LookupCertificate", {}, {"SoPhatHanh": "CY 000123"}, "H02", "r2")
    )
    assert by_service.body["Certificate"]["DienTich"] == 152.5
    missing = adapter.call(CallRequest("LookupCertificate", {}, {"SoPhatHanh": "?"}, "H02", "r3"))
    assert missing.body == {"Found": False, "Certificate": None}
    assert running.service.wsdl_fetches == 1  # loaded once, at first use


@pytest.mark.parametrize("behaviour", ["xml_bomb", "xxe", "xxe_utf16"])
def test_malicious_reply_refused_unexpanded(running: RunningService, behaviour: Any) -> None:
    adapter = build(deliver_settings(running.wsdl_url))
    running.service.script(behaviour)
    with pytest.raises(PermanentError) as caught:
        adapter.deliver(envelope(dossier()))
    error = caught.value
    assert "unsafe XML" in error.reason or "DTD" in error.reason, error.reason
    everything = " ".join(
        [error.reason, error.reply or ""] + [c.body or "" for c in error.captures]
    )
    assert "lollollol" not in everything  # the bomb was not expanded
    assert "root:" not in everything  # /etc/passwd was not read into anything
    assert running.service.external_fetches == 0  # the external DTD was not fetched
    message = envelope(dossier())
    adapter.deliver(message)  # and the adapter keeps working
    assert running.service.received_message_ids() == [message.message_id]


@pytest.mark.parametrize(
    ("behaviour", "error", "status"),
    [
        ("server_fault", RetriableError, 500),
        ("client_fault", PermanentError, 500),
        ("http_500", RetriableError, 500),
        ("http_503", RetriableError, 503),
        ("not_xml", PermanentError, 200),
    ],
)
def test_failures_sorted(
    running: RunningService, behaviour: Any, error: type[Exception], status: int
) -> None:
    adapter = build(deliver_settings(running.wsdl_url))
    running.service.script(behaviour)
    with pytest.raises(error) as caught:
        adapter.deliver(envelope(dossier()))
    assert type(caught.value) is error
    assert getattr(caught.value, "status_code", None) == status
    assert [c.direction for c in getattr(caught.value, "captures", [])] == ["request", "response"]
    if behaviour == "http_503":
        assert getattr(caught.value, "retry_after", None) == 7.0
    if behaviour == "client_fault":
        assert "thiếu MaHoSoMotCua" in str(caught.value)


def test_soap12_faults(running: RunningService) -> None:
    adapter = build(deliver_settings(running.wsdl_url, port="LandRegistrySoap12Port"))
    running.service.script("client_fault")
    with pytest.raises(PermanentError, match="Sender"):
        adapter.deliver(envelope(dossier()))
    running.service.script("server_fault")
    with pytest.raises(RetriableError, match="Receiver"):
        adapter.deliver(envelope(dossier()))
    message = envelope(dossier())
    adapter.deliver(message)
    assert running.service.received[-1].soap_version == "http://www.w3.org/2003/05/soap-envelope"


def test_payload_that_does_not_fit_is_permanent_and_not_sent(running: RunningService) -> None:
    adapter = build(deliver_settings(running.wsdl_url))
    incomplete = dossier()
    del incomplete["MaHoSoMotCua"]
    with pytest.raises(PermanentError, match="does not fit"):
        adapter.deliver(envelope(incomplete))
    with pytest.raises(PermanentError, match="does not fit"):
        adapter.deliver(envelope({**dossier(), "Unknown": 1}))
    unknown = {"wsdl": running.wsdl_url, "operation": "ReceiveDossier"}
    with pytest.raises(PermanentError, match="does not fit"):
        build(unknown).deliver(envelope({"NoSuchParameter": 1}))
    assert running.service.attempts == []


def test_schema_violation_is_rejected_by_the_service(running: RunningService) -> None:
    adapter = build(deliver_settings(running.wsdl_url))
    with pytest.raises(PermanentError, match="schema"):
        adapter.deliver(envelope({**dossier(), "NgayTiepNhan": "26/11/2026"}))


@pytest.mark.parametrize("digest", [False, True])
def test_ws_security_username_token(digest: bool) -> None:
    service = LandRegistryService(username="lgsp", password="mat-khau")
    with serve_land_registry(service) as running:
        good = {"username": "lgsp", "password": "mat-khau", "digest": digest}
        message = envelope(dossier())
        build(deliver_settings(running.wsdl_url, ws_security=good)).deliver(message)
        assert service.received_message_ids() == [message.message_id]
        bad = {**good, "password": "sai"}
        with pytest.raises(PermanentError, match="authentication failed"):
            build(deliver_settings(running.wsdl_url, ws_security=bad)).deliver(envelope(dossier()))


def test_configuration_errors_stop_the_start(running: RunningService) -> None:
    with pytest.raises(AdapterConfigError, match="no operation 'SendDossier'"):
        build(deliver_settings(str(WSDL_PATH), operation="SendDossier"))
    with pytest.raises(AdapterConfigError, match="no service"):
        build(deliver_settings(str(WSDL_PATH), service="Cadastre"))
    with pytest.raises(AdapterConfigError, match="environment variable LGSP_NO_SUCH_SECRET"):
        build(
            deliver_settings(
                str(WSDL_PATH), ws_security={"username": "u", "password": "${LGSP_NO_SUCH_SECRET}"}
            )
        )


def test_unreachable_remote_wsdl_is_retriable_and_recovers() -> None:
    port = free_port()
    adapter = build(deliver_settings(f"http://127.0.0.1:{port}/land-registry?wsdl"))
    with pytest.raises(RetriableError, match="cannot load the WSDL"):
        adapter.deliver(envelope(dossier()))


def test_remote_wsdl_may_not_reach_local_files() -> None:
    wsdl = WSDL_PATH.read_bytes().replace(
        b'<xs:schema targetNamespace="urn:lgsp:land-registry:v1"',
        b'<xs:schema targetNamespace="urn:lgsp:land-registry:v1">'
        b'<xs:include schemaLocation="file:///etc/hostname"/></xs:schema>'
        b'<xs:schema targetNamespace="urn:lgsp:land-registry:v1"',
    )

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": wsdl})

    with serve_asgi(app) as base_url:
        adapter = build(deliver_settings(base_url + "/evil?wsdl"))
        with pytest.raises(AdapterConfigError, match="refusing to load 'file:///etc/hostname'"):
            adapter.deliver(envelope(dossier()))


def test_a_dtd_without_entities_is_refused_even_where_byte_checks_miss_it(
    running: RunningService,
) -> None:
    """UTF-16 hides the DOCTYPE from the byte-level pre-check and the DTD declares no entity,
    so only the parser's refusal of every DTD stands between it and the reply: a DTD may still
    inject attribute defaults into what the platform reads."""
    adapter = build(deliver_settings(running.wsdl_url))
    running.service.script("dtd_utf16")
    with pytest.raises(PermanentError) as caught:
        adapter.deliver(envelope(dossier()))
    assert "unsafe XML" in caught.value.reason and "DTD" in caught.value.reason


def test_the_parser_policy_for_replies() -> None:
    """Each defence of the reply parser, stated on its own: a later refactor that drops one
    fails here even where another defence happens to cover today's attacks."""
    from lgsp_adapters.soap.adapter import _zeep_settings
    from lgsp_adapters.soap.transport import declares_dtd
    from zeep.exceptions import DTDForbidden, EntitiesForbidden
    from zeep.loader import parse_xml

    policy = _zeep_settings()
    assert policy.forbid_dtd and policy.forbid_entities and policy.forbid_external
    assert policy.xml_huge_tree is False and policy.strict
    entity = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>'
    with pytest.raises((DTDForbidden, EntitiesForbidden)):
        parse_xml(entity, None, settings=policy)
    bare_dtd = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ELEMENT a ANY>]><a/>'
    with pytest.raises(DTDForbidden):
        parse_xml(bare_dtd.encode("utf-16"), None, settings=policy)
    assert parse_xml(b"<a>1</a>", None, settings=policy).text == "1"
    # The pre-check sees DOCTYPEs behind a BOM, comments and processing instructions ...
    for prolog in (b"", b"\xef\xbb\xbf", b'<?xml version="1.0"?>\n<!-- c -->\n'):
        assert declares_dtd(prolog + b"<!DOCTYPE a><a/>")
    # ... and not a DOCTYPE-looking text inside the document.
    assert not declares_dtd(b"<a>&lt;!DOCTYPE</a>")
