"""Message and request ids are UUIDv7 (RFC 9562): the canonical text form, version 7, the RFC
variant, the creation millisecond in the first 48 bits, so ids sort by time; random otherwise."""

from __future__ import annotations

import os
import re
import time
import uuid

from lgsp.kit.ids import MESSAGE_ID_PATTERN, random_bytes, uuid7


def test_ids_are_canonical_uuid7_carrying_their_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    ids = [uuid7() for _ in range(2000)]
    after = time.time_ns() // 1_000_000
    for text in ids:
        assert re.fullmatch(MESSAGE_ID_PATTERN, text)
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert before <= parsed.int >> 80 <= after
    assert len(set(ids)) == len(ids)
    # The 74 random bits are random: every hex digit outside the fixed ones takes many values.
    for position in (15, 17, 30, 35):
        assert len({text[position] for text in ids}) >= 12


def test_ids_sort_by_creation_time() -> None:
    first = uuid7()
    time.sleep(0.002)
    second = uuid7()
    assert first < second


def test_random_bytes_never_repeat_across_refills_or_a_fork() -> None:
    drawn = [random_bytes(16) for _ in range(1000)]  # several refills of the pool
    assert all(len(b) == 16 for b in drawn) and len(set(drawn)) == len(drawn)
    assert len(random_bytes(5000)) == 5000  # more than one refill at once
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next bytes must not be the parent's next bytes
        os.write(write, random_bytes(16))
        os._exit(0)
    os.waitpid(pid, 0)
    from_child = os.read(read, 16)
    os.close(read)
    os.close(write)
    assert len(from_child) == 16 and from_child != random_bytes(16)
