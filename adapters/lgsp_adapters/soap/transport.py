"""The zeep transport of the SOAP adapter: talks only to the configured hosts, never follows a
redirect (a 3xx would carry the envelope, WS-Security password included, to a host nobody
configured), reads every reply and WSDL with a size cap, and keeps the raw envelopes of each
exchange for the message log (per thread, so concurrent calls don't mix)."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import requests
from requests.adapters import HTTPAdapter
from zeep.transports import Transport

from lgsp_adapters.base import Capture, truncate
from lgsp_adapters.deadline import Deadline, body_deadline
from lgsp_adapters.rest.http import read_capped

Origin = tuple[str, str, int]


class DestinationRefused(Exception):
    """The WSDL or a reply tried to send the adapter somewhere it was not configured to go."""


class UnsafeReply(Exception):
    """The reply declares a DTD: the carrier of entity-expansion and external-entity attacks."""


# The prolog of an XML document: declaration, comments, processing instructions, whitespace.
_DOCTYPE_IN_PROLOG = re.compile(rb"^(?:\xef\xbb\xbf)?(?:\s+|<\?.*?\?>|<!--.*?-->)*<!DOCTYPE", re.S)


def declares_dtd(content: bytes) -> bool:
    """Whether a reply carries a DOCTYPE. SOAP forbids DTDs, so refusing any is safe; zeep's
    own ``forbid_dtd`` stays on as the second line (for instance for UTF-16 replies)."""
    return _DOCTYPE_IN_PROLOG.match(content[:65536]) is not None


def origin(url: str) -> Origin:
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return (parsed.scheme, (parsed.hostname or "").lower(), port)


@dataclass(slots=True)
class Exchange:
    """What one call sent and got back, as it went over the wire."""

    captures: list[Capture] = field(default_factory=list)
    status_code: int | None = None
    retry_after: str | None = None


class NoRedirectSession(requests.Session):
    """A requests session that never follows a redirect, whatever a caller passes."""

    def get_redirect_target(self, resp: requests.Response) -> None:
        return None


def _read(response: requests.Response, limit: int, source: str, deadline: Deadline) -> bytes:
    """The body of a streamed response, capped and within the exchange's deadline
    (lgsp_adapters.deadline); stored where requests keeps a read body."""
    with response, body_deadline(response.raw, deadline) as cut:
        try:
            content = read_capped(
                response.iter_content(64 * 1024), limit, source, status=response.status_code
            )
        except Exception:
            if not cut():
                raise
        if cut():
            raise requests.ReadTimeout(f"{source} did not answer in full within the deadline")
    response._content = content  # the attribute behind .content, .text and zeep's parsing
    return content


class GuardedTransport(Transport):
    def __init__(
        self, *, timeout: float, verify_tls: bool, allow_files: bool, max_reply_bytes: int
    ) -> None:
        session = NoRedirectSession()
        session.verify = verify_tls
        # The delivery worker owns retries; the pool is shared by the worker threads.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        super().__init__(timeout=timeout, operation_timeout=timeout, session=session)  # type: ignore[no-untyped-call]
        self.allow_files = allow_files
        self.max_reply_bytes = max_reply_bytes
        self.allowed: set[Origin] = set()
        self._local = threading.local()

    def allow(self, url: str) -> None:
        self.allowed.add(origin(url))

    def _check(self, url: str) -> None:
        scheme = urlparse(url).scheme
        if scheme in ("http", "https"):
            if origin(url) not in self.allowed:
                raise DestinationRefused(f"{url} is not the configured WSDL or endpoint")
        elif not self.allow_files:
            # A WSDL fetched over the network must not make us read local files.
            raise DestinationRefused(f"refusing to load {url!r} for a remote WSDL")

    def load(self, url: str) -> bytes:
        self._check(url)
        content: bytes = super().load(url)  # type: ignore[no-untyped-call]
        return content

    def _load_remote_data(self, url: str) -> bytes:
        deadline = Deadline(self.load_timeout)
        response = self.session.get(
            url, timeout=self.load_timeout, allow_redirects=False, stream=True
        )
        content = _read(response, self.max_reply_bytes, url, deadline)
        if 300 <= response.status_code < 400:
            raise DestinationRefused(
                f"{url} answered HTTP {response.status_code} (a redirect); redirects are refused"
            )
        response.raise_for_status()
        return content

    def get(self, address: str, params: Any, headers: dict[str, str]) -> requests.Response:
        """HTTP GET bindings: the same destination check, no redirect, the same cap."""
        self._check(address)
        response = self.session.get(
            address,
            params=params,
            headers=headers,
            timeout=self.operation_timeout,
            allow_redirects=False,
            stream=True,
        )
        _read(response, self.max_reply_bytes, address, Deadline(self.operation_timeout))
        return response

    def begin(self) -> Exchange:
        """Start recording the calling thread's exchange."""
        exchange = Exchange()
        self._local.exchange = exchange
        return exchange

    def post(self, address: str, message: Any, headers: dict[str, str]) -> requests.Response:
        self._check(address)
        exchange: Exchange | None = getattr(self._local, "exchange", None)
        if exchange is not None:
            body = message if isinstance(message, bytes | str) else str(message)
            exchange.captures.append(
                Capture("request", headers.get("Content-Type", "text/xml"), truncate(body))
            )
        deadline = Deadline(self.operation_timeout)
        response = self.session.post(
            address,
            data=message,
            headers=headers,
            timeout=self.operation_timeout,
            allow_redirects=False,
            stream=True,
        )
        _read(response, self.max_reply_bytes, address, deadline)
        if exchange is not None:
            exchange.status_code = response.status_code
            exchange.retry_after = response.headers.get("Retry-After")
            exchange.captures.append(
                Capture(
                    "response",
                    response.headers.get("Content-Type", ""),
                    truncate(response.content),
                )
            )
        if declares_dtd(response.content):
            raise UnsafeReply(
                "the reply declares a DTD (entity expansion / external entities), refused unread"
            )
        return response
