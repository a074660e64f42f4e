"""The append-only message log and its sealed, signed, hash-chained batches."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lgsp.kit.db import Base, JSONType, UTCDateTime


class LogEntry(Base):
    __tablename__ = "log_entries"
    __table_args__ = (
        Index("ix_log_entries_correlation", "correlation_key", "id"),
        Index("ix_log_entries_message", "message_id", "id"),
        Index("ix_log_entries_kind_at", "kind", "at"),
        # Auditors' filtered pages: one agency's entries of a kind in a time window.
        Index("ix_log_entries_agency_kind_at", "agency", "kind", "at"),
        Index("ix_log_entries_unsealed", "batch_id", "id"),
        # SQLite: never reuse the id of a deleted last row, so a deletion stays detectable.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    # message.accepted, delivery.attempt, delivery.delivered, delivery.dead, delivery.replayed,
    # inbox.acked, call.request, call.response, admin.<action>, auth.<event>
    kind: Mapped[str] = mapped_column(String(60))
    actor: Mapped[str | None] = mapped_column(String(100), nullable=True)
    agency: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    correlation_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    body_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("log_batches.id"), nullable=True)


class LogBatch(Base):
    __tablename__ = "log_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    first_entry_id: Mapped[int] = mapped_column(Integer)
    last_entry_id: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)
    # Concatenated 32-byte SHA-256 digests of the batch's entries, in id order.
    entry_hashes: Mapped[bytes] = mapped_column(LargeBinary)
    # Ids inside [first_entry_id, last_entry_id] that belong to no entry (taken by a transaction
    # that rolled back), ascending, comma-separated; usually empty. See docs/message-log.md.
    skipped_ids: Mapped[str] = mapped_column(Text, default="")
    # Unique: two batches claiming the same predecessor would fork the chain.
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64))
    # Compact JWS over the batch head (see lgsp/messagelog/chain.py and docs/message-log.md).
    signature: Mapped[str] = mapped_column(String(2000))
    kid: Mapped[str] = mapped_column(String(64))
    sealed_at: Mapped[datetime] = mapped_column(UTCDateTime)
