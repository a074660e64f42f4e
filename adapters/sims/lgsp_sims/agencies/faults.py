"""Fault switches shared by the agency simulators: fail the next n requests, or every request
for a while."""

from __future__ import annotations

import threading
import time
from typing import Any


class FaultSwitch:
    """Thread-safe. ``kind`` is simulator-specific ("http503", "fault", "reject", ...)."""

    def __init__(self, default_kind: str, kinds: tuple[str, ...]) -> None:
        self._kinds = kinds
        self._lock = threading.Lock()
        self._count = 0
        self._kind = default_kind
        self._default_kind = default_kind
        self._until = 0.0

    def fail_next(self, n: int, kind: str | None = None) -> None:
        kind = kind or self._default_kind
        if kind not in self._kinds:
            raise ValueError(f"unknown fault kind {kind!r}; one of {self._kinds}")
        with self._lock:
            self._count, self._kind = n, kind

    def fail_for(self, seconds: float) -> None:
        """Every request fails with the default kind (the system is down) for ``seconds``."""
        with self._lock:
            self._until = time.monotonic() + seconds

    def reset(self) -> None:
        with self._lock:
            self._count, self._until = 0, 0.0

    def take(self) -> str | None:
        with self._lock:
            if time.monotonic() < self._until:
                return self._default_kind
            if self._count > 0:
                self._count -= 1
                return self._kind
            return None

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "fail_next": self._count,
                "fail_kind": self._kind,
                "failing_for": max(0.0, self._until - time.monotonic()),
            }

    def apply(self, body: Any, extra_keys: frozenset[str] = frozenset()) -> None:
        """A ``POST /_sim/control`` body: {fail_next, fail_kind, fail_for, reset}."""
        if not isinstance(body, dict):
            raise ValueError("control body must be a JSON object")
        unknown = set(body) - {"fail_next", "fail_kind", "fail_for", "reset"} - extra_keys
        if unknown:
            raise ValueError(f"unknown control keys: {sorted(unknown)}")
        if body.get("reset"):
            self.reset()
        if "fail_for" in body:
            self.fail_for(float(body["fail_for"]))
        if "fail_next" in body:
            kind = body.get("fail_kind")
            self.fail_next(int(body["fail_next"]), str(kind) if kind else None)
