"""Every read of the deliveries table.

A delivery is *eligible* when it is open (pending or retrying), due, and the head of its chain:
no earlier open delivery to the same recipient shares its correlation key. That one rule gives
per-dossier ordering on every transport while other dossiers flow in parallel.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, select
from sqlalchemy.orm import Session, aliased

from lgsp.deliveries.models import Delivery, DeliveryState, is_open

_Query = TypeVar("_Query")


def eligible(now: datetime) -> list[ColumnElement[bool]]:
    """Conditions that make a delivery eligible now (open, due, head of its chain)."""
    earlier = aliased(Delivery)
    head_of_chain = ~exists().where(
        and_(
            earlier.recipient == Delivery.recipient,
            earlier.correlation_key == Delivery.correlation_key,
            earlier.id < Delivery.id,
            is_open(earlier.state),
        )
    )
    return [
        is_open(Delivery.state),
        Delivery.next_attempt_at <= now,
        head_of_chain,
    ]


def _locked(session: Session, query: _Query) -> _Query:
    """``query`` locked with SKIP LOCKED on PostgreSQL (SQLite has one writer anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(_Query, cast(Any, query).with_for_update(skip_locked=True, of=Delivery))
    return query


def leasable(
    session: Session, *, now: datetime, limit: int, exclude_recipients: Collection[str] = ()
) -> list[tuple[int, str]]:
    """Eligible, unleased deliveries (id, recipient), locked with SKIP LOCKED on PostgreSQL."""
    query = (
        select(Delivery.id, Delivery.recipient)
        .where(*eligible(now))
        .where((Delivery.lease_until.is_(None)) | (Delivery.lease_until < now))
        .order_by(Delivery.id)
        .limit(limit)
    )
    if exclude_recipients:
        query = query.where(Delivery.recipient.not_in(list(exclude_recipients)))
    return [(int(i), str(r)) for i, r in session.execute(_locked(session, query))]


def publishable(session: Session, *, now: datetime, limit: int) -> Sequence[Delivery]:
    """Eligible deliveries whose current attempt is not on the broker yet (the amqp relay).
    Locked (SKIP LOCKED on PostgreSQL) so two relays never publish the same row at once."""
    query = (
        select(Delivery)
        .where(*eligible(now))
        .where(Delivery.published_at.is_(None))
        .order_by(Delivery.id)
        .limit(limit)
    )
    return session.scalars(_locked(session, query)).all()


def of_message(session: Session, message_id: str) -> Sequence[Delivery]:
    return session.scalars(
        select(Delivery).where(Delivery.message_id == message_id).order_by(Delivery.id)
    ).all()


def of_recipient(
    session: Session, message_id: str, recipient: str, *, lock: bool = False
) -> Delivery | None:
    query = select(Delivery).where(
        Delivery.message_id == message_id, Delivery.recipient == recipient
    )
    return session.scalars(query.with_for_update() if lock else query).first()


def next_due(session: Session, *, unpublished_only: bool = False) -> datetime | None:
    """When the earliest open delivery is due (so an idle worker knows how long to sleep).
    ``unpublished_only``: of those not on the broker (what the amqp relay can publish; a
    published one comes back to it only through an outcome or the republishing sweep)."""
    query = select(Delivery.next_attempt_at).where(is_open(Delivery.state))
    if unpublished_only:
        query = query.where(Delivery.published_at.is_(None))
    return session.scalar(query.order_by(Delivery.next_attempt_at).limit(1))


def addressed_to(session: Session, agency: str) -> bool:
    """Whether any delivery, in any state, names ``agency`` as its recipient."""
    return bool(session.scalar(select(exists().where(Delivery.recipient == agency))))


def dead_query(
    *,
    delivery_ids: Sequence[int] = (),
    message_ids: Sequence[str] = (),
    recipient: str | None = None,
) -> Select[Delivery]:
    """Dead deliveries narrowed by id, message and recipient (each optional)."""
    query = select(Delivery).where(Delivery.state == DeliveryState.DEAD)
    if delivery_ids:
        query = query.where(Delivery.id.in_(delivery_ids))
    if message_ids:
        query = query.where(Delivery.message_id.in_(message_ids))
    if recipient:
        query = query.where(Delivery.recipient == recipient)
    return query.order_by(Delivery.id)


def summary(session: Session, *, held_prefix: str) -> dict[str, dict[str, int]]:
    """``{recipient: {state: count}}`` over every delivery, with ``held`` (open, waiting for an
    adapter the platform cannot build: ``last_error`` starts with ``held_prefix``) counted
    apart from ``retrying``."""
    held = and_(
        Delivery.state == DeliveryState.RETRYING.value,
        Delivery.last_error.startswith(held_prefix, autoescape=True),
    )
    state = case((held, "held"), else_=Delivery.state)
    rows = session.execute(
        select(Delivery.recipient, state, func.count())
        .group_by(Delivery.recipient, state)
        .order_by(Delivery.recipient)
    ).all()
    out: dict[str, dict[str, int]] = {}
    for recipient, name, count in rows:
        out.setdefault(recipient, {})[str(name)] = int(count)
    return out
