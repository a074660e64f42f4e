"""Every query of the exchange domain."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from lgsp.exchange.models import Delivery, DeliveryState, Message


def get_message(session: Session, message_id: str) -> Message | None:
    return session.get(Message, message_id)


def find_by_idempotency_key(session: Session, sender: str, key: str) -> Message | None:
    return session.scalars(
        select(Message).where(Message.sender == sender, Message.idempotency_key == key)
    ).first()


def deliveries_of(session: Session, message_id: str) -> Sequence[Delivery]:
    return session.scalars(
        select(Delivery).where(Delivery.message_id == message_id).order_by(Delivery.id)
    ).all()


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


def delivery_for(session: Session, message_id: str, recipient: str) -> Delivery | None:
    return session.scalars(
        select(Delivery)
        .where(Delivery.message_id == message_id, Delivery.recipient == recipient)
        .with_for_update()
    ).first()
