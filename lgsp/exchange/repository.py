"""Every query of the exchange domain (messages; deliveries are read through their owner)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.orm import Session

from lgsp.deliveries.models import FINAL_STATES, Delivery, DeliveryState
from lgsp.exchange.models import Message

# Built once: the worker runs it before every attempt, and building it each time cost a third
# of the read.
_DELIVERY_WITH_MESSAGE = (
    select(Delivery, Message)
    .join(Message, Message.id == Delivery.message_id)
    .where(Delivery.id == bindparam("delivery_id"))
)


def delivery_with_message(session: Session, delivery_id: int) -> tuple[Delivery, Message] | None:
    """A delivery and its message in one query (the worker's read before each attempt)."""
    row = session.execute(_DELIVERY_WITH_MESSAGE, {"delivery_id": delivery_id}).first()
    return (row[0], row[1]) if row is not None else None


def get_message(session: Session, message_id: str) -> Message | None:
    return session.get(Message, message_id)


def find_by_idempotency_key(session: Session, sender: str, key: str) -> Message | None:
    return session.scalars(
        select(Message).where(Message.sender == sender, Message.idempotency_key == key)
    ).first()


def inbox_page(
    session: Session, recipient: str, *, limit: int, after_id: int | None = None
) -> Sequence[tuple[Delivery, Message]]:
    query = (
        select(Delivery, Message)
        .join(Message, Message.id == Delivery.message_id)
        .where(Delivery.recipient == recipient, Delivery.state == DeliveryState.INBOX)
        .order_by(Delivery.id)
        .limit(limit)
    )
    if after_id is not None:
        query = query.where(Delivery.id > after_id)
    return [(d, m) for d, m in session.execute(query)]


def sent_by(session: Session, agency: str) -> bool:
    """Whether ``agency`` ever sent a message."""
    return bool(session.scalar(select(exists().where(Message.sender == agency))))


def of_type(session: Session, message_type: str) -> bool:
    """Whether any message of ``message_type`` is stored."""
    return bool(session.scalar(select(exists().where(Message.type == message_type))))


def finished_with_payload(session: Session, *, accepted_before: datetime) -> list[str]:
    """Messages accepted before ``accepted_before`` that still hold their body and whose every
    delivery is final."""
    unfinished = exists().where(
        Delivery.message_id == Message.id, Delivery.state.not_in(list(FINAL_STATES))
    )
    return list(
        session.scalars(
            select(Message.id).where(
                Message.accepted_at < accepted_before, Message.payload.is_not(None), ~unfinished
            )
        )
    )


def drop_payloads(session: Session, message_ids: list[str]) -> None:
    for start in range(0, len(message_ids), 500):
        session.execute(
            update(Message)
            .where(Message.id.in_(message_ids[start : start + 500]))
            .values(payload=None)
        )
