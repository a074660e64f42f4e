"""A circuit breaker per provider: after repeated failures calls fail fast for a while, then
one probe call decides whether the provider is back."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass
class _State:
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False


class CircuitBreaker:
    def __init__(self, *, threshold: int = 5, cooldown_seconds: float = 30.0) -> None:
        self.threshold = threshold
        self.cooldown = cooldown_seconds
        self._states: dict[str, _State] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> float | None:
        """None if a call may go ahead; otherwise the seconds until the next probe."""
        with self._lock:
            s = self._states.setdefault(key, _State())
            if s.opened_at is None:
                return None
            remaining = s.opened_at + self.cooldown - time.monotonic()
            if remaining > 0:
                return remaining
            if s.probing:  # half-open: one probe at a time
                return 1.0
            s.probing = True
            return None

    def success(self, key: str) -> None:
        with self._lock:
            self._states[key] = _State()

    def failure(self, key: str) -> None:
        with self._lock:
            s = self._states.setdefault(key, _State())
            s.failures += 1
            if s.probing or s.failures >= self.threshold:
                s.opened_at = time.monotonic()
            s.probing = False

    def state(self, key: str) -> str:
        with self._lock:
            s = self._states.get(key)
            if s is None or s.opened_at is None:
                return "closed"
            if time.monotonic() - s.opened_at >= self.cooldown:
                return "half-open"
            return "open"
