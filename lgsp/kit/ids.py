"""Time-ordered identifiers (UUID version 7, RFC 9562) so ids sort by acceptance time."""

from __future__ import annotations

import os
import time
import uuid

_MS_MASK = (1 << 48) - 1


def uuid7() -> str:
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    rand_a = (rand >> 62) & 0xFFF
    rand_b = rand & ((1 << 62) - 1)
    value = ((ms & _MS_MASK) << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))
