"""The named transitions of a delivery, the only code that writes its columns.

```
open ──▶ pending ──lease / publish──▶ attempt ──▶ delivered
  │         ▲                            ├──────▶ retrying ──(due)──▶ attempt ...
  │         └──────── reopen ◀── dead ◀──┘ (permanent, or retries exhausted)
  └──▶ inbox ──ack──▶ acked                 (pull recipients)
```

Every outcome is written with a guard on the row's state (only while it is still open), so a
duplicate attempt (a redelivered broker message, an expired lease taken over by another worker)
never turns a final state back into an open one. Functions take the caller's session (or return
rows for the group committer) and only flush: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Table, Update, bindparam, update
from sqlalchemy.orm import Session, sessionmaker

from lgsp.deliveries import repository
from lgsp.deliveries.models import Delivery, DeliveryState, is_open
from lgsp.kit.groupcommit import Rows
from lgsp.kit.timeutil import utcnow

_DELIVERIES = cast(Table, Delivery.__table__)

# --- open -----------------------------------------------------------------------------------


def open_rows(
    message_id: str,
    recipients: Sequence[str],
    *,
    pull: Collection[str],
    correlation_key: str | None,
    now: datetime,
) -> Rows:
    """The rows that open one delivery per recipient of a just-accepted message, for the same
    commit as the message: pull recipients' rows wait in their inbox, the others are pending."""
    return [
        (
            Delivery,
            {
                "message_id": message_id,
                "recipient": recipient,
                "correlation_key": correlation_key,
                "state": (
                    DeliveryState.INBOX if recipient in pull else DeliveryState.PENDING
                ).value,
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": now,
            },
        )
        for recipient in recipients
    ]


def _rows_update() -> Update:
    """An UPDATE of delivery rows that leaves the session's objects alone: these transitions
    run in sessions holding none of the rows (or about to expire them at commit), and keeping
    them in step (SQLAlchemy's default) cost a fetch per statement on the hot paths."""
    return update(Delivery).execution_options(synchronize_session=False)


# --- lease (embedded transport) and publish (amqp transport) --------------------------------


def lease(
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
    rows = repository.leasable(session, now=now, limit=limit, exclude_recipients=exclude_recipients)
    if rows:
        session.execute(
            _rows_update()
            .where(Delivery.id.in_([i for i, _ in rows]))
            .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease_seconds))
        )
    return rows


def release(session: Session, ids: Collection[int], owner: str) -> None:
    """Give leased rows back without an attempt (the worker took more than it could start)."""
    session.execute(
        _rows_update()
        .where(Delivery.id.in_(list(ids)), Delivery.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
    )


def release_leases(session: Session, owner: str) -> None:
    """Give back every open row ``owner`` holds (a worker stopping or starting again)."""
    session.execute(
        _rows_update()
        .where(Delivery.lease_owner == owner, is_open(Delivery.state))
        .values(lease_owner=None, lease_until=None)
    )


def mark_published(session: Session, ids: Sequence[int], *, now: datetime) -> None:
    """Record that the broker confirmed the current attempt of ``ids``."""
    if ids:
        session.execute(
            _rows_update()
            .where(
                Delivery.id.in_(ids),
                is_open(Delivery.state),
                Delivery.published_at.is_(None),
            )
            .values(published_at=now)
        )


def unpublish_stale(session: Session, *, published_before: datetime) -> int:
    """Make open deliveries published before ``published_before`` publishable again (their broker
    message may be lost); returns how many."""
    result = session.execute(
        _rows_update()
        .where(is_open(Delivery.state), Delivery.published_at < published_before)
        .values(published_at=None)
    )
    return cast("CursorResult[Any]", result).rowcount


def idle_wait(
    sessions: sessionmaker[Session],
    *,
    poll: float,
    ceiling: float = 1.0,
    unpublished_only: bool = False,
) -> float:
    """How long an idle relay or dispatcher may sleep: until the earliest open delivery is due
    (``unpublished_only``: of those not on the broker yet), at least ``poll`` and at most
    ``ceiling`` seconds (a commit elsewhere wakes it sooner)."""
    poll = max(poll, 0.01)
    try:
        with sessions() as session:
            due = repository.next_due(session, unpublished_only=unpublished_only)
    except Exception:  # noqa: BLE001 - the database is down: look again in a while
        return ceiling
    if due is None:
        return ceiling
    return min(max((due - utcnow()).total_seconds(), poll), ceiling)


# --- record an attempt's outcome --------------------------------------------------------------


# How the last_error of a held delivery starts (what status views and `lgsp status` look for).
HELD_PREFIX = "held: "


@dataclass(frozen=True)
class AttemptOutcome:
    """What one attempt ended in: delivered, retrying (with when) or dead (dead-lettered)."""

    state: DeliveryState
    attempts: int
    at: datetime
    status_code: int | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None
    # Retrying because the platform cannot build the recipient's adapter: no attempt was made.
    held: bool = False

    @classmethod
    def delivered(cls, *, attempts: int, status_code: int | None, at: datetime) -> AttemptOutcome:
        return cls(DeliveryState.DELIVERED, attempts, at, status_code)

    @classmethod
    def retry(
        cls,
        *,
        attempts: int,
        status_code: int | None,
        error: str,
        at: datetime,
        next_attempt_at: datetime,
    ) -> AttemptOutcome:
        return cls(DeliveryState.RETRYING, attempts, at, status_code, error, next_attempt_at)

    @classmethod
    def hold(
        cls, *, attempts: int, error: str, at: datetime, next_attempt_at: datetime
    ) -> AttemptOutcome:
        """Kept open without counting an attempt, whatever the retry window: the fault is the
        platform's (an adapter it cannot build), and the recipient never saw the message."""
        return cls(
            DeliveryState.RETRYING, attempts, at, None, HELD_PREFIX + error, next_attempt_at, True
        )

    @classmethod
    def dead_letter(
        cls, *, attempts: int, status_code: int | None, error: str, at: datetime
    ) -> AttemptOutcome:
        return cls(DeliveryState.DEAD, attempts, at, status_code, error)

    def values(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "state": self.state.value,
            "attempts": self.attempts,
            "last_status_code": self.status_code,
            "last_error": self.error,
            # The attempt is over: whoever held or published it holds nothing now.
            "lease_owner": None,
            "lease_until": None,
            "published_at": None,
        }
        if self.state == DeliveryState.RETRYING:
            values["next_attempt_at"] = self.next_attempt_at
        else:
            values["finished_at"] = self.at
        return values


# The guarded outcome UPDATE, built once: the worker writes an outcome per attempt, and building
# and coercing the statement every time cost more than running it. Its SET clause is the
# parameters it is executed with (an outcome's values(), each bound with its column's type).
_OUTCOME_UPDATE = update(_DELIVERIES).where(
    _DELIVERIES.c.id == bindparam("delivery_id"), is_open(_DELIVERIES.c.state)
)


def record_outcome(session: Session, delivery_id: int, outcome: AttemptOutcome) -> bool:
    """Write an attempt's outcome if the delivery is still open; False when it was finished
    elsewhere meanwhile (nothing is written then)."""
    params = outcome.values() | {"delivery_id": delivery_id}
    result = session.connection().execute(_OUTCOME_UPDATE, params)
    return bool(result.rowcount)


# --- reopen for replay ------------------------------------------------------------------------


def reopen_dead(
    session: Session,
    *,
    delivery_ids: Sequence[int] = (),
    message_ids: Sequence[str] = (),
    recipient: str | None = None,
    everything: bool = False,
    now: datetime,
) -> list[Delivery]:
    """Reopen dead deliveries chosen by id, by message, by recipient, or all of them; their
    retry window starts again at ``now``. Returns the reopened rows as they were (attempts and
    last error kept for the log)."""
    if not everything and not (delivery_ids or message_ids or recipient):
        return []
    query = repository.dead_query(
        delivery_ids=delivery_ids, message_ids=message_ids, recipient=recipient
    )
    rows = list(session.scalars(query.with_for_update()).all())
    if not rows:
        return []
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_([r.id for r in rows]), Delivery.state == DeliveryState.DEAD)
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
    return rows


# --- ack (pull recipients) --------------------------------------------------------------------


def ack(
    session: Session, message_id: str, recipient: str, *, now: datetime
) -> tuple[Delivery, bool] | None:
    """Acknowledge ``recipient``'s inbox copy of a message: the row and whether this call
    acknowledged it (False when it already was), or None when the message is not in that
    inbox."""
    delivery = repository.of_recipient(session, message_id, recipient, lock=True)
    if delivery is None or delivery.state not in (DeliveryState.INBOX, DeliveryState.ACKED):
        return None
    if delivery.state == DeliveryState.ACKED:
        return delivery, False
    delivery.state = DeliveryState.ACKED
    delivery.finished_at = now
    session.flush()
    return delivery, True
