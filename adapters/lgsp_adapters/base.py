"""The adapter contract: how the platform reaches an agency system.

An adapter turns an :class:`Envelope` (one message for one recipient) into a call on the
recipient's system, and a :class:`CallRequest` (a synchronous mediated call) into a call on a
provider's service. Adapters are synchronous; the platform runs them on worker threads.

Errors are sorted at the adapter boundary, so the core never sees an httpx, zeep or lxml
exception::

    AdapterError
    ├── RetriableError        network failure, timeout, 5xx, 429: try again later
    │   └── UpstreamTimeout   the provider did not answer within the endpoint's timeout
    ├── PermanentError        4xx, the recipient rejected the content, unsafe or unreadable reply
    └── AdapterConfigError    the adapter's settings are wrong: raised at start-up

An adapter declares a pydantic ``Settings`` model; the registry validates the endpoint's settings
against it when the platform starts, and refuses to start on a broken adapter.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from lgsp_adapters.redaction import redact

REPLY_CAPTURE_LIMIT = 4096


def storable(text: str | None) -> str | None:
    """``text`` as PostgreSQL stores it in text and JSON columns: NUL refused there (a UTF-16
    reply decoded as UTF-8 is full of them, and the whole log write would fail) becomes U+FFFD."""
    return text.replace("\x00", "\ufffd") if text else text


def truncate(text: str | bytes | None, limit: int = REPLY_CAPTURE_LIMIT) -> str | None:
    """A reply or envelope shortened for the message log (and :func:`storable`)."""
    if text is None:
        return None
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = storable(text) or ""
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more chars]"


@dataclass(frozen=True, slots=True)
class Envelope:
    """One accepted message on its way to one recipient. ``message_id`` is stable across
    retries and replays, so a recipient deduplicates on it."""

    message_id: str
    type: str
    sender: str
    recipient: str
    payload: dict[str, Any]
    accepted_at: datetime
    correlation_id: str | None = None
    correlation_key: str | None = None
    attempt: int = 1


@dataclass(slots=True)
class Capture:
    """A raw exchange (for instance a SOAP envelope) kept in the message log. Credentials are
    redacted when the capture is made (:mod:`lgsp_adapters.redaction`): the log is sealed, so
    what is written there stays."""

    direction: Literal["request", "response"]
    content_type: str
    body: str | None

    def __post_init__(self) -> None:
        self.body = redact(self.body)

    def to_log(self) -> dict[str, Any]:
        """The capture as the message log keeps it (in an entry's ``captures``)."""
        return {
            "direction": self.direction,
            "content_type": self.content_type,
            "body": storable(self.body),
        }


@dataclass(slots=True)
class DeliveryResult:
    status_code: int | None = None
    reply: str | None = None  # truncated, credentials redacted
    captures: list[Capture] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.reply = redact(self.reply)


@dataclass(frozen=True, slots=True)
class CallRequest:
    """A synchronous mediated call: ``POST /v1/services/{provider}/{service}{path}``."""

    service: str
    operation: dict[str, Any]  # the service's configured operation description
    payload: Any
    caller: str
    request_id: str
    path: str = ""
    query: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class CallResult:
    status_code: int
    body: Any  # JSON-serialisable
    captures: list[Capture] = field(default_factory=list)


class AdapterError(Exception):
    """Base of every adapter failure. ``status_code`` and ``reply`` describe what the remote
    side answered, where it answered at all."""

    retriable: ClassVar[bool] = False

    def __init__(
        self,
        reason: str,
        *,
        status_code: int | None = None,
        reply: str | None = None,
        captures: list[Capture] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code
        self.reply = redact(truncate(reply))
        self.captures = captures or []
        # Seconds the remote side asked us to wait (``Retry-After``); a floor for the backoff.
        self.retry_after = retry_after


class RetriableError(AdapterError):
    retriable = True


class UpstreamTimeout(RetriableError):
    pass


class PermanentError(AdapterError):
    retriable = False


class AdapterConfigError(AdapterError):
    retriable = False


def classify_http_status(status: int) -> type[AdapterError] | None:
    """None for success; otherwise which failure an HTTP status is."""
    if 200 <= status < 300:
        return None
    if status in (408, 425, 429) or status >= 500:
        return RetriableError
    return PermanentError


class AdapterSettings(BaseModel):
    """Base of every adapter's settings model: unknown keys are an error, not a silent typo."""

    model_config = ConfigDict(extra="forbid")


class Adapter(ABC):
    """One instance per endpoint (agency); must be safe to call from several threads."""

    name: ClassVar[str]
    Settings: ClassVar[type[AdapterSettings]] = AdapterSettings

    def __init__(self, settings: AdapterSettings, *, agency_code: str, timeout: float) -> None:
        self.settings = settings
        self.agency_code = agency_code
        self.timeout = timeout

    @abstractmethod
    def deliver(self, envelope: Envelope) -> DeliveryResult:
        """Hand one message to the recipient. Return on success; raise RetriableError or
        PermanentError otherwise."""

    def call(self, request: CallRequest) -> CallResult:
        """Make a synchronous call on the provider. Adapters that offer no services keep this."""
        raise PermanentError(f"adapter {self.name!r} offers no synchronous services")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
