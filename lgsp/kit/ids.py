"""Time-ordered identifiers (UUID version 7, RFC 9562) so ids sort by acceptance time."""

from __future__ import annotations

import os
import threading
import time

_MS_MASK = (1 << 48) - 1

# Request parameters that name rows are bounded, so an oversized id is a 422, not a database
# overflow: by the largest integer a JSON number carries exactly (the OpenAPI document states it
# as a number), far below what both databases hold and beyond any row id.
MAX_ROW_ID = 2**53 - 1
# A message id as the platform writes it (UUID, lowercase hex).
MESSAGE_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class _RandomPool:
    """Operating-system randomness drawn 4 KiB at a time and handed out in slices: one syscall
    per few hundred ids instead of one per id (each syscall also gives up and retakes the
    interpreter lock, which under load costs more than the call). Still os.urandom's bytes."""

    CHUNK = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._offset = 0
        self._pid = os.getpid()

    def take(self, n: int) -> bytes:
        with self._lock:
            if self._pid != os.getpid():  # a forked child must not repeat its parent's bytes
                self._buffer, self._offset, self._pid = b"", 0, os.getpid()
            if self._offset + n > len(self._buffer):
                self._buffer, self._offset = os.urandom(max(self.CHUNK, n)), 0
            start = self._offset
            self._offset += n
            return self._buffer[start : self._offset]


_pool = _RandomPool()


def random_bytes(n: int) -> bytes:
    """``n`` bytes from the operating system's generator, for ids (message, request, trace)."""
    return _pool.take(n)


def uuid7() -> str:
    """A UUIDv7 in its canonical text form: 48 bits of Unix milliseconds, the version, 12 random
    bits, the variant, 62 random bits. Formatted directly (a uuid.UUID object costs several
    times more, and this runs a few times per request)."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(_pool.take(10), "big")
    rand_a = (rand >> 62) & 0xFFF
    rand_b = rand & ((1 << 62) - 1)
    value = ((ms & _MS_MASK) << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
