"""One row per running platform process."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from lgsp.kit.db import Base, UTCDateTime


class PlatformProcess(Base):
    __tablename__ = "platform_processes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # api, worker
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Adapter names installed for this process, and {name: reason} for those its directory uses
    # that it cannot load.
    adapters: Mapped[list[str]] = mapped_column(JSON, default=list)
    adapter_errors: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # {agency: {"adapter", "reason", "since"}}: endpoints whose adapter failed to build here;
    # their deliveries are held.
    unbuildable: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
