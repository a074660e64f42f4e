"""What an operator asks first: which platform processes run, what each cannot load or build,
and where deliveries stand per recipient (held ones counted apart)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from lgsp.deliveries import repository as deliveries
from lgsp.deliveries.service import HELD_PREFIX
from lgsp.processes import repository as processes
from lgsp.processes.presence import live_since


@dataclass(frozen=True)
class ProcessView:
    kind: str
    host: str
    pid: int
    version: str
    started_at: datetime
    seen_at: datetime
    adapters: list[str]
    adapter_errors: dict[str, str]
    unbuildable: dict[str, Any]


@dataclass
class PlatformStatus:
    processes: list[ProcessView] = field(default_factory=list)
    # {recipient: {state: count}}; "held" apart from "retrying".
    deliveries: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def held(self) -> int:
        return sum(states.get("held", 0) for states in self.deliveries.values())


def platform_status(sessions: sessionmaker[Session], *, heartbeat_seconds: float) -> PlatformStatus:
    with sessions() as session:
        rows = processes.live(session, seen_since=live_since(heartbeat_seconds))
        views = [
            ProcessView(
                kind=p.kind,
                host=p.host,
                pid=p.pid,
                version=p.version,
                started_at=p.started_at,
                seen_at=p.seen_at,
                adapters=list(p.adapters),
                adapter_errors=dict(p.adapter_errors),
                unbuildable=dict(p.unbuildable),
            )
            for p in rows
        ]
        counts = deliveries.summary(session, held_prefix=HELD_PREFIX)
    return PlatformStatus(views, counts)
