"""Every query over the outbox (the deliveries table) used by the relay and the workers.

A delivery is *eligible* when it is open (pending or retrying), due, not leased, and the head of
its chain: no earlier open delivery to the same recipient shares its correlation key. That one
rule gives per-dossier ordering on every transport while other dossiers flow in parallel.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, exists, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from lgsp.exchange.models import Delivery, DeliveryState, Message
from lgsp.kit.timeutil import utcnow

OPEN = (DeliveryState.PENDING.value, DeliveryState.RETRYING.value)


def _eligible(now: datetime) -> list[ColumnElement[bool]]:
    earlier = aliased(Delivery)
    head_of_chain = ~exists().where(
        and_(
            earlier.recipient == Delivery.recipient,
            earlier.correlation_key == Delivery.correlation_key,
            earlier.id < Delivery.id,
            earlier.state.in_(OPEN),
        )
    )
    return [
        Delivery.state.in_(OPEN),
        Delivery.next_attempt_at <= now,
        head_of_chain,
    ]


def claim(
    session: Session,
    *,
    owner: str,
    now: datetime,
    lease_seconds: float,
    limit: int,
    exclude_recipients: Collection[str] = (),
) -> list[tuple[int, str]]:
    """Lease up to ``limit`` eligible deliveries to ``owner`` (the embedded transport), skipping
    recipients that already have as many deliveries in flight as they accept."""
    query = (
        select(Delivery.id, Delivery.recipient)
        .where(*_eligible(now))
        .where((Delivery.lease_until.is_(None)) | (Delivery.lease_until < now))
        .order_by(Delivery.id)
        .limit(limit)
    )
    if exclude_recipients:
        query = query.where(Delivery.recipient.not_in(list(exclude_recipients)))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Delivery)
    rows = [(int(i), str(r)) for i, r in session.execute(query)]
    if rows:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_([i for i, _ in rows]))
            .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease_seconds))
        )
    return rows


def release(session: Session, ids: Collection[int], owner: str) -> None:
    """Give leased rows back without an attempt (the worker took more than it could start)."""
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(list(ids)), Delivery.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
    )


def publishable(session: Session, *, now: datetime, limit: int) -> Sequence[Delivery]:
    """Eligible deliveries whose current attempt is not on the broker yet (the amqp relay).
    Locked (SKIP LOCKED on PostgreSQL) so two relays never publish the same row at once."""
    query = (
        select(Delivery)
        .where(*_eligible(now))
        .where(Delivery.published_at.is_(None))
        .order_by(Delivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Delivery)
    return session.scalars(query).all()


def load_for_delivery(session: Session, delivery_id: int) -> tuple[Delivery, Message] | None:
    row = session.execute(
        select(Delivery, Message)
        .join(Message, Message.id == Delivery.message_id)
        .where(Delivery.id == delivery_id)
    ).first()
    return (row[0], row[1]) if row is not None else None


def release_leases(session: Session, owner: str) -> None:
    session.execute(
        update(Delivery)
        .where(Delivery.lease_owner == owner, Delivery.state.in_(OPEN))
        .values(lease_owner=None, lease_until=None)
    )


def idle_wait(sessions: sessionmaker[Session], *, poll: float, ceiling: float = 1.0) -> float:
    """How long an idle relay or dispatcher may sleep: until the earliest open delivery is due,
    at least ``poll`` and at most ``ceiling`` seconds (a commit elsewhere wakes it sooner)."""
    poll = max(poll, 0.01)
    try:
        with sessions() as session:
            due = next_due(session)
    except Exception:  # noqa: BLE001 - the database is down: look again in a while
        return ceiling
    if due is None:
        return ceiling
    return min(max((due - utcnow()).total_seconds(), poll), ceiling)


def next_due(session: Session) -> datetime | None:
    """When the earliest open delivery is due (so an idle worker knows how long to sleep)."""
    return session.scalar(
        select(Delivery.next_attempt_at)
        .where(Delivery.state.in_(OPEN))
        .order_by(Delivery.next_attempt_at)
        .limit(1)
    )


# --- the amqp relay ---------------------------------------------------------------------------


def mark_published(session: Session, ids: Sequence[int], *, now: datetime) -> None:
    """Record that the broker confirmed the current attempt of ``ids``."""
    if ids:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.state.in_(OPEN), Delivery.published_at.is_(None))
            .values(published_at=now)
        )


def unpublish_stale(session: Session, *, published_before: datetime) -> int:
    """Make open deliveries published before ``published_before`` publishable again (their broker
    message may be lost); returns how many."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.state.in_(OPEN), Delivery.published_at < published_before)
        .values(published_at=None)
    )
    return cast("CursorResult[Any]", result).rowcount


def open_attempts(session: Session, delivery_id: int) -> int | None:
    """Attempts made so far on an open delivery; None when it is final or gone."""
    return session.scalar(
        select(Delivery.attempts).where(Delivery.id == delivery_id, Delivery.state.in_(OPEN))
    )
