"""The two message-log entries of a mediated call: what the caller asked (``call.request``) and
how it ended (``call.response``, with the provider's status, the time taken, the problem if any
and the raw exchanges, credentials already redacted by the adapter)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lgsp_adapters.base import AdapterError, CallResult, Capture

from lgsp.kit import jsonutil
from lgsp.kit.errors import LGSPError
from lgsp.kit.groupcommit import GroupCommitter
from lgsp.kit.timeutil import utcnow
from lgsp.messagelog.models import LogEntry
from lgsp.messagelog.service import entry_values


@dataclass(frozen=True, slots=True)
class CallRecord:
    """Everything the log keeps of one call."""

    client_id: str
    caller: str
    provider: str
    service: str
    request_id: str
    payload: Any
    result: CallResult | None
    failure: AdapterError | None
    error: LGSPError | None
    duration_ms: float

    @property
    def status_code(self) -> int | None:
        if self.result is not None:
            return self.result.status_code
        return self.failure.status_code if self.failure is not None else None

    @property
    def captures(self) -> list[Capture]:
        if self.result is not None:
            return self.result.captures
        return self.failure.captures if self.failure is not None else []


def storable(text: str | None) -> str | None:
    """Text PostgreSQL's JSON accepts: a reply in UTF-16, decoded as UTF-8 for the capture, is
    full of NULs, which jsonb refuses (the whole log write, and so the call, would fail)."""
    return text.replace("\x00", "\ufffd") if text else text


def _request_entry(record: CallRecord, at: Any) -> dict[str, Any]:
    request_bytes = jsonutil.canonical(record.payload)
    return entry_values(
        "call.request",
        actor=record.client_id,
        agency=record.caller,
        detail={
            "provider": record.provider,
            "service": record.service,
            "request_id": record.request_id,
            "size": len(request_bytes),
        },
        body_sha256=jsonutil.sha256_hex(request_bytes),
        at=at,
    )


def _response_entry(record: CallRecord, at: Any) -> dict[str, Any]:
    result = record.result
    detail: dict[str, Any] = {
        "provider": record.provider,
        "service": record.service,
        "request_id": record.request_id,
        "status_code": record.status_code,
        "duration_ms": record.duration_ms,
        "error": storable(record.error.detail) if record.error is not None else None,
        "captures": [
            {"direction": c.direction, "content_type": c.content_type, "body": storable(c.body)}
            for c in record.captures
        ],
    }
    if record.failure is not None and record.error is not None:
        # The adapter's own words, which the caller's problem may leave out.
        detail["failure"] = storable(record.failure.reason)
    return entry_values(
        "call.response",
        actor="platform",
        agency=record.provider,
        detail=detail,
        body_sha256=jsonutil.sha256_hex(jsonutil.canonical(result.body))
        if result is not None
        else None,
        at=at,
    )


def write_call(writer: GroupCommitter, record: CallRecord) -> None:
    """Both legs in one transaction, shared with other calls and accepts (group commit)."""
    now = utcnow()
    writer.write(
        [(LogEntry, _request_entry(record, now)), (LogEntry, _response_entry(record, now))]
    )
