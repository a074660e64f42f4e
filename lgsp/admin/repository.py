"""Reads of the admin use cases that span domains (dead letters with their messages)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from lgsp.deliveries.models import Delivery, DeliveryState
from lgsp.exchange.models import Message


def dead_letters(
    session: Session, *, recipient: str | None, limit: int, after_id: int
) -> Sequence[tuple[Delivery, Message]]:
    query = (
        select(Delivery, Message)
        .join(Message, Message.id == Delivery.message_id)
        .where(Delivery.state == DeliveryState.DEAD, Delivery.id > after_id)
        .order_by(Delivery.id)
        .limit(limit)
    )
    if recipient:
        query = query.where(Delivery.recipient == recipient)
    return [(d, m) for d, m in session.execute(query)]


def dead_letter(session: Session, delivery_id: int) -> tuple[Delivery, Message] | None:
    row = session.execute(
        select(Delivery, Message)
        .join(Message, Message.id == Delivery.message_id)
        .where(Delivery.id == delivery_id, Delivery.state == DeliveryState.DEAD)
    ).first()
    return (row[0], row[1]) if row is not None else None
