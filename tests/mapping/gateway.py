"""A Viettel-style SMS brandname gateway (``wsCpMt``) for tests: its own WSDL (served at
``?wsdl``), SOAP 1.1 document/literal, answering ``result`` 1 (sent) or 0 (refused). Receivers
listed in ``refuse`` get 0; every request's parameters are recorded."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from lgsp_testkit.servers import serve_asgi
from lxml import etree

NS = "http://impl.bulkSms.ws/"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"

WSDL = """<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xs="http://www.w3.org/2001/XMLSchema"
    xmlns:tns="http://impl.bulkSms.ws/" name="CcApiService"
    targetNamespace="http://impl.bulkSms.ws/">
  <wsdl:types>
    <xs:schema targetNamespace="http://impl.bulkSms.ws/" elementFormDefault="unqualified">
      <xs:element name="wsCpMt">
        <xs:complexType>
          <xs:sequence>
            <xs:element name="User" type="xs:string"/>
            <xs:element name="Password" type="xs:string"/>
            <xs:element name="CPCode" type="xs:string"/>
            <xs:element name="RequestID" type="xs:string"/>
            <xs:element name="UserID" type="xs:string"/>
            <xs:element name="ReceiverID" type="xs:string"/>
            <xs:element name="ServiceID" type="xs:string"/>
            <xs:element name="CommandCode" type="xs:string"/>
            <xs:element name="Content" type="xs:string"/>
            <xs:element name="ContentType" type="xs:string"/>
          </xs:sequence>
        </xs:complexType>
      </xs:element>
      <xs:element name="wsCpMtResponse">
        <xs:complexType>
          <xs:sequence>
            <xs:element name="return" type="tns:result" minOccurs="0"/>
          </xs:sequence>
        </xs:complexType>
      </xs:element>
      <xs:complexType name="result">
        <xs:sequence>
          <xs:element name="message" type="xs:string" minOccurs="0"/>
          <xs:element name="result" type="xs:int"/>
        </xs:sequence>
      </xs:complexType>
    </xs:schema>
  </wsdl:types>
  <wsdl:message name="wsCpMt"><wsdl:part name="parameters" element="tns:wsCpMt"/></wsdl:message>
  <wsdl:message name="wsCpMtResponse">
    <wsdl:part name="parameters" element="tns:wsCpMtResponse"/>
  </wsdl:message>
  <wsdl:portType name="CcApi">
    <wsdl:operation name="wsCpMt">
      <wsdl:input message="tns:wsCpMt"/>
      <wsdl:output message="tns:wsCpMtResponse"/>
    </wsdl:operation>
  </wsdl:portType>
  <wsdl:binding name="CcApiPortBinding" type="tns:CcApi">
    <soap:binding transport="http://schemas.xmlsoap.org/soap/http" style="document"/>
    <wsdl:operation name="wsCpMt">
      <soap:operation soapAction=""/>
      <wsdl:input><soap:body use="literal"/></wsdl:input>
      <wsdl:output><soap:body use="literal"/></wsdl:output>
    </wsdl:operation>
  </wsdl:binding>
  <wsdl:service name="CcApi">
    <wsdl:port name="CcApiPort" binding="tns:CcApiPortBinding">
      <soap:address location="{address}"/>
    </wsdl:port>
  </wsdl:service>
</wsdl:definitions>
"""

REPLY = """<?xml version="1.0" encoding="UTF-8"?>
<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body>
<ns2:wsCpMtResponse xmlns:ns2="http://impl.bulkSms.ws/"><return>
<message>{message}</message><result>{result}</result>
</return></ns2:wsCpMtResponse></S:Body></S:Envelope>"""


@dataclass
class Gateway:
    refuse: set[str] = field(default_factory=set)
    received: list[dict[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, body: bytes) -> str:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        envelope = etree.fromstring(body, parser)
        call = envelope.find(f"{{{SOAP11}}}Body/{{{NS}}}wsCpMt")
        assert call is not None, body
        params = {etree.QName(child).localname: child.text or "" for child in call}
        with self._lock:
            self.received.append(params)
            refused = params["ReceiverID"] in self.refuse
        if refused:
            return REPLY.format(message="Thue bao khong hop le", result=0)
        return REPLY.format(message="Success", result=1)

    def asgi(self, address: list[str]) -> Any:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "lifespan":
                while True:
                    message = await receive()
                    kind = message["type"].removeprefix("lifespan.")
                    await send({"type": f"lifespan.{kind}.complete"})
                    if kind == "shutdown":
                        return
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            if scope["method"] == "GET":
                text = WSDL.replace("{address}", address[0])
            else:
                text = self.answer(body)
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"text/xml; charset=utf-8")],
                }
            )
            await send({"type": "http.response.body", "body": text.encode()})

        return app


@contextmanager
def serve_gateway(gateway: Gateway) -> Iterator[str]:
    """Yield the WSDL URL of a running gateway."""
    address: list[str] = [""]
    with serve_asgi(gateway.asgi(address)) as base:
        address[0] = base + "/CcApi"
        yield address[0] + "?wsdl"
