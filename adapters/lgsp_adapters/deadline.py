"""A total deadline on one HTTP exchange: connect, headers and the whole body together.

Socket timeouts bound each read, not the exchange: a provider that sends a byte just before every
read timeout keeps a call going for as long as it likes. Here the body is read under a timer that
shuts the connection's socket down when the exchange's time is up, which ends the read at once;
the caller then reports a timeout, never a body cut short.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

log = logging.getLogger("lgsp.adapters.deadline")


class Deadline:
    """``seconds`` from now."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())


def _socket(response: Any) -> socket.socket | None:
    """A duplicate of the socket under a urllib3 response (also ``requests.Response.raw``), or
    None when the body is already read. Shutting a duplicate down ends reads on the original;
    closing it leaves the original to its owner."""
    try:
        return socket.socket(fileno=os.dup(response.fileno()))
    except (OSError, ValueError, AttributeError):
        return None


class _Watch:
    """One pending cut: ``action`` runs at ``at`` unless cancelled first."""

    __slots__ = ("action", "at", "cancelled", "fired", "lock")

    def __init__(self, at: float, action: Callable[[], None]) -> None:
        self.at = at
        self.action = action
        self.lock = threading.Lock()
        self.cancelled = False
        self.fired = False

    def fire(self) -> None:
        with self.lock:
            if self.cancelled:
                return
            self.fired = True
            try:
                self.action()
            except Exception:  # one failed cut must not stop the others
                log.exception("deadline action failed")

    def cancel(self) -> None:
        """After this returns the action has either run to its end or will never run."""
        with self.lock:
            self.cancelled = True


class _Watcher:
    """One daemon thread for every exchange's deadline in this process (a thread started and
    joined per exchange showed in the profiles of the worker and of mediated calls).

    Pending watches sit in a heap by time; a cancelled one is dropped when it reaches the head,
    or all at once when they outnumber the live ones. A forked child starts its own thread."""

    def __init__(self) -> None:
        self._seq = itertools.count()
        self._start_afresh()
        # A forked child has none of the parent's threads, and the condition's lock may have
        # been held by one of them at the fork: the child starts with a state of its own.
        os.register_at_fork(after_in_child=self._start_afresh)

    def _start_afresh(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._cancelled = 0
        self._running = False

    def watch(self, seconds: float, action: Callable[[], None]) -> _Watch:
        entry = _Watch(time.monotonic() + seconds, action)
        with self._cond:
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="lgsp-deadlines", daemon=True).start()
            heapq.heappush(self._heap, (entry.at, next(self._seq), entry))
            if self._heap[0][2] is entry:
                self._cond.notify()
        return entry

    def pending(self) -> int:
        """Watches in the heap, cancelled ones not yet dropped included."""
        with self._cond:
            return len(self._heap)

    def cancel(self, entry: _Watch) -> None:
        entry.cancel()
        with self._cond:
            self._cancelled += 1
            if self._cancelled > 256 and self._cancelled * 2 > len(self._heap):
                self._heap = [item for item in self._heap if not item[2].cancelled]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][2].cancelled:
                        heapq.heappop(self._heap)
                        self._cancelled = max(0, self._cancelled - 1)
                    if not self._heap:
                        self._cond.wait()
                        continue
                    delay = self._heap[0][0] - time.monotonic()
                    if delay <= 0:
                        due = heapq.heappop(self._heap)[2]
                        break
                    self._cond.wait(delay)
            due.fire()


_WATCHER = _Watcher()


@contextmanager
def body_deadline(response: Any, deadline: Deadline) -> Iterator[Callable[[], bool]]:
    """Read ``response``'s body inside this block; yields a function telling whether the
    deadline cut the read (check it after the block, and on any error raised inside it)."""
    sock = _socket(response)
    if sock is None:  # the body is already read (or the connection is gone)
        yield lambda: False
        return

    def cut() -> None:
        with suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)

    entry = _WATCHER.watch(deadline.remaining(), cut)
    try:
        yield lambda: entry.fired
    finally:
        _WATCHER.cancel(entry)  # after this, cut() has finished or will never run
        sock.close()
