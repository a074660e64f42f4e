"""Dead letters: list, inspect, replay. A replay reopens the delivery (its retry window starts
again) and is itself an entry in the message log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from lgsp.exchange.models import FINAL_STATES, Delivery, DeliveryState, Message
from lgsp.kit.timeutil import utcnow
from lgsp.messagelog.service import append as log_append


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
    session: Session, *, recipient: str | None = None, limit: int = 100, after_id: int = 0
) -> list[DeadLetter]:
    query = (
        select(Delivery, Message)
        .join(Message, Message.id == Delivery.message_id)
        .where(Delivery.state == DeliveryState.DEAD, Delivery.id > after_id)
        .order_by(Delivery.id)
        .limit(limit)
    )
    if recipient:
        query = query.where(Delivery.recipient == recipient)
    return [_view(d, m) for d, m in session.execute(query)]


def get_dead(session: Session, delivery_id: int) -> tuple[DeadLetter, Message] | None:
    row = session.execute(
        select(Delivery, Message)
        .join(Message, Message.id == Delivery.message_id)
        .where(Delivery.id == delivery_id, Delivery.state == DeliveryState.DEAD)
    ).first()
    return (_view(row[0], row[1]), row[1]) if row else None


def replay(
    session: Session,
    *,
    actor: str,
    delivery_ids: Sequence[int] = (),
    message_ids: Sequence[str] = (),
    recipient: str | None = None,
    everything: bool = False,
) -> list[int]:
    """Reopen dead deliveries chosen by id, by message, by recipient, or all of them."""
    query = select(Delivery).where(Delivery.state == DeliveryState.DEAD)
    if not everything:
        if not (delivery_ids or message_ids or recipient):
            return []
        if delivery_ids:
            query = query.where(Delivery.id.in_(delivery_ids))
        if message_ids:
            query = query.where(Delivery.message_id.in_(message_ids))
        if recipient:
            query = query.where(Delivery.recipient == recipient)
    rows = session.scalars(query.order_by(Delivery.id).with_for_update()).all()
    now = utcnow()
    ids = [r.id for r in rows]
    if not ids:
        return []
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.state == DeliveryState.DEAD)
        .values(
            state=DeliveryState.PENDING,
            next_attempt_at=now,
            created_at=now,
            finished_at=None,
            published_at=None,
            lease_owner=None,
            lease_until=None,
        )
    )
    for r in rows:
        log_append(
            session,
            "delivery.replayed",
            actor=actor,
            agency=r.recipient,
            message_id=r.message_id,
            correlation_key=r.correlation_key,
            detail={"delivery_id": r.id, "previous_error": r.last_error, "attempts": r.attempts},
            at=now,
        )
    return ids


def purge_payloads(session: Session, *, before: datetime, actor: str) -> int:
    """Retention: drop the bodies of messages accepted before ``before`` whose every delivery
    is finished. The message row, its hash and the whole log stay, so what was exchanged, when
    and between whom can still be proven (and a kept copy checked against the hash)."""
    finished = ~exists().where(
        Delivery.message_id == Message.id, Delivery.state.not_in(list(FINAL_STATES))
    )
    ids = list(
        session.scalars(
            select(Message.id).where(
                Message.accepted_at < before, Message.payload.is_not(None), finished
            )
        )
    )
    for start in range(0, len(ids), 500):
        session.execute(
            update(Message).where(Message.id.in_(ids[start : start + 500])).values(payload=None)
        )
    log_append(
        session,
        "admin.payloads_purged",
        actor=actor,
        detail={"accepted_before": before.isoformat(), "messages": len(ids)},
    )
    return len(ids)
