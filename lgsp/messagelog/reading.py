"""Reading personal data: masked by default, unmasked only with a reason that is logged first.

Every place where an auditor or an administrator reads a payload or a log entry (the audit API,
a message read by an auditor, the dead-letter endpoints, ``lgsp log show``/``export``,
``lgsp dead-letters show``) goes through here:

- :func:`shown` masks a value (lgsp/messagelog/masking.py) unless the read is an unmasked one;
- :func:`unmask` turns a request to unmask into an :class:`Unmasked` read: it refuses one
  without a reason, and writes and commits an ``audit.unmask`` entry (who, from where, why and
  what) *before* the caller shows anything;
- :func:`search` is the log search both the API and the CLI use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from lgsp.kit.db import transaction
from lgsp.kit.errors import BadRequest
from lgsp.messagelog import repository
from lgsp.messagelog.masking import mask_payload
from lgsp.messagelog.service import append as log_append
from lgsp.messagelog.service import entry_view

MAX_REASON = 500


@dataclass(frozen=True)
class Reader:
    """Who reads: the client (API) or the person named on the command line, with the OS user
    that ran the command (CLI), so a typed name is never the only record."""

    actor: str
    via: str  # "api" or "cli"
    agency: str | None = None
    os_user: str | None = None


@dataclass(frozen=True)
class Unmasked:
    """Proof that an unmasked read was logged; only :func:`unmask` makes one."""

    reader: Reader
    reason: str


def check_reason(unmask: bool, reason: str | None) -> str | None:
    """The reason of an unmasked read, refused (400) when missing or unreadable."""
    if not unmask:
        return None
    text = (reason or "").strip()
    if not text:
        raise BadRequest("unmasking needs a reason (it is logged with your identity)")
    if len(text) > MAX_REASON or not text.isprintable():
        raise BadRequest(f"the reason must be printable text of at most {MAX_REASON} characters")
    return text


def unmask(
    sessions: sessionmaker[Session],
    reader: Reader,
    reason: str,
    *,
    what: str,
    **detail: Any,
) -> Unmasked:
    """Log (and commit) an unmasked read of ``what`` before anything is shown."""
    with transaction(sessions) as session:
        log_append(
            session,
            "audit.unmask",
            actor=reader.actor,
            agency=reader.agency,
            message_id=detail.pop("message_id", None),
            detail={
                "via": reader.via,
                "what": what,
                "reason": reason,
                **({"os_user": reader.os_user} if reader.os_user else {}),
                **detail,
            },
        )
    return Unmasked(reader, reason)


def shown(value: Any, unmasked: Unmasked | None) -> Any:
    """``value`` as the reader may see it."""
    return value if unmasked is not None else mask_payload(value)


@dataclass(frozen=True)
class LogFilters:
    message_id: str | None = None
    correlation_key: str | None = None
    kind: str | None = None
    agency: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_id: int | None = None

    def given(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.__dict__.items() if v is not None}


def search(
    sessions: sessionmaker[Session],
    filters: LogFilters,
    *,
    reader: Reader,
    limit: int,
    newest_first: bool = True,
    reason: str | None = None,
) -> list[dict[str, Any]]:
    """Log entries matching ``filters``, masked unless ``reason`` is given: then the unmasked
    read (with the ids of the entries shown) is logged before they are returned."""
    with sessions() as session:
        entries = repository.search(
            session,
            message_id=filters.message_id,
            correlation_key=filters.correlation_key,
            kind=filters.kind,
            agency=filters.agency,
            since=filters.since,
            until=filters.until,
            after_id=filters.after_id,
            limit=limit,
            newest_first=newest_first,
        )
        views = [entry_view(e, unmask=reason is not None) for e in entries]
    if reason is not None:
        unmask(
            sessions,
            reader,
            reason,
            what="log",
            filters=filters.given(),
            entry_ids=[v["id"] for v in views],
        )
    return views
