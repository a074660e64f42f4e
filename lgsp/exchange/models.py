"""Accepted messages. Their deliveries (one per recipient, the outbox) belong to lgsp.deliveries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint
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
