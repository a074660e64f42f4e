"""A total deadline on one HTTP exchange: connect, headers and the whole body together.

Socket timeouts bound each read, not the exchange: a provider that sends a byte just before every
read timeout keeps a call going for as long as it likes. Here the body is read under a timer that
shuts the connection's socket down when the exchange's time is up, which ends the read at once;
the caller then reports a timeout, never a body cut short.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any


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


@contextmanager
def body_deadline(response: Any, deadline: Deadline) -> Iterator[Callable[[], bool]]:
    """Read ``response``'s body inside this block; yields a function telling whether the
    deadline cut the read (check it after the block, and on any error raised inside it)."""
    fired = threading.Event()
    sock = _socket(response)
    if sock is None:  # the body is already read (or the connection is gone)
        yield fired.is_set
        return

    def cut() -> None:
        fired.set()
        with suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(deadline.remaining(), cut)
    timer.daemon = True
    timer.start()
    try:
        yield fired.is_set
    finally:
        timer.cancel()
        timer.join()
        sock.close()
