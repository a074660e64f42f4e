"""A land registry SOAP service (server side, lxml) for tests, simulators and demos.

It implements ``wsdl/land_registry.wsdl`` (SOAP 1.1 and 1.2, document/literal): ``ReceiveDossier``
stores a one-stop land dossier and deduplicates on ``MessageId``; ``LookupCertificate`` answers
from a small certificate register. Requests are parsed safely and validated against the WSDL's
schema; invalid ones get a Client (1.1) / Sender (1.2) fault.

Tests steer it: ``service.script("server_fault", times=2)`` makes the next two requests fail,
``service.always("http_503")`` until ``service.always(None)``. It can also answer with an XML bomb
or an external-entity (XXE) reply, and counts fetches of the external DTD it points to.

    with serve_land_registry() as running:
        running.wsdl_url, running.endpoint_url      # what an adapter is configured with
        running.service.received_message_ids()      # what arrived (deduplicated)
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from lxml import etree

from lgsp_testkit.servers import serve_asgi

WSDL_PATH = Path(__file__).parent / "wsdl" / "land_registry.wsdl"
TNS = "urn:lgsp:land-registry:v1"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PLACEHOLDER_ADDRESS = "http://127.0.0.1:8089/land-registry"
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# Elements that repeat in the schema: always lists in the recorded parameters.
LIST_FIELDS = frozenset({"ThongTinThuaDat", "NguoiSuDung"})

Behaviour = Literal[
    "http_500",  # plain-text 500, no SOAP body (a crashed application server)
    "http_503",  # 503 with Retry-After (maintenance)
    "server_fault",  # soap:Server / Receiver fault
    "client_fault",  # soap:Client / Sender fault: the content is rejected
    "slow",  # answer normally after ``delay`` seconds
    "xml_bomb",  # a billion-laughs reply
    "xxe",  # a reply whose entities reach for a local file and an external DTD
    "xxe_utf16",  # the same, encoded as UTF-16 (slips past byte-level checks)
    "dtd_utf16",  # a DTD with no entity at all (attribute defaults), in UTF-16
    "not_xml",  # 200 with an HTML page
]

SAMPLE_CERTIFICATES: list[dict[str, Any]] = [
    {
        "SoPhatHanh": "CY 000123",
        "SoVaoSo": "CS01234",
        "ThuaDatSo": "125",
        "ToBanDoSo": "18",
        "DienTich": "152.5",
        "MucDichSuDung": "Đất ở tại đô thị",
        "HinhThucSuDung": "Sử dụng riêng",
        "DiaChiThuaDat": "Phường Bến Thành, Thành phố Hồ Chí Minh",
        "ThoiHanSuDung": "Lâu dài",
        "NguonGocSuDung": "Nhà nước công nhận quyền sử dụng đất",
        "NguoiSuDung": [{"HoTen": "Nguyễn Văn An", "SoDinhDanh": "079203001234"}],
        "NgayVaoSo": "2021-03-15",
    },
    {
        "SoPhatHanh": "CY 000124",
        "SoVaoSo": "CS01235",
        "ThuaDatSo": "37",
        "ToBanDoSo": "4",
        "DienTich": "1200",
        "MucDichSuDung": "Đất trồng cây lâu năm",
        "DiaChiThuaDat": "Xã Tân An, Tỉnh Đồng Nai",
        "NguoiSuDung": [
            {"HoTen": "Trần Thị Bình", "SoDinhDanh": "075185004321"},
            {"HoTen": "Lê Văn Cường", "SoDinhDanh": "075084009876"},
        ],
        "NgayVaoSo": "2019-11-02",
    },
]


@dataclass(slots=True)
class Received:
    """One request the service accepted."""

    operation: str
    message_id: str | None
    params: dict[str, Any]
    envelope: bytes
    headers: dict[str, str]
    soap_version: str
    duplicate: bool = False


@dataclass(slots=True)
class Attempt:
    """Every POST, whatever became of it."""

    operation: str | None
    message_id: str | None
    outcome: str


@dataclass(slots=True)
class Reply:
    status: int
    content_type: str
    body: bytes
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class SoapFault(Exception):
    def __init__(self, code: Literal["Client", "Server"], message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _element_to_data(element: etree._Element) -> Any:
    children = [child for child in element if isinstance(child.tag, str)]
    if not children:
        return element.text or ""
    data: dict[str, Any] = {}
    for child in children:
        name = etree.QName(child).localname
        value = _element_to_data(child)
        if name in LIST_FIELDS:
            data.setdefault(name, []).append(value)
        else:
            data[name] = value
    return data


def _data_to_elements(parent: etree._Element, data: dict[str, Any]) -> None:
    for name, value in data.items():
        for item in value if isinstance(value, list) else [value]:
            child = etree.SubElement(parent, f"{{{TNS}}}{name}")
            if isinstance(item, dict):
                _data_to_elements(child, item)
            else:
                child.text = str(item)


def _schema() -> etree.XMLSchema:
    wsdl = etree.parse(str(WSDL_PATH), _safe_parser())
    schema = wsdl.find(".//{http://www.w3.org/2001/XMLSchema}schema")
    assert schema is not None
    return etree.XMLSchema(schema)


class LandRegistryService:
    """The service's state and behaviour; :meth:`asgi_app` serves it over HTTP."""

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        certificates: list[dict[str, Any]] | None = None,
    ) -> None:
        self.username = username
        self.password = password
        self._lock = threading.Lock()
        self._schema = _schema()
        self._script: deque[tuple[Behaviour, float]] = deque()
        self._always: tuple[Behaviour, float] | None = None
        self._receipts: dict[str, str] = {}
        self.received: list[Received] = []
        self.attempts: list[Attempt] = []
        self.external_fetches = 0  # fetches of the external DTD a malicious reply points to
        self.wsdl_fetches = 0
        self.certificates = {c["SoPhatHanh"]: c for c in certificates or SAMPLE_CERTIFICATES}

    # --- steering -----------------------------------------------------------------------------
    def script(self, behaviour: Behaviour, times: int = 1, *, delay: float = 0.0) -> None:
        """The next ``times`` requests misbehave as ``behaviour`` (``delay`` for ``slow``)."""
        with self._lock:
            self._script.extend([(behaviour, delay)] * times)

    def always(self, behaviour: Behaviour | None, *, delay: float = 0.0) -> None:
        """Misbehave on every request until called again with ``None``."""
        with self._lock:
            self._always = None if behaviour is None else (behaviour, delay)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self._always = None
            self._receipts.clear()
            self.received.clear()
            self.attempts.clear()
            self.external_fetches = 0
            self.wsdl_fetches = 0

    # --- what arrived -------------------------------------------------------------------------
    def received_message_ids(self) -> list[str]:
        """Distinct message ids of accepted dossiers, in arrival order."""
        with self._lock:
            return [r.message_id for r in self.received if r.message_id and not r.duplicate]

    def dossiers(self) -> dict[str, dict[str, Any]]:
        """Accepted dossiers by message id (first copy)."""
        with self._lock:
            return {
                r.message_id: r.params["Dossier"]
                for r in self.received
                if r.operation == "ReceiveDossier" and r.message_id and not r.duplicate
            }

    # --- HTTP ---------------------------------------------------------------------------------
    def wsdl(self, endpoint_url: str) -> bytes:
        return WSDL_PATH.read_bytes().replace(PLACEHOLDER_ADDRESS.encode(), endpoint_url.encode())

    def _next_behaviour(self) -> tuple[Behaviour, float] | None:
        with self._lock:
            if self._script:
                return self._script.popleft()
            return self._always

    def handle(self, body: bytes, headers: dict[str, str], base_url: str) -> Reply:
        """Answer one POSTed SOAP request."""
        soap_ns = SOAP11
        operation: str | None = None
        message_id: str | None = None
        try:
            envelope = self._parse(body)
            soap_ns = etree.QName(envelope).namespace or SOAP11
            self._check_security(envelope, soap_ns)
            request = envelope.find(f"{{{soap_ns}}}Body/*")
            if request is None:
                raise SoapFault("Client", "empty SOAP body")
            operation = etree.QName(request).localname
            message_id = request.findtext(f"{{{TNS}}}MessageId")
            behaviour = self._next_behaviour()
            if behaviour is not None and behaviour[0] != "slow":
                self._record_attempt(operation, message_id, behaviour[0])
                return self._misbehave(behaviour[0], soap_ns, base_url)
            if not self._schema.validate(request):
                error = self._schema.error_log.last_error
                raise SoapFault("Client", f"request does not match the schema: {error.message}")
            reply = self._dispatch(operation, request, message_id, body, headers, soap_ns)
            reply.delay = behaviour[1] if behaviour else 0.0
            self._record_attempt(operation, message_id, "ok")
            return reply
        except SoapFault as fault:
            self._record_attempt(operation, message_id, f"fault:{fault.code}")
            return self._fault(soap_ns, fault.code, fault.message)

    def _record_attempt(self, operation: str | None, message_id: str | None, outcome: str) -> None:
        with self._lock:
            self.attempts.append(Attempt(operation, message_id, outcome))

    def _parse(self, body: bytes) -> etree._Element:
        try:
            envelope = etree.fromstring(body, _safe_parser())
        except etree.XMLSyntaxError as exc:
            raise SoapFault("Client", f"malformed XML: {exc}") from exc
        if envelope.getroottree().docinfo.doctype:
            raise SoapFault("Client", "DTDs are not accepted")
        if etree.QName(envelope).localname != "Envelope" or etree.QName(envelope).namespace not in (
            SOAP11,
            SOAP12,
        ):
            raise SoapFault("Client", "not a SOAP envelope")
        return envelope

    def _check_security(self, envelope: etree._Element, soap_ns: str) -> None:
        if self.username is None:
            return
        token = envelope.find(f"{{{soap_ns}}}Header/{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
        if token is None:
            raise SoapFault("Client", "WS-Security UsernameToken required")
        username = token.findtext(f"{{{WSSE}}}Username")
        password = token.find(f"{{{WSSE}}}Password")
        if username != self.username or password is None or self.password is None:
            raise SoapFault("Client", "authentication failed")
        if (password.get("Type") or "").endswith("#PasswordDigest"):
            nonce = base64.b64decode(token.findtext(f"{{{WSSE}}}Nonce") or "")
            created = (token.findtext(f"{{{WSU}}}Created") or "").encode()
            expected = base64.b64encode(
                hashlib.sha1(nonce + created + self.password.encode()).digest()  # noqa: S324 - WS-Security 1.0 digest
            ).decode()
        else:
            expected = self.password
        if (password.text or "") != expected:
            raise SoapFault("Client", "authentication failed")

    def _dispatch(
        self,
        operation: str,
        request: etree._Element,
        message_id: str | None,
        body: bytes,
        headers: dict[str, str],
        soap_ns: str,
    ) -> Reply:
        params = _element_to_data(request)
        answer: dict[str, Any]
        if operation == "ReceiveDossier":
            assert message_id is not None  # required by the schema
            with self._lock:
                duplicate = message_id in self._receipts
                receipt = self._receipts.setdefault(message_id, f"BN-{len(self._receipts) + 1:06d}")
                self.received.append(
                    Received(operation, message_id, params, body, headers, soap_ns, duplicate)
                )
            now = datetime.now(LOCAL_TZ).replace(microsecond=0).isoformat()
            answer = {
                "Accepted": "true",
                "ReceiptNumber": receipt,
                "ReceivedAt": now,
                "Duplicate": "true" if duplicate else "false",
            }
        elif operation == "LookupCertificate":
            with self._lock:
                self.received.append(Received(operation, None, params, body, headers, soap_ns))
                certificate = self.certificates.get(str(params.get("SoPhatHanh", "")))
            answer = {"Found": "true" if certificate else "false"}
            if certificate:
                answer["Certificate"] = certificate
        else:
            raise SoapFault("Client", f"unknown operation {operation}")
        return self._envelope(soap_ns, f"{operation}Response", answer)

    # --- replies ------------------------------------------------------------------------------
    @staticmethod
    def _content_type(soap_ns: str) -> str:
        return (
            "text/xml; charset=utf-8"
            if soap_ns == SOAP11
            else "application/soap+xml; charset=utf-8"
        )

    def _envelope(self, soap_ns: str, name: str, data: dict[str, Any]) -> Reply:
        envelope = etree.Element(f"{{{soap_ns}}}Envelope", nsmap={"soap": soap_ns, "lr": TNS})
        body = etree.SubElement(envelope, f"{{{soap_ns}}}Body")
        _data_to_elements(etree.SubElement(body, f"{{{TNS}}}{name}"), data)
        xml = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
        return Reply(200, self._content_type(soap_ns), xml)

    def _fault(self, soap_ns: str, code: Literal["Client", "Server"], message: str) -> Reply:
        envelope = etree.Element(f"{{{soap_ns}}}Envelope", nsmap={"soap": soap_ns})
        fault = etree.SubElement(
            etree.SubElement(envelope, f"{{{soap_ns}}}Body"), f"{{{soap_ns}}}Fault"
        )
        if soap_ns == SOAP11:
            etree.SubElement(fault, "faultcode").text = f"soap:{code}"
            etree.SubElement(fault, "faultstring").text = message
            status = 500  # SOAP 1.1 sends every fault with 500
        else:
            value = "Sender" if code == "Client" else "Receiver"
            code_el = etree.SubElement(fault, f"{{{soap_ns}}}Code")
            etree.SubElement(code_el, f"{{{soap_ns}}}Value").text = f"soap:{value}"
            reason = etree.SubElement(fault, f"{{{soap_ns}}}Reason")
            text = etree.SubElement(reason, f"{{{soap_ns}}}Text")
            text.set("{http://www.w3.org/XML/1998/namespace}lang", "vi")
            text.text = message
            status = 400 if code == "Client" else 500
        xml = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
        return Reply(status, self._content_type(soap_ns), xml)

    def _misbehave(self, behaviour: Behaviour, soap_ns: str, base_url: str) -> Reply:
        if behaviour == "http_500":
            return Reply(500, "text/plain", b"Internal Server Error")
        if behaviour == "http_503":
            return Reply(503, "text/plain", b"maintenance", headers={"Retry-After": "7"})
        if behaviour == "server_fault":
            return self._fault(soap_ns, "Server", "Hệ thống đang bận, vui lòng thử lại sau")
        if behaviour == "client_fault":
            return self._fault(soap_ns, "Client", "Hồ sơ không hợp lệ: thiếu MaHoSoMotCua")
        if behaviour == "not_xml":
            return Reply(200, "text/html", b"<html><body>Login required</body></html>")
        if behaviour == "xml_bomb":
            entities = ['<!ENTITY lol0 "lol">'] + [
                f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
            ]
            doctype = f"<!DOCTYPE soap:Envelope [{''.join(entities)}]>"
            payload = "&lol9;"
        elif behaviour == "dtd_utf16":
            # Nothing to expand or fetch: only a parser that refuses every DTD stops it.
            doctype = '<!DOCTYPE soap:Envelope [<!ATTLIST lr:ReceiptNumber kind CDATA "forged">]>'
            payload = "R-1"
        else:  # xxe, xxe_utf16
            doctype = (
                '<!DOCTYPE soap:Envelope SYSTEM "' + base_url + '/evil.dtd" ['
                '<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            )
            payload = "&xxe;"
        xml = (
            f'<?xml version="1.0"?>{doctype}<soap:Envelope xmlns:soap="{soap_ns}" '
            f'xmlns:lr="{TNS}"><soap:Body><lr:ReceiveDossierResponse>'
            f"<lr:Accepted>true</lr:Accepted><lr:ReceiptNumber>{payload}</lr:ReceiptNumber>"
            "<lr:ReceivedAt>2026-01-01T00:00:00+07:00</lr:ReceivedAt>"
            "<lr:Duplicate>false</lr:Duplicate></lr:ReceiveDossierResponse></soap:Body>"
            "</soap:Envelope>"
        )
        encoding = "utf-16" if behaviour.endswith("_utf16") else "utf-8"
        if encoding == "utf-16":
            xml = xml.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>')
        return Reply(200, self._content_type(soap_ns), xml.encode(encoding))

    def asgi_app(self, path: str = "/land-registry") -> Any:
        """An ASGI app: ``GET {path}?wsdl`` the WSDL (address rewritten), ``POST {path}`` SOAP."""

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "lifespan":
                while (await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})
                return
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
            }
            base_url = f"{scope['scheme']}://{headers.get('host', '127.0.0.1')}"
            chunks = []
            more = True
            while more:
                event = await receive()
                chunks.append(event.get("body", b""))
                more = event.get("more_body", False)
            if scope["method"] == "GET" and scope["path"] == path:
                with self._lock:
                    self.wsdl_fetches += 1
                reply = Reply(200, "text/xml; charset=utf-8", self.wsdl(base_url + path))
            elif scope["path"] == "/evil.dtd":
                with self._lock:
                    self.external_fetches += 1
                reply = Reply(200, "application/xml-dtd", b'<!ENTITY leak "leaked">')
            elif scope["method"] == "POST" and scope["path"] == path:
                reply = await asyncio.to_thread(self.handle, b"".join(chunks), headers, base_url)
            else:
                reply = Reply(404, "text/plain", b"not found")
            if reply.delay:
                await asyncio.sleep(reply.delay)
            out = [(b"content-type", reply.content_type.encode())]
            out += [(k.lower().encode(), v.encode()) for k, v in reply.headers.items()]
            await send({"type": "http.response.start", "status": reply.status, "headers": out})
            await send({"type": "http.response.body", "body": reply.body})

        return app


@dataclass(frozen=True, slots=True)
class RunningService:
    base_url: str
    endpoint_url: str
    wsdl_url: str
    service: LandRegistryService


@contextmanager
def serve_land_registry(service: LandRegistryService | None = None) -> Iterator[RunningService]:
    """Serve a land registry on 127.0.0.1 (a free port) for the duration of the block."""
    service = service or LandRegistryService()
    with serve_asgi(service.asgi_app()) as base_url:
        endpoint = base_url + "/land-registry"
        yield RunningService(base_url, endpoint, endpoint + "?wsdl", service)
