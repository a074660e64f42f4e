"""Writing to the message log.

Every accepted message, delivery attempt, dead letter, replay, synchronous call and admin action
is one entry, added in the same database transaction as the business rows it describes, so the
log and the state never disagree. Entries are hashed and signed later, in batches, by the sealer
(lgsp/messagelog/sealer.py); appending stays a plain INSERT on the hot path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.orm import Session

from lgsp.kit.jsonutil import canonical
from lgsp.kit.timeutil import utcnow
from lgsp.messagelog.chain import format_at
from lgsp.messagelog.masking import mask_payload
from lgsp.messagelog.models import LogEntry


def entry_values(
    kind: str,
    *,
    actor: str | None = None,
    agency: str | None = None,
    message_id: str | None = None,
    correlation_key: str | None = None,
    detail: dict[str, Any] | None = None,
    body_sha256: str | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The column values of one entry, ready for an INSERT (see :func:`append`)."""
    if at is None:
        at = utcnow()
    elif at.tzinfo is None:
        raise ValueError("log entry time must be timezone-aware")
    try:
        stored_detail = orjson.loads(canonical(detail)) if detail else {}
    except TypeError as exc:  # orjson.JSONEncodeError: not representable as canonical JSON
        raise ValueError(f"log entry detail is not JSON-serialisable: {exc}") from exc
    return {
        "at": at,
        "kind": kind,
        "actor": actor,
        "agency": agency,
        "message_id": message_id,
        "correlation_key": correlation_key,
        "detail": stored_detail,
        "body_sha256": body_sha256,
    }


def append(session: Session, kind: str, **fields: Any) -> LogEntry:
    """Add one entry to ``session``; the caller's commit makes it durable with its business rows.

    ``kind`` is dotted (``message.accepted``, ``delivery.attempt``, ``admin.<action>``, ...).
    Fields: ``actor``, ``agency``, ``message_id``, ``correlation_key``, ``detail``,
    ``body_sha256``, ``at``. ``detail`` must be JSON: it is stored in the form it will be hashed
    in (canonical JSON round trip: tuples become lists, datetimes ISO strings), so a value that
    could not be hashed is refused here rather than stalling the sealer later. ``at`` must be
    timezone-aware.
    """
    entry = LogEntry(**entry_values(kind, **fields))
    session.add(entry)
    return entry


def entry_view(entry: LogEntry, *, unmask: bool = False) -> dict[str, Any]:
    """An entry as admins see it: personal identifiers masked unless ``unmask`` (which the
    caller must log as an ``audit.unmask`` entry before showing anything)."""
    return {
        "id": entry.id,
        "at": format_at(entry.at),
        "kind": entry.kind,
        "actor": entry.actor,
        "agency": entry.agency,
        "message_id": entry.message_id,
        "correlation_key": entry.correlation_key,
        "detail": entry.detail if unmask else mask_payload(entry.detail),
        "body_sha256": entry.body_sha256,
        "batch_id": entry.batch_id,
    }
