"""Time-ordered identifiers (UUID version 7, RFC 9562) so ids sort by acceptance time."""

from __future__ import annotations

import os
import time

_MS_MASK = (1 << 48) - 1

# Request parameters that name rows are bounded, so an oversized id is a 422, not a database
# overflow: by the largest integer a JSON number carries exactly (the OpenAPI document states it
# as a number), far below what both databases hold and beyond any row id.
MAX_ROW_ID = 2**53 - 1
# A message id as the platform writes it (UUID, lowercase hex).
MESSAGE_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def uuid7() -> str:
    """A UUIDv7 in its canonical text form: 48 bits of Unix milliseconds, the version, 12 random
    bits, the variant, 62 random bits. Formatted directly (a uuid.UUID object costs several
    times more, and this runs a few times per request)."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    rand_a = (rand >> 62) & 0xFFF
    rand_b = rand & ((1 << 62) - 1)
    value = ((ms & _MS_MASK) << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
