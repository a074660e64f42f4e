"""The generic SOAP adapter: zeep on the provider's WSDL, JSON in and out."""

from __future__ import annotations

import threading
from typing import Any

import requests
import zeep
from lxml import etree
from zeep.exceptions import (
    DTDForbidden,
    EntitiesForbidden,
    ExternalReferenceForbidden,
    Fault,
    TransportError,
    XMLSyntaxError,
)
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import ValidationError as ZeepValidationError
from zeep.wsse.username import UsernameToken

from lgsp.kit.jsonutil import dumps_str
from lgsp_adapters.base import (
    Adapter,
    AdapterConfigError,
    AdapterError,
    AdapterSettings,
    CallRequest,
    CallResult,
    DeliveryResult,
    Envelope,
    PermanentError,
    RetriableError,
    UpstreamTimeout,
    classify_http_status,
)
from lgsp_adapters.mapping import call_context, envelope_context, parse_mapping
from lgsp_adapters.rest.http import parse_retry_after
from lgsp_adapters.soap.convert import fault_is_client, to_json
from lgsp_adapters.soap.settings import SoapSettings
from lgsp_adapters.soap.transport import DestinationRefused, Exchange, GuardedTransport, UnsafeReply


def _zeep_settings() -> zeep.Settings:
    # Replies are untrusted: no DTDs, no entities, no fetching, no huge trees.
    return zeep.Settings(
        strict=True,
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
        xml_huge_tree=False,
    )


class SoapAdapter(Adapter):
    """Calls one operation of a SOAP service per delivered message, and any operation of it for
    synchronous calls. The WSDL is loaded once: at construction when it is a local file (so a
    broken one stops the start), at first use when it is a URL (the provider may be down at our
    start). Thread-safe."""

    name = "soap"
    Settings = SoapSettings

    def __init__(self, settings: AdapterSettings, *, agency_code: str, timeout: float) -> None:
        assert isinstance(settings, SoapSettings)
        super().__init__(settings, agency_code=agency_code, timeout=settings.timeout or timeout)
        self.config = settings
        self._transport = GuardedTransport(
            timeout=self.timeout,
            verify_tls=settings.verify_tls,
            allow_files=not settings.wsdl_is_remote,
            max_reply_bytes=settings.max_reply_bytes,
        )
        if settings.wsdl_is_remote:
            self._transport.allow(settings.wsdl)
        if settings.endpoint is not None:
            self._transport.allow(str(settings.endpoint))
        self._lock = threading.Lock()
        self._client: zeep.Client | None = None
        self._service: Any = None
        self._operations: frozenset[str] = frozenset()
        if not settings.wsdl_is_remote:
            try:
                self._load()
            except AdapterError as exc:
                raise AdapterConfigError(exc.reason) from exc

    # --- WSDL -----------------------------------------------------------------------------------
    def _load(self) -> tuple[zeep.Client, Any]:
        with self._lock:
            if self._client is not None:
                return self._client, self._service
            config = self.config
            wsse = None
            if config.ws_security is not None:
                wsse = UsernameToken(  # type: ignore[no-untyped-call]
                    config.ws_security.username,
                    config.ws_security.password.get_secret_value(),
                    use_digest=config.ws_security.digest,
                )
            try:
                client = zeep.Client(  # type: ignore[no-untyped-call]
                    config.wsdl, transport=self._transport, settings=_zeep_settings(), wsse=wsse
                )
                services = client.wsdl.services
                service = (
                    services[config.service] if config.service else next(iter(services.values()))
                )
                ports = service.ports
                port = ports[config.port] if config.port else next(iter(ports.values()))
            except (KeyError, StopIteration) as exc:
                raise AdapterConfigError(
                    f"WSDL {config.wsdl} has no service {config.service!r} / port {config.port!r}"
                ) from exc
            except DestinationRefused as exc:
                raise AdapterConfigError(f"WSDL {config.wsdl}: {exc}") from exc
            except (requests.RequestException, TransportError) as exc:
                raise RetriableError(f"cannot load the WSDL {config.wsdl}: {exc}") from exc
            except (ZeepError, etree.LxmlError, OSError, ValueError) as exc:
                raise AdapterConfigError(f"unusable WSDL {config.wsdl}: {exc}") from exc
            operations = frozenset(port.binding._operations)  # zeep offers no public listing
            if config.operation and config.operation not in operations:
                raise AdapterConfigError(
                    f"WSDL {config.wsdl} has no operation {config.operation!r} "
                    f"(it has {', '.join(sorted(operations))})"
                )
            address = str(config.endpoint) if config.endpoint else port.binding_options["address"]
            self._transport.allow(address)
            self._service = client.create_service(port.binding.name.text, address)  # type: ignore[no-untyped-call]
            self._operations = operations
            self._client = client
            return client, self._service

    @property
    def operations(self) -> frozenset[str]:
        """Operation names of the bound port (loads the WSDL)."""
        self._load()
        return self._operations

    # --- exchanges ------------------------------------------------------------------------------
    def _invoke(
        self, operation: str, params: dict[str, Any], headers: dict[str, str]
    ) -> tuple[Any, Exchange]:
        client, service = self._load()
        if operation not in self._operations:
            raise PermanentError(f"the service has no operation {operation!r}")
        exchange = self._transport.begin()
        try:
            with client.settings(extra_http_headers={**self.config.headers, **headers}):
                result = getattr(service, operation)(**params)
            return to_json(result), exchange
        except Exception as exc:
            raise self._convert(exc, exchange) from exc

    def _convert(self, exc: Exception, exchange: Exchange) -> AdapterError:
        """The adapter error for whatever zeep, requests or lxml raised."""
        status = exchange.status_code
        extra: dict[str, Any] = {"status_code": status, "captures": exchange.captures}
        if isinstance(exc, AdapterError):
            return exc
        if isinstance(exc, Fault):
            reason = f"SOAP fault {exc.code}: {exc.message}"
            if fault_is_client(exc.code):
                return PermanentError(reason, reply=exc.message, **extra)
            return RetriableError(
                reason,
                reply=exc.message,
                retry_after=parse_retry_after(exchange.retry_after),
                **extra,
            )
        if isinstance(exc, UnsafeReply):
            return PermanentError(f"unsafe XML in the reply: {exc}", **extra)
        if isinstance(exc, DTDForbidden | EntitiesForbidden | ExternalReferenceForbidden):
            return PermanentError(f"unsafe XML in the reply refused: {exc}", **extra)
        if isinstance(exc, TransportError):
            error = classify_http_status(exc.status_code or 0) or PermanentError
            return error(
                # zeep appends the whole body to its message; the body goes to ``reply`` instead.
                f"HTTP {exc.status_code} from the provider: {exc.message.split(chr(10))[0]}",
                reply=exc.content.decode("utf-8", "replace")
                if isinstance(exc.content, bytes)
                else None,
                retry_after=parse_retry_after(exchange.retry_after),
                **extra,
            )
        if isinstance(exc, XMLSyntaxError | etree.LxmlError):
            return PermanentError(f"unreadable reply: {exc}", **extra)
        if isinstance(exc, ZeepValidationError | TypeError) or (
            # zeep refuses a value of the wrong shape (an object or list for a string) with a
            # ValueError, before anything is sent.
            isinstance(exc, ValueError) and status is None
        ):
            # The payload does not fit the operation's parameters: resending cannot help.
            return PermanentError(f"payload does not fit the operation: {exc}", **extra)
        if isinstance(exc, requests.Timeout):
            return UpstreamTimeout(f"the provider did not answer within {self.timeout:g}s", **extra)
        if isinstance(exc, requests.RequestException):
            return RetriableError(f"cannot reach the provider: {exc}", **extra)
        if isinstance(exc, DestinationRefused):
            return AdapterConfigError(str(exc), **extra)
        if isinstance(exc, ZeepError):
            return PermanentError(f"SOAP error: {exc}", **extra)
        return PermanentError(f"unexpected {type(exc).__name__}: {exc}", **extra)

    def _params(self, envelope: Envelope) -> dict[str, Any]:
        config = self.config
        if config.mapping is not None:
            return config.mapping.build(envelope.payload, envelope_context(envelope))
        if config.payload_param:
            params: dict[str, Any] = {config.payload_param: envelope.payload}
        else:
            params = dict(envelope.payload)
        for param, attribute in config.envelope_params.items():
            value = getattr(envelope, attribute)
            if value is not None:
                params[param] = value.isoformat() if hasattr(value, "isoformat") else value
        return params

    def deliver(self, envelope: Envelope) -> DeliveryResult:
        if not self.config.operation:
            raise AdapterConfigError("no 'operation' configured for deliveries")
        headers = {
            "X-LGSP-Message-Id": envelope.message_id,
            "Idempotency-Key": envelope.message_id,
            "X-LGSP-Message-Type": envelope.type,
            "X-LGSP-Sender": envelope.sender,
        }
        if envelope.correlation_id:
            headers["X-LGSP-Correlation-Id"] = envelope.correlation_id
        reply, exchange = self._invoke(self.config.operation, self._params(envelope), headers)
        if self.config.mapping is not None and self.config.mapping.success is not None:
            self.config.mapping.success.check(
                reply,
                status_code=exchange.status_code,
                raw=dumps_str(reply),
                captures=exchange.captures,
            )
        return DeliveryResult(
            status_code=exchange.status_code, reply=dumps_str(reply), captures=exchange.captures
        )

    def call(self, request: CallRequest) -> CallResult:
        """Calls ``request.operation["operation"]`` (else the operation named like the service);
        a JSON object payload maps to its parameters by name, or through the service's
        ``operation.mapping``."""
        operation = str(request.operation.get("operation") or request.service)
        payload = request.payload
        mapping = parse_mapping(request.operation.get("mapping"), f"service {request.service}")
        params: dict[str, Any]
        if mapping is not None:
            params = mapping.build(payload, call_context(request))
        elif payload is None:
            params = {}
        elif isinstance(payload, dict):
            params = dict(payload)
        else:
            raise PermanentError("a SOAP call needs a JSON object payload (parameters by name)")
        headers = {"X-LGSP-Request-Id": request.request_id, "X-LGSP-Caller": request.caller}
        body, exchange = self._invoke(operation, params, headers)
        if mapping is not None and mapping.success is not None:
            mapping.success.check(
                body,
                status_code=exchange.status_code,
                raw=dumps_str(body),
                captures=exchange.captures,
            )
        return CallResult(
            status_code=exchange.status_code or 200, body=body, captures=exchange.captures
        )

    def close(self) -> None:
        self._transport.session.close()
