"""The delivery row and its states, in one place."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    SQLColumnExpression,
    String,
    Text,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from lgsp.kit.db import Base, UTCDateTime


class DeliveryState(enum.StrEnum):
    PENDING = "pending"  # waiting for its turn or a worker
    RETRYING = "retrying"  # failed retriably; next_attempt_at says when
    DELIVERED = "delivered"
    DEAD = "dead"  # dead-lettered: permanent failure or retries exhausted
    INBOX = "inbox"  # pull recipient: waiting in the inbox
    ACKED = "acked"  # pull recipient acknowledged it


# Open: the relay still has work to do on the row (the partial indexes below use these too).
OPEN_STATES = (DeliveryState.PENDING.value, DeliveryState.RETRYING.value)
# Final: nothing more happens to the row unless an admin replays a dead one.
FINAL_STATES = (DeliveryState.DELIVERED, DeliveryState.DEAD, DeliveryState.ACKED)

_OPEN_SQL = text("state IN ('pending', 'retrying')")


def is_open(state: SQLColumnExpression[str]) -> ColumnElement[bool]:
    """``state IN ('pending', 'retrying')`` with the states written into the SQL: no bound
    parameters to expand at every execution (SQLAlchemy's post-compile step, several per cent
    of a worker's time), and a condition PostgreSQL can match to the partial indexes above
    even in a prepared statement's generic plan."""
    return state.in_([literal_column(f"'{value}'") for value in OPEN_STATES])


class Delivery(Base):
    """One recipient of one message: the outbox row, written in the same transaction as the
    message, and the source of truth for delivery state on every transport."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("message_id", "recipient"),
        # Open rows only: what the relay, the workers and the ordering check look at.
        Index(
            "ix_deliveries_open_key",
            "recipient",
            "correlation_key",
            "id",
            postgresql_where=_OPEN_SQL,
            sqlite_where=_OPEN_SQL,
        ),
        Index(
            "ix_deliveries_open_due",
            "next_attempt_at",
            postgresql_where=_OPEN_SQL,
            sqlite_where=_OPEN_SQL,
        ),
        Index("ix_deliveries_inbox", "recipient", "state", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id"), index=True)
    recipient: Mapped[str] = mapped_column(String(64))
    correlation_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # amqp transport: when the relay's publish of the current attempt was confirmed.
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # embedded transport: which worker holds the row and until when.
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
