"""Dead letters (list, inspect, replay) and retention. A replay reopens the delivery through its
owner (its retry window starts again) and is itself an entry in the message log.

Each function is one unit of work: it takes the session factory and opens (and commits) its own
session, so endpoints and CLI commands never hold one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from lgsp.admin import repository
from lgsp.deliveries import service as deliveries
from lgsp.deliveries.models import Delivery
from lgsp.exchange import repository as messages
from lgsp.exchange.models import Message
from lgsp.kit import jsonutil
from lgsp.kit.db import transaction
from lgsp.kit.timeutil import utcnow
from lgsp.messagelog.service import append as log_append

Sessions = sessionmaker[Session]


@dataclass(frozen=True)
class DeadLetter:
    delivery_id: int
    message_id: str
    type: str
    sender: str
    recipient: str
    correlation_key: str | None
    attempts: int
    reason: str | None
    last_status_code: int | None
    accepted_at: str
    dead_at: str | None


def _view(d: Delivery, m: Message) -> DeadLetter:
    return DeadLetter(
        delivery_id=d.id,
        message_id=m.id,
        type=m.type,
        sender=m.sender,
        recipient=d.recipient,
        correlation_key=d.correlation_key,
        attempts=d.attempts,
        reason=d.last_error,
        last_status_code=d.last_status_code,
        accepted_at=m.accepted_at.isoformat(),
        dead_at=d.finished_at.isoformat() if d.finished_at else None,
    )


def list_dead(
    sessions: Sessions, *, recipient: str | None = None, limit: int = 100, after_id: int = 0
) -> list[DeadLetter]:
    with sessions() as session:
        rows = repository.dead_letters(session, recipient=recipient, limit=limit, after_id=after_id)
        return [_view(d, m) for d, m in rows]


def get_dead(sessions: Sessions, delivery_id: int) -> tuple[DeadLetter, Any] | None:
    """A dead letter and its message's payload (None once purged)."""
    with sessions() as session:
        row = repository.dead_letter(session, delivery_id)
    if row is None:
        return None
    delivery, message = row
    payload = jsonutil.loads(message.payload) if message.payload else None
    return _view(delivery, message), payload


def replay(
    sessions: Sessions,
    *,
    actor: str,
    delivery_ids: Sequence[int] = (),
    message_ids: Sequence[str] = (),
    recipient: str | None = None,
    everything: bool = False,
) -> list[int]:
    """Reopen dead deliveries chosen by id, by message, by recipient, or all of them."""
    with transaction(sessions) as session:
        now = utcnow()
        rows = deliveries.reopen_dead(
            session,
            delivery_ids=delivery_ids,
            message_ids=message_ids,
            recipient=recipient,
            everything=everything,
            now=now,
        )
        for r in rows:
            log_append(
                session,
                "delivery.replayed",
                actor=actor,
                agency=r.recipient,
                message_id=r.message_id,
                correlation_key=r.correlation_key,
                detail={
                    "delivery_id": r.id,
                    "previous_error": r.last_error,
                    "attempts": r.attempts,
                },
                at=now,
            )
        return [r.id for r in rows]


def purge_payloads(sessions: Sessions, *, before: datetime, actor: str) -> int:
    """Retention: drop the bodies of messages accepted before ``before`` whose every delivery
    is finished. The message row, its hash and the whole log stay, so what was exchanged, when
    and between whom can still be proven (and a kept copy checked against the hash)."""
    with transaction(sessions) as session:
        ids = messages.finished_with_payload(session, accepted_before=before)
        messages.drop_payloads(session, ids)
        log_append(
            session,
            "admin.payloads_purged",
            actor=actor,
            detail={"accepted_before": before.isoformat(), "messages": len(ids)},
        )
        return len(ids)
