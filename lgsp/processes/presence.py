"""The heartbeat: a thread that keeps this process's row fresh until the process stops."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from lgsp.kit.db import transaction
from lgsp.kit.timeutil import utcnow
from lgsp.processes import repository

log = logging.getLogger("lgsp.processes")

# A process is live while its row is younger than this many heartbeats.
LIVE_HEARTBEATS = 3


def live_since(heartbeat_seconds: float, now: datetime | None = None) -> datetime:
    """The oldest ``seen_at`` of a process still counted as running."""
    return (now or utcnow()) - timedelta(seconds=LIVE_HEARTBEATS * heartbeat_seconds)


class Presence:
    """Reports ``describe()`` (the adapters this process can load, what failed to build) every
    ``interval`` seconds; deletes the row when stopped."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        kind: str,
        version: str,
        describe: Callable[[], dict[str, Any]],
        interval: float,
    ) -> None:
        self._sessions = sessions
        self._describe = describe
        self._interval = interval
        self.process_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._fixed = {
            "kind": kind,
            "host": socket.gethostname()[:255],
            "pid": os.getpid(),
            "version": version[:64],
            "started_at": utcnow(),
        }
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        """Report now."""
        values = {**self._fixed, **self._describe()}
        with transaction(self._sessions) as session:
            repository.report(session, self.process_id, values, now=utcnow())

    def start(self) -> None:
        self.beat()  # the row exists before the process serves anything
        self._thread = threading.Thread(target=self._run, name="lgsp-presence", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.beat()
            except Exception:  # a database hiccup: the next beat tries again
                log.exception("reporting this process failed; retrying")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        try:
            with transaction(self._sessions) as session:
                repository.forget(session, self.process_id)
        except Exception:  # the row ages out instead
            log.warning("could not remove this process's row; it ages out", exc_info=True)
