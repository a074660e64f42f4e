"""Reading and writing the process rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lgsp.processes.models import PlatformProcess

# A row not refreshed for this long is a process that ended without saying so; it is deleted.
FORGET_AFTER = timedelta(days=1)


def report(session: Session, process_id: str, values: dict[str, Any], *, now: datetime) -> None:
    """Insert or refresh this process's row, and forget processes long gone."""
    row = session.get(PlatformProcess, process_id)
    if row is None:
        session.add(PlatformProcess(id=process_id, seen_at=now, **values))
    else:
        for key, value in values.items():
            setattr(row, key, value)
        row.seen_at = now
    session.execute(
        delete(PlatformProcess).where(
            PlatformProcess.seen_at < now - FORGET_AFTER, PlatformProcess.id != process_id
        )
    )


def forget(session: Session, process_id: str) -> None:
    session.execute(delete(PlatformProcess).where(PlatformProcess.id == process_id))


def live(session: Session, *, seen_since: datetime) -> Sequence[PlatformProcess]:
    """The processes that reported since ``seen_since``, oldest first."""
    return session.scalars(
        select(PlatformProcess)
        .where(PlatformProcess.seen_at >= seen_since)
        .order_by(PlatformProcess.started_at, PlatformProcess.id)
    ).all()
