"""The simulated agency systems (one-stop REST, department SOAP) and the simulator runner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import zeep
from lgsp_adapters import registry
from lgsp_adapters.base import Envelope, PermanentError, RetriableError
from lgsp_sims.runner import SIMULATORS, RunningSimulators, run_simulators
from zeep.exceptions import Fault

from tests.dvcqg.samples import sample_dossier

MA = "000.00.12.H56-261126-0003"
LGSP_HEADERS = {
    "X-LGSP-Message-Id": "0193a1b2-0000-7000-8000-000000000001",
    "X-LGSP-Message-Type": "dossier",
    "X-LGSP-Sender": "000.00.01.H56",
    "X-LGSP-Correlation-Id": MA,
    "Idempotency-Key": "0193a1b2-0000-7000-8000-000000000001",
}


# One client for the module: a fresh httpx.Client per request rebuilds its TLS context each time.
http_ = httpx.Client(timeout=10)


@pytest.fixture(scope="module", autouse=True)
def _close_http() -> Iterator[None]:
    yield
    http_.close()


@pytest.fixture(scope="module")
def sims() -> Iterator[RunningSimulators]:
    with run_simulators(ports=dict.fromkeys(SIMULATORS, 0)) as running:
        yield running


@pytest.fixture
def onestop(sims: RunningSimulators) -> str:
    http_.post(f"{sims.urls['onestop']}/_sim/control", json={"reset": True, "clear": True})
    return sims.urls["onestop"]


@pytest.fixture
def department(sims: RunningSimulators) -> str:
    http_.post(f"{sims.urls['department']}/_sim/control", json={"reset": True, "clear": True})
    return sims.urls["department"]


def envelope(message_id: str, payload: dict[str, Any]) -> Envelope:
    return Envelope(
        message_id=message_id,
        type="dossier",
        sender="000.00.01.H56",
        recipient="000.00.12.H56",
        payload=payload,
        accepted_at=datetime.now(UTC),
        correlation_id=payload.get("MaHoSo"),
    )


# -- runner --------------------------------------------------------------------------------
def test_runner_serves_every_simulator_on_its_own_port(sims: RunningSimulators) -> None:
    assert set(sims.urls) == set(SIMULATORS)
    assert len(set(sims.urls.values())) == len(SIMULATORS)
    assert http_.get(f"{sims.urls['dvcqg']}/_sim/dossiers").json() == []
    assert http_.get(f"{sims.urls['onestop']}/_sim/control").status_code == 200
    assert "wsdl:definitions" in http_.get(f"{sims.urls['department']}/?wsdl").text
    assert "wsdl:definitions" in http_.get(f"{sims.urls['land-registry']}/?wsdl").text


def test_runner_reports_a_taken_port(sims: RunningSimulators) -> None:
    taken = int(sims.urls["onestop"].rsplit(":", 1)[1])
    with pytest.raises(RuntimeError, match="cannot listen"):
        run_simulators(ports={"onestop": taken}, only=["onestop"])
    with pytest.raises(ValueError, match="unknown simulators"):
        run_simulators(only=["post-office"])


# -- one-stop office (REST) ------------------------------------------------------------------
def test_onestop_deduplicates_by_message_id(onestop: str) -> None:
    body = sample_dossier(MA)
    first = http_.post(f"{onestop}/lgsp/messages", json=body, headers=LGSP_HEADERS)
    again = http_.post(f"{onestop}/lgsp/messages", json=body, headers=LGSP_HEADERS)
    assert (first.status_code, first.json()["status"]) == (200, "received")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert first.json()["receipt"] == again.json()["receipt"]

    [stored] = http_.get(f"{onestop}/_sim/messages").json()
    assert stored["receive_count"] == 2
    assert stored["body"]["MaHoSo"] == MA
    assert (stored["type"], stored["sender"], stored["correlation_id"]) == (
        "dossier",
        "000.00.01.H56",
        MA,
    )
    one = http_.get(f"{onestop}/_sim/messages/{LGSP_HEADERS['X-LGSP-Message-Id']}")
    assert one.json()["idempotency_key"] == LGSP_HEADERS["Idempotency-Key"]


def test_onestop_checks_what_it_receives(onestop: str) -> None:
    url = f"{onestop}/lgsp/messages"
    no_sender = {k: v for k, v in LGSP_HEADERS.items() if k != "X-LGSP-Sender"}
    assert http_.post(url, json={}, headers=no_sender).status_code == 400
    as_text = http_.post(url, content=b"{}", headers={**LGSP_HEADERS, "content-type": "text/plain"})
    assert as_text.status_code == 415
    a_list = http_.post(url, json=[1], headers=LGSP_HEADERS)
    assert a_list.status_code == 400
    assert http_.get(f"{onestop}/_sim/messages").json() == []


def test_onestop_fails_on_demand(onestop: str) -> None:
    url = f"{onestop}/lgsp/messages"
    http_.post(f"{onestop}/_sim/control", json={"fail_next": 1, "fail_kind": "reject"})
    assert http_.post(url, json={}, headers=LGSP_HEADERS).status_code == 422
    http_.post(f"{onestop}/_sim/control", json={"fail_for": 3600})
    assert http_.post(url, json={}, headers=LGSP_HEADERS).status_code == 503
    assert http_.post(url, json={}, headers=LGSP_HEADERS).status_code == 503
    http_.post(f"{onestop}/_sim/control", json={"reset": True})
    assert http_.post(url, json={}, headers=LGSP_HEADERS).status_code == 200
    assert http_.post(f"{onestop}/_sim/control", json={"fail": 1}).status_code == 400


def test_generic_rest_adapter_delivers_to_onestop(onestop: str) -> None:
    # As config/agencies.yaml sets it up: the base URL, no path.
    adapter = registry.build("rest", {"url": onestop}, agency_code="000.00.01.H56", timeout=5)
    try:
        message = envelope("0193a1b2-0000-7000-8000-0000000000aa", sample_dossier(MA))
        adapter.deliver(message)
        adapter.deliver(message)  # a redelivery
        http_.post(f"{onestop}/_sim/control", json={"fail_next": 1, "fail_kind": "http503"})
        with pytest.raises(RetriableError):
            adapter.deliver(message)
        http_.post(f"{onestop}/_sim/control", json={"fail_next": 1, "fail_kind": "reject"})
        with pytest.raises(PermanentError):
            adapter.deliver(message)
    finally:
        adapter.close()
    [stored] = http_.get(f"{onestop}/_sim/messages").json()
    assert (stored["message_id"], stored["receive_count"]) == (message.message_id, 2)


# -- processing department (SOAP) ------------------------------------------------------------
def _zeep(department: str) -> zeep.Client:
    return zeep.Client(f"{department}/?wsdl")  # type: ignore[no-untyped-call]


def test_zeep_calls_nhan_thong_diep_from_the_wsdl(department: str) -> None:
    client = _zeep(department)
    payload = json.dumps({"MaHoSo": MA, "TrangThaiHoSo": "4"}, ensure_ascii=False)
    fields = {
        "MessageId": "0193a1b2-0000-7000-8000-000000000101",
        "MessageType": "dossier-status",
        "Sender": "000.00.01.H56",
        "CorrelationId": MA,
        "Payload": payload,
    }
    first = client.service.NhanThongDiep(**fields)
    again = client.service.NhanThongDiep(**fields)
    assert (first.KetQua, first.ThongBao) == ("0", "Tiếp nhận thành công")
    assert (again.KetQua, again.MaTiepNhan) == ("0", first.MaTiepNhan)

    [stored] = http_.get(f"{department}/_sim/messages").json()
    assert stored["payload"] == {"MaHoSo": MA, "TrangThaiHoSo": "4"}
    assert (stored["operation"], stored["receive_count"]) == ("NhanThongDiep", 2)


def test_zeep_sends_a_whole_dossier_with_nhan_ho_so(department: str) -> None:
    client = _zeep(department)
    reply = client.service.NhanHoSo(MessageId="m-201", Sender="000.00.01.H56", **sample_dossier(MA))
    assert reply.KetQua == "0"
    [stored] = http_.get(f"{department}/_sim/messages").json()
    assert stored["payload"]["TaiLieuNop"][0]["TenTepDinhKem"] == "don-dang-ky-bien-dong.pdf"
    assert stored["payload"]["DinhDanhCHS"] == [{"LoaiDinhDanh": "1", "SoDinhDanh": "056185004321"}]


def test_department_refuses_bad_input_with_client_faults(department: str) -> None:
    client = _zeep(department)
    with pytest.raises(Fault) as not_json:
        client.service.NhanThongDiep(
            MessageId="m-301", MessageType="x", Sender="y", Payload="{not json"
        )
    assert not_json.value.code.endswith("Client") and "JSON" in not_json.value.message
    with pytest.raises(Fault) as bad_status:
        client.service.NhanHoSo(MessageId="m-302", **dict(sample_dossier(MA), TrangThaiHoSo="12"))
    assert "TrangThaiHoSo" in bad_status.value.message
    assert http_.get(f"{department}/_sim/messages").json() == []


def _post_soap(department: str, xml: str, action: str = "") -> httpx.Response:
    headers = {"content-type": "text/xml; charset=utf-8", "SOAPAction": action}
    return http_.post(f"{department}/", content=xml.encode(), headers=headers)


def test_department_parses_safely(department: str) -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        "<x>&b;</x></soap:Body></soap:Envelope>"
    )
    refused = _post_soap(department, bomb)
    assert refused.status_code == 500
    assert "DTD" in refused.text and "soap:Client" in refused.text
    garbage = _post_soap(department, "<soap:Envelope")
    assert garbage.status_code == 500 and "soap:Client" in garbage.text
    unknown_op = _post_soap(
        department,
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        '<XoaHoSo xmlns="urn:x"/></soap:Body></soap:Envelope>',
    )
    assert "soap:Client" in unknown_op.text
    as_json = http_.post(f"{department}/", json={})
    assert as_json.status_code == 415


def test_department_faults_on_demand_and_generic_soap_adapter(department: str) -> None:
    adapter = registry.build(
        "soap",
        {
            "wsdl": f"{department}/?wsdl",
            "operation": "NhanHoSo",
            "envelope_params": {
                "MessageId": "message_id",
                "MessageType": "type",
                "Sender": "sender",
                "CorrelationId": "correlation_id",
            },
        },
        agency_code="000.00.12.H56",
        timeout=5,
    )
    message = envelope("0193a1b2-0000-7000-8000-0000000003aa", sample_dossier(MA))
    try:
        control = f"{department}/_sim/control"
        http_.post(control, json={"fail_next": 1, "fail_kind": "server_fault"})
        with pytest.raises(RetriableError):
            adapter.deliver(message)
        http_.post(control, json={"fail_next": 1, "fail_kind": "client_fault"})
        with pytest.raises(PermanentError, match="thẩm quyền"):
            adapter.deliver(message)
        http_.post(control, json={"fail_for": 3600})
        with pytest.raises(RetriableError):
            adapter.deliver(message)
        http_.post(control, json={"reset": True})
        adapter.deliver(message)
        adapter.deliver(message)
    finally:
        adapter.close()
    [stored] = http_.get(f"{department}/_sim/messages").json()
    assert (stored["message_id"], stored["receive_count"]) == (message.message_id, 2)
    assert (stored["message_type"], stored["correlation_id"]) == ("dossier", MA)
    assert stored["payload"]["MaTTHC"] == "1.004227"
