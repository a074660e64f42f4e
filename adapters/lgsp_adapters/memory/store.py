"""The process-global store behind the memory adapter, keyed by agency code.

Tests read what an agency received from here and steer how it answers next (fail, reject, stall),
the same way they steer a real test server.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from lgsp_adapters.base import CallRequest, Envelope

Behaviour = Literal["fail", "reject", "slow", "ok"]


@dataclass(slots=True)
class _Inbox:
    delivered: list[Envelope] = field(default_factory=list)
    calls: list[CallRequest] = field(default_factory=list)
    attempts: int = 0
    # One entry per coming delivery attempt; an empty queue means "accept".
    script: deque[tuple[Behaviour, float]] = field(default_factory=deque)


class MemoryStore:
    """Thread-safe record of deliveries per agency, and a script of how the next ones end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inboxes: dict[str, _Inbox] = {}

    def _inbox(self, agency_code: str) -> _Inbox:
        inbox = self._inboxes.get(agency_code)
        if inbox is None:
            inbox = self._inboxes[agency_code] = _Inbox()
        return inbox

    # --- what the recipient saw -------------------------------------------------------------
    def delivered(self, agency_code: str) -> list[Envelope]:
        """Every successful delivery, duplicates included, in arrival order."""
        with self._lock:
            return list(self._inbox(agency_code).delivered)

    def received(self, agency_code: str) -> list[Envelope]:
        """What the recipient keeps after deduplicating on ``message_id`` (first copy wins)."""
        seen: set[str] = set()
        unique: list[Envelope] = []
        for envelope in self.delivered(agency_code):
            if envelope.message_id not in seen:
                seen.add(envelope.message_id)
                unique.append(envelope)
        return unique

    def received_ids(self, agency_code: str) -> list[str]:
        return [envelope.message_id for envelope in self.received(agency_code)]

    def calls(self, agency_code: str) -> list[CallRequest]:
        with self._lock:
            return list(self._inbox(agency_code).calls)

    def attempts(self, agency_code: str) -> int:
        """Delivery attempts made, whatever their outcome."""
        with self._lock:
            return self._inbox(agency_code).attempts

    # --- how the recipient answers next -----------------------------------------------------
    def script(
        self, agency_code: str, behaviour: Behaviour, times: int = 1, *, delay: float = 0.0
    ) -> None:
        """Make the next ``times`` attempts end with ``behaviour`` (after the ones already queued).
        ``slow`` stalls ``delay`` seconds, longer than the adapter's timeout to simulate one."""
        with self._lock:
            self._inbox(agency_code).script.extend([(behaviour, delay)] * times)

    def clear(self, agency_code: str | None = None) -> None:
        with self._lock:
            if agency_code is None:
                self._inboxes.clear()
            else:
                self._inboxes.pop(agency_code, None)

    # --- used by the adapter ----------------------------------------------------------------
    def next_behaviour(self, agency_code: str) -> tuple[Behaviour, float]:
        with self._lock:
            inbox = self._inbox(agency_code)
            inbox.attempts += 1
            return inbox.script.popleft() if inbox.script else ("ok", 0.0)

    def record(self, agency_code: str, envelope: Envelope) -> None:
        with self._lock:
            self._inbox(agency_code).delivered.append(envelope)

    def record_call(self, agency_code: str, request: CallRequest) -> None:
        with self._lock:
            self._inbox(agency_code).calls.append(request)


store = MemoryStore()
