"""The processing department's system (Sở Nông nghiệp và Môi trường, H56) as a SOAP 1.1
service: it receives dossiers and messages from the platform.

    GET  /?wsdl              the WSDL (see :mod:`lgsp_sims.agencies.department_wsdl`), published
                             at the address the request came to
    POST /                   SOAP 1.1 (text/xml): NhanHoSo, NhanThongDiep -> response or fault
    GET  /_sim/messages      what arrived (first-received order) with ``receive_count``
    GET|POST /_sim/control   {"fail_next": n, "fail_kind": "http503"|"server_fault"|
                              "client_fault", "fail_for": seconds, "reset": true, "clear": true}

Requests are parsed with lxml without DTDs, entities or network access, and a request that
declares a DOCTYPE is refused outright. Bad input is a ``soap:Client`` fault; an injected outage
is a ``soap:Server`` fault or HTTP 503. A repeated MessageId is answered like the first time
(same MaTiepNhan) and only counted.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from lgsp_sims.agencies.department_wsdl import (
    DOSSIER_ARRAYS,
    DOSSIER_DATES,
    DOSSIER_REQUIRED,
    DOSSIER_SCALARS,
    ENVELOPE_FIELDS,
    MESSAGE_REQUIRED,
    OPERATIONS,
    SOAP_ENV,
    TNS,
    wsdl,
)
from lgsp_sims.agencies.faults import FaultSwitch
from lgsp_sims.dvcqg.codes import is_portal_date, parse_status

XML = "text/xml; charset=utf-8"


class ClientFault(Exception):
    """The request is at fault: answered with a soap:Client fault."""


@dataclass(slots=True)
class ReceivedSoapMessage:
    message_id: str
    operation: str
    message_type: str | None
    sender: str | None
    correlation_id: str | None
    payload: Any  # NhanHoSo: the dossier as JSON; NhanThongDiep: the decoded Payload
    receipt: str
    receive_count: int
    first_received_at: str


class DepartmentState:
    """Received messages and fault switches. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: dict[str, ReceivedSoapMessage] = {}
        self.faults = FaultSwitch("http503", ("http503", "server_fault", "client_fault"))

    def receive(self, operation: str, fields: dict[str, Any], payload: Any) -> tuple[str, bool]:
        """Store a message; returns its receipt number and whether it was new."""
        message_id = str(fields["MessageId"])
        with self._lock:
            seen = self._messages.get(message_id)
            if seen is not None:
                seen.receive_count += 1
                return seen.receipt, False
            receipt = f"TN-NNMT-{len(self._messages) + 1:06d}"
            self._messages[message_id] = ReceivedSoapMessage(
                message_id=message_id,
                operation=operation,
                message_type=fields.get("MessageType"),
                sender=fields.get("Sender"),
                correlation_id=fields.get("CorrelationId"),
                payload=payload,
                receipt=receipt,
                receive_count=1,
                first_received_at=datetime.now(UTC).isoformat(),
            )
            return receipt, True

    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(m) for m in self._messages.values()]

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()


# -- SOAP plumbing -----------------------------------------------------------------------
def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def parse_envelope(raw: bytes) -> tuple[str, etree._Element]:
    """The operation name and its wrapper element from a SOAP 1.1 request."""
    if b"<!DOCTYPE" in raw.upper():
        raise ClientFault("DTD không được phép trong yêu cầu")  # DTDs are refused
    try:
        root = etree.fromstring(raw, _safe_parser())
    except etree.XMLSyntaxError as exc:
        raise ClientFault(f"Yêu cầu không phải XML hợp lệ: {exc}") from exc
    if root.getroottree().docinfo.doctype:
        raise ClientFault("DTD không được phép trong yêu cầu")
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise ClientFault("Không phải SOAP 1.1 Envelope")
    body = root.find(f"{{{SOAP_ENV}}}Body")
    wrappers = [] if body is None else [c for c in body if isinstance(c.tag, str)]
    if len(wrappers) != 1:
        raise ClientFault("SOAP Body phải chứa đúng một phần tử")
    wrapper = wrappers[0]
    qname = etree.QName(wrapper)
    if qname.namespace != TNS or qname.localname not in OPERATIONS:
        raise ClientFault(f"Không có thao tác {qname.text}")
    return qname.localname, wrapper


def _children(element: etree._Element, allowed: set[str], where: str) -> list[tuple[str, Any]]:
    found = []
    for child in element:
        if not isinstance(child.tag, str):
            continue  # comments, processing instructions
        qname = etree.QName(child)
        if qname.namespace != TNS or qname.localname not in allowed:
            raise ClientFault(f"{where}: phần tử không hợp lệ {qname.localname}")
        found.append((qname.localname, child))
    return found


def read_dossier(wrapper: etree._Element) -> tuple[dict[str, Any], dict[str, Any]]:
    """NhanHoSo: (envelope fields, dossier as JSON)."""
    allowed = {*ENVELOPE_FIELDS, *DOSSIER_SCALARS, *DOSSIER_ARRAYS}
    meta: dict[str, Any] = {}
    dossier: dict[str, Any] = {}
    for name, child in _children(wrapper, allowed, "NhanHoSo"):
        if name in DOSSIER_ARRAYS:
            fields = set(DOSSIER_ARRAYS[name][1])
            item = {n: (c.text or "") for n, c in _children(child, fields, name)}
            dossier.setdefault(name, []).append(item)
        elif name in ENVELOPE_FIELDS:
            meta[name] = child.text or ""
        else:
            dossier[name] = child.text or ""
    if not meta.get("MessageId"):
        raise ClientFault("Thiếu MessageId")
    for name in DOSSIER_REQUIRED:
        if not dossier.get(name):
            raise ClientFault(f"Thiếu trường bắt buộc {name}")
    if parse_status(dossier["TrangThaiHoSo"]) is None:
        raise ClientFault(f"TrangThaiHoSo {dossier['TrangThaiHoSo']!r} không thuộc danh mục 1-10")
    for name in DOSSIER_DATES:
        if dossier.get(name) and not is_portal_date(dossier[name]):
            raise ClientFault(f"{name} không đúng định dạng yyyyMMddHHmmss")
    return meta, dossier


def read_message(wrapper: etree._Element) -> tuple[dict[str, Any], Any]:
    """NhanThongDiep: (envelope fields, the Payload decoded from JSON)."""
    fields = {
        n: (c.text or "")
        for n, c in _children(wrapper, {*ENVELOPE_FIELDS, "Payload"}, "NhanThongDiep")
    }
    for name in MESSAGE_REQUIRED:
        if not fields.get(name):
            raise ClientFault(f"Thiếu trường bắt buộc {name}")
    try:
        payload = json.loads(fields.pop("Payload"))
    except ValueError as exc:
        raise ClientFault("Payload phải là JSON") from exc
    return fields, payload


def soap_response(operation: str, values: dict[str, str]) -> bytes:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV, "tns": TNS})
    body = etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")
    answer = etree.SubElement(body, f"{{{TNS}}}{operation}Response")
    for name, value in values.items():
        etree.SubElement(answer, f"{{{TNS}}}{name}").text = value
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))


def soap_fault(code: str, message: str) -> Response:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    body = etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")
    fault = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(fault, "faultcode").text = f"soap:{code}"
    etree.SubElement(fault, "faultstring").text = message
    content = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
    return Response(content, status_code=500, media_type=XML)  # SOAP 1.1 faults are HTTP 500


def create_app(state: DepartmentState | None = None) -> Starlette:
    """The department's SOAP service as an ASGI app (``app.state.department``)."""
    department = state or DepartmentState()

    async def get_wsdl(request: Request) -> Response:
        if "wsdl" not in request.query_params:
            return PlainTextResponse("XuLyHoSoService: GET /?wsdl for the contract", 404)
        return Response(wsdl(str(request.base_url)), media_type=XML)

    async def soap(request: Request) -> Response:
        fault = department.faults.take()
        if fault == "http503":
            return PlainTextResponse("Service Unavailable", status_code=503)
        if fault == "server_fault":
            return soap_fault("Server", "Hệ thống xử lý hồ sơ tạm thời gián đoạn")
        if fault == "client_fault":
            return soap_fault("Client", "Hồ sơ bị từ chối: không thuộc thẩm quyền xử lý")
        if not request.headers.get("content-type", "").startswith("text/xml"):
            return PlainTextResponse("SOAP 1.1 requests are text/xml", status_code=415)
        try:
            operation, wrapper = parse_envelope(await request.body())
            action = request.headers.get("soapaction", "").strip('"')
            if action and action != f"{TNS}#{operation}":
                raise ClientFault(f"SOAPAction {action!r} không khớp thao tác {operation}")
            meta, payload = (
                read_dossier(wrapper) if operation == "NhanHoSo" else read_message(wrapper)
            )
        except ClientFault as exc:
            return soap_fault("Client", str(exc))
        receipt, new = department.receive(operation, meta, payload)
        answer = {
            "KetQua": "0",
            "ThongBao": "Tiếp nhận thành công" if new else "Đã tiếp nhận trước đó",
            "MaTiepNhan": receipt,
        }
        return Response(soap_response(operation, answer), media_type=XML)

    async def list_messages(_: Request) -> Response:
        return JSONResponse(department.messages())

    async def control(request: Request) -> Response:
        if request.method == "POST":
            try:
                body = await request.json()
                department.faults.apply(body, frozenset({"clear"}))
            except (ValueError, TypeError) as exc:
                return JSONResponse({"detail": str(exc)}, status_code=400)
            if body.get("clear"):
                department.clear()
        return JSONResponse(department.faults.describe())

    app = Starlette(
        routes=[
            Route("/", get_wsdl, methods=["GET"]),
            Route("/", soap, methods=["POST"]),
            Route("/_sim/messages", list_messages, methods=["GET"]),
            Route("/_sim/control", control, methods=["GET", "POST"]),
        ]
    )
    app.state.department = department
    return app
