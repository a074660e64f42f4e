"""Messages and their deliveries. A delivery row is the outbox: one per recipient, written in the
same transaction as the message, and the source of truth for delivery state on every transport."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from lgsp.kit.db import Base, UTCDateTime


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("sender", "idempotency_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    type: Mapped[str] = mapped_column(String(100), index=True)
    sender: Mapped[str] = mapped_column(String(64), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    correlation_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The ordering key: the payload's correlation pointer value (the dossier code) or the
    # correlation id. Messages sharing it reach each recipient in acceptance order.
    correlation_key: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    # The payload as received (canonical JSON); None once purged by retention, the hash stays.
    payload: Mapped[str | None] = mapped_column(Text, nullable=True)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Hash of (type, to, correlation_id, payload) to tell a true repeat from a reused key.
    request_sha256: Mapped[str] = mapped_column(String(64))
    trace_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


class DeliveryState(enum.StrEnum):
    PENDING = "pending"  # waiting for its turn or a worker
    RETRYING = "retrying"  # failed retriably; next_attempt_at says when
    DELIVERED = "delivered"
    DEAD = "dead"  # dead-lettered: permanent failure or retries exhausted
    INBOX = "inbox"  # pull recipient: waiting in the inbox
    ACKED = "acked"  # pull recipient acknowledged it


FINAL_STATES = (DeliveryState.DELIVERED, DeliveryState.DEAD, DeliveryState.ACKED)


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("message_id", "recipient"),
        # Open rows only: what the relay, the workers and the ordering check look at.
        Index(
            "ix_deliveries_open_key",
            "recipient",
            "correlation_key",
            "id",
            postgresql_where=text("state IN ('pending', 'retrying')"),
            sqlite_where=text("state IN ('pending', 'retrying')"),
        ),
        Index(
            "ix_deliveries_open_due",
            "next_attempt_at",
            postgresql_where=text("state IN ('pending', 'retrying')"),
            sqlite_where=text("state IN ('pending', 'retrying')"),
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
