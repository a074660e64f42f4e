"""The generic REST adapter: JSON over HTTP(S) to a recipient's or provider's API."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

import orjson

from lgsp_adapters.base import (
    Adapter,
    AdapterError,
    AdapterSettings,
    CallRequest,
    CallResult,
    Capture,
    DeliveryResult,
    Envelope,
    PermanentError,
    truncate,
)
from lgsp_adapters.mapping import call_context, envelope_context, parse_mapping
from lgsp_adapters.rest.auth import Authenticator
from lgsp_adapters.rest.http import Reply, make_pool, raise_for_status, send
from lgsp_adapters.rest.settings import RestSettings

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BODYLESS = frozenset({"GET", "HEAD", "DELETE"})


def join_url(base: str, *parts: str) -> str:
    url = base
    for part in parts:
        if part:
            url = url.rstrip("/") + "/" + part.lstrip("/")
    return url


def _escapes(segment: str) -> bool:
    decoded = unquote(segment)
    return (
        decoded in (".", "..")
        or any(c in decoded for c in "/\\?#")
        or any(ord(c) < 0x20 for c in decoded)
    )


def url_under(base: str, *parts: str) -> str:
    """``base`` with ``parts`` appended, refused (PermanentError) unless the result stays under
    ``base``: same scheme, host and port, the base's path as its prefix, and no segment that a
    server would read as a step up, an extra separator, a query or a fragment."""
    url = join_url(base, *parts)
    root, full = urlsplit(base), urlsplit(url)
    root_path = root.path.rstrip("/")
    added = full.path[len(root_path) :]
    if (
        (full.scheme, full.netloc) != (root.scheme, root.netloc)
        or full.query != root.query
        or full.fragment
        or not full.path.startswith(root_path)
        or (added and not added.startswith("/"))
        or any(_escapes(segment) for segment in added.split("/")[1:])
    ):
        raise PermanentError(f"the call's path would leave the service's address {base}")
    return url


def _fill_path(template: str, values: dict[str, Any]) -> tuple[str, set[str]]:
    """``/land/certificates/{SoPhatHanh}`` filled from ``values``; which names it used."""
    used: set[str] = set()

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values or values[name] is None:
            raise PermanentError(f"no value for {{{name}}} in the service path {template!r}")
        value = str(values[name])
        if value in ("", ".", ".."):
            raise PermanentError(f"{value!r} cannot fill {{{name}}} in the service path")
        used.add(name)
        return quote(value, safe="")

    return _PLACEHOLDER.sub(substitute, template), used


def _decode(reply: Reply) -> Any:
    if not reply.body:
        return None
    if "json" in reply.content_type or reply.body[:1] in (b"{", b"["):
        try:
            return orjson.loads(reply.body)
        except orjson.JSONDecodeError:
            pass
    return reply.text


class RestAdapter(Adapter):
    """POSTs each envelope's payload as JSON to ``url + path``.

    The recipient deduplicates on ``Idempotency-Key`` (the message id, stable across retries).
    One connection pool per adapter, shared by the worker threads.
    """

    name = "rest"
    Settings = RestSettings

    def __init__(self, settings: AdapterSettings, *, agency_code: str, timeout: float) -> None:
        super().__init__(settings, agency_code=agency_code, timeout=timeout)
        assert isinstance(settings, RestSettings)
        self.config = settings
        self._pool = make_pool(pool_size=settings.pool_size, verify_tls=settings.verify_tls)
        self._auth = Authenticator(settings.auth, self._pool, timeout)
        self._base_url = str(settings.url)

    def _exchange(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> Reply:
        def once() -> Reply:
            return send(
                self._pool,
                method,
                url,
                body=body,
                headers={**headers, **self._auth.headers()},
                timeout=self.timeout,
                max_reply_bytes=self.config.max_reply_bytes,
            )

        reply = once()
        if reply.status == 401 and self._auth.refreshable:
            # The cached token may have been revoked or the provider restarted: fetch a new one.
            self._auth.invalidate()
            reply = once()
        return reply

    def deliver(self, envelope: Envelope) -> DeliveryResult:
        url = join_url(self._base_url, self.config.path)
        headers = {
            **self.config.headers,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Idempotency-Key": envelope.message_id,
            "X-LGSP-Message-Id": envelope.message_id,
            "X-LGSP-Message-Type": envelope.type,
            "X-LGSP-Sender": envelope.sender,
            "X-LGSP-Attempt": str(envelope.attempt),
        }
        if envelope.correlation_id:
            headers["X-LGSP-Correlation-Id"] = envelope.correlation_id
        mapping = self.config.mapping
        body = (
            envelope.payload
            if mapping is None
            else mapping.build(envelope.payload, envelope_context(envelope))
        )
        reply = self._exchange(self.config.method, url, orjson.dumps(body), headers)
        raise_for_status(reply, url)
        if mapping is not None and mapping.success is not None:
            mapping.success.check(
                _decode(reply), status_code=reply.status, raw=reply.text, captures=[]
            )
        return DeliveryResult(status_code=reply.status, reply=truncate(reply.body))

    def call(self, request: CallRequest) -> CallResult:
        """``request.operation`` may carry ``method`` and a ``path`` template whose
        ``{placeholders}`` are filled from the query, then from the payload's top-level keys;
        ``request.path`` is appended and the rest of the query passed through."""
        mapping = parse_mapping(request.operation.get("mapping"), f"service {request.service}")
        payload = request.payload
        if mapping is not None:
            payload = mapping.build(payload, call_context(request))
        method = str(request.operation.get("method") or ("GET" if payload is None else "POST"))
        method = method.upper()
        values: dict[str, Any] = dict(payload) if isinstance(payload, dict) else {}
        values.update(request.query)
        template = str(request.operation.get("path") or "")
        path, used = _fill_path(template, values)
        url = url_under(self._base_url, path, request.path)
        query = {key: value for key, value in request.query.items() if key not in used}
        if query:
            url += ("&" if "?" in url else "?") + urlencode(query)
        headers = {
            **self.config.headers,
            "Accept": "application/json",
            "X-LGSP-Request-Id": request.request_id,
            "X-LGSP-Caller": request.caller,
        }
        body: bytes | None = None
        if method not in _BODYLESS and payload is not None:
            body = orjson.dumps(payload)
            headers["Content-Type"] = "application/json"
        captures = [
            Capture(
                "request",
                "application/json",
                truncate(f"{method} {url}\n" + (body or b"").decode()),
            )
        ]
        reply = self._exchange(method, url, body, headers)
        captures.append(Capture("response", reply.content_type, truncate(reply.body)))
        try:
            raise_for_status(reply, url)
            body_out = _decode(reply)
            if mapping is not None and mapping.success is not None:
                mapping.success.check(
                    body_out, status_code=reply.status, raw=reply.text, captures=captures
                )
        except AdapterError as exc:
            exc.captures = captures
            raise
        return CallResult(status_code=reply.status, body=body_out, captures=captures)

    def close(self) -> None:
        self._pool.clear()
