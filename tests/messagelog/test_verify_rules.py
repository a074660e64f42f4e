"""The checks of the log verifier, one tampering at a time, on chains built in memory.

The verifier reads batches and entry digests as plain rows (the live log and an export alike), so
each case here builds a small signed chain, breaks one thing in it (re-signing the head where the
break must get past the signature, as a forger holding the key would), and checks that the report
names what broke and where: the reason an auditor reads, the first bad entry and batch.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable

import pytest

from lgsp.messagelog.chain import (
    GENESIS_HASH,
    BatchRow,
    KeyResolver,
    batch_hash,
    expected_ids,
    head_payload,
)
from lgsp.messagelog.verify import EntryDigest, VerifyReport, check_chain
from tests.messagelog.conftest import Signer, make_signer

SIGNER = make_signer("k1")
SEALED_AT = "2026-12-02T10:00:00.000000Z"

Entries = list[EntryDigest]
Chain = tuple[list[BatchRow], Entries]


def digest(entry_id: int) -> bytes:
    return hashlib.sha256(f"entry {entry_id}".encode()).digest()


def sign(batch: BatchRow, signer: Signer = SIGNER) -> BatchRow:
    """The batch with its head signed as it stands (what a forger holding the key would do)."""
    payload = head_payload(
        batch.id,
        batch.hash,
        batch.prev_hash,
        batch.first_entry_id,
        batch.last_entry_id,
        batch.count,
        batch.sealed_at,
    )
    return dataclasses.replace(batch, signature=signer.sign(payload), kid=signer.kid)


def make_batch(
    bid: int, first: int, last: int, prev: str, skipped: tuple[int, ...] = ()
) -> BatchRow:
    ids = list(expected_ids(first, last, skipped))
    hashes = b"".join(digest(i) for i in ids)
    hash_hex = batch_hash(prev, first, last, len(ids), skipped, hashes)
    unsigned = BatchRow(
        id=bid,
        first_entry_id=first,
        last_entry_id=last,
        count=len(ids),
        skipped_ids=skipped,
        entry_hashes=hashes,
        prev_hash=prev,
        hash=hash_hex,
        signature="",
        kid="",
        sealed_at=SEALED_AT,
    )
    return sign(unsigned)


def good_chain() -> Chain:
    """Batch 1: entries 1-3; batch 2: 4-7 without 5 (rolled back); batch 3: entry 8 alone; then
    entries 9 and 10 not sealed yet."""
    b1 = make_batch(1, 1, 3, GENESIS_HASH)
    b2 = make_batch(2, 4, 7, b1.hash, skipped=(5,))
    b3 = make_batch(3, 8, 8, b2.hash)
    entries: Entries = [(i, b, digest(i)) for i, b in [(1, 1), (2, 1), (3, 1), (4, 2), (6, 2)]]
    entries += [(7, 2, digest(7)), (8, 3, digest(8)), (9, None, digest(9)), (10, None, digest(10))]
    return [b1, b2, b3], entries


def verify(chain: Chain, **kw: object) -> VerifyReport:
    batches, entries = chain
    return check_chain(batches, entries, KeyResolver(SIGNER.jwks), **kw)  # type: ignore[arg-type]


def test_a_sound_chain_verifies_with_its_counts_and_head() -> None:
    batches, entries = good_chain()
    report = verify((batches, entries))
    assert report.ok is True and report.reason is None
    assert (report.batches, report.entries, report.unsealed) == (3, 7, 2)
    assert (report.head_batch_id, report.head_hash) == (3, batches[2].hash)
    assert report.anchor_hash == GENESIS_HASH


def test_a_partial_chain_verifies_from_its_anchor_and_adds_to_the_report() -> None:
    batches, entries = good_chain()
    earlier = VerifyReport(seconds=5.0, entries=100)
    report = verify(
        (batches[1:], entries[3:]), anchor_hash=batches[0].hash, anchor_last_id=3, report=earlier
    )
    assert report is earlier and report.ok is True
    assert report.anchor_hash == batches[0].hash
    assert report.entries == 100 + 4
    assert 5.0 <= report.seconds < 65.0


def _with(index: int, change: Callable[[BatchRow], BatchRow]) -> Chain:
    batches, entries = good_chain()
    batches[index] = change(batches[index])
    return batches, entries


def _entries(change: Callable[[Entries], Entries]) -> Chain:
    batches, entries = good_chain()
    return batches, change(entries)


def _replace(index: int, **fields: object) -> Chain:
    return _with(index, lambda b: dataclasses.replace(b, **fields))  # type: ignore[arg-type]


def _resigned(index: int, **fields: object) -> Chain:
    return _with(index, lambda b: sign(dataclasses.replace(b, **fields)))  # type: ignore[arg-type]


def _raw_head(index: int, payload: bytes) -> Chain:
    return _replace(index, signature=SIGNER.sign(payload))


OTHER = make_signer("k2")
B1 = good_chain()[0][0]

CASES: list[tuple[str, Chain, str, int | None, int | None]] = [
    (
        "head not JSON",
        _raw_head(1, b"not json"),
        "batch signature: signed head is not JSON",
        None,
        2,
    ),
    (
        "head not an object",
        _raw_head(1, b"[1, 2]"),
        "batch signature: signed head is not an object",
        None,
        2,
    ),
    (
        "head differs",
        _replace(1, count=2, prev_hash="f" * 64),
        "batch signature: the signed head does not match the batch (count, prev differ)",
        None,
        2,
    ),
    (
        "kid differs",
        _replace(1, kid="k0"),
        "batch kid 'k0' differs from the signature's 'k1'",
        None,
        2,
    ),
    (
        "prev hash",
        _resigned(1, prev_hash="f" * 64),
        "chain broken: prev_hash does not match the preceding batch's hash",
        None,
        2,
    ),
    (
        "batch id repeated",
        _resigned(1, id=1),
        "chain broken: batch overlaps the one before it",
        None,
        1,
    ),
    (
        "entries overlap by one",
        _resigned(1, first_entry_id=3),
        "chain broken: batch overlaps the one before it",
        None,
        2,
    ),
    (
        "count zero",
        _resigned(2, count=0, entry_hashes=b""),
        "batch is inconsistent (count, skipped ids or digests)",
        None,
        3,
    ),
    (
        "span and count disagree",
        _resigned(1, count=4),
        "batch is inconsistent (count, skipped ids or digests)",
        None,
        2,
    ),
    (
        "digests missing",
        _resigned(1, entry_hashes=digest(4) + digest(6)),
        "batch is inconsistent (count, skipped ids or digests)",
        None,
        2,
    ),
    (
        "first id skipped",
        _resigned(1, skipped_ids=(4,)),
        "batch is inconsistent (count, skipped ids or digests)",
        None,
        2,
    ),
    (
        "last id skipped",
        _resigned(1, skipped_ids=(7,)),
        "batch is inconsistent (count, skipped ids or digests)",
        None,
        2,
    ),
    (
        "skipped ids repeated",
        _resigned(1, skipped_ids=(5, 5), count=1, entry_hashes=digest(4)),
        "batch is inconsistent (count, skipped ids or digests)",
        None,
        2,
    ),
    (
        "digests swapped",
        _resigned(1, entry_hashes=digest(4) + digest(7) + digest(6)),
        "batch contents do not match its signed hash",
        None,
        2,
    ),
    (
        "entry points elsewhere",
        _entries(lambda e: [(i, 1 if i == 4 else b, d) for i, b, d in e]),
        "entry 4 is sealed in batch 2 but points at batch 1",
        4,
        2,
    ),
    (
        "entry missing",
        _entries(lambda e: [x for x in e if x[0] != 6]),
        "entry 6 sealed in batch 2 is missing (deleted)",
        6,
        2,
    ),
    (
        "entry altered",
        _entries(lambda e: [(i, b, digest(99) if i == 6 else d) for i, b, d in e]),
        "entry 6 was altered after sealing (digest differs from batch 2)",
        6,
        2,
    ),
    (
        "skipped entry back, unsealed",
        _entries(lambda e: sorted([*e, (5, None, digest(5))])),
        "entry 5 is unsealed but lies inside the sealed range (inserted later?)",
        5,
        None,
    ),
    (
        "skipped entry back, claiming its batch",
        _entries(lambda e: sorted([*e, (5, 2, digest(5))], key=lambda x: x[0])),
        "entry 5 claims batch 2, which does not list it",
        5,
        2,
    ),
    (
        "unsealed entry claiming a batch",
        _entries(lambda e: [(i, 3 if i == 10 else b, d) for i, b, d in e]),
        "entry 10 claims batch 3, which does not list it",
        10,
        3,
    ),
    (
        "last sealed entry repeated, unsealed",
        _entries(lambda e: [*e[:7], (8, None, digest(8)), *e[7:]]),
        "entry 8 is unsealed but lies inside the sealed range (inserted later?)",
        8,
        None,
    ),
]


@pytest.mark.parametrize(
    ("chain", "reason", "entry_id", "batch_id"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_each_break_is_named_with_where_it_is(
    chain: Chain, reason: str, entry_id: int | None, batch_id: int | None
) -> None:
    report = verify(chain)
    assert report.ok is False
    assert report.reason == reason
    assert (report.bad_entry_id, report.bad_batch_id) == (entry_id, batch_id)


def test_the_summary_and_the_record_of_a_verification() -> None:
    report = VerifyReport(batches=3, entries=8, unsealed=2, seconds=0.5, head_batch_id=3)
    report.head_hash = "ab" * 32
    assert report.summary() == (
        "log intact: 3 batches, 8 entries verified, 2 unsealed, 0.50 s (16 entries/s); "
        f"head batch 3 {'ab' * 32}"
    )
    assert VerifyReport().summary() == (
        "log intact: 0 batches, 0 entries verified, 0 unsealed, 0.00 s (0 entries/s)"
    )
    report.seconds = 1.23456
    report.notes.append("a note")
    assert report.to_dict() == {
        "ok": True,
        "batches": 3,
        "entries": 8,
        "unsealed": 2,
        "seconds": 1.235,
        "entries_per_second": 6,
        "bad_entry_id": None,
        "bad_batch_id": None,
        "reason": None,
        "head_batch_id": 3,
        "head_hash": "ab" * 32,
        "anchor_hash": GENESIS_HASH,
        "notes": ["a note"],
    }
    report.fail("entry 6 was altered", entry_id=6, batch_id=2)
    assert report.to_dict()["ok"] is False
    assert report.summary() == (
        "log NOT intact at entry 6 / batch 2: entry 6 was altered "
        "(3 batches, 8 entries verified, 2 unsealed, 1.23 s (6 entries/s))"
    )
    only_batch = VerifyReport()
    only_batch.fail("chain broken", batch_id=4)
    assert only_batch.summary().startswith("log NOT intact at batch 4: chain broken (")
    only_entry = VerifyReport()
    only_entry.fail("inserted later", entry_id=9)
    assert only_entry.summary().startswith("log NOT intact at entry 9: inserted later (")
    nowhere = VerifyReport()
    nowhere.fail("no keys")
    assert nowhere.summary().startswith("log NOT intact at log: no keys (")
