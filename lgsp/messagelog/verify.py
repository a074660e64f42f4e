"""Verification of the sealed log: signatures, the chain, every entry against its signed digest,
deleted entries, entries moved between batches, entries slipped into the sealed range.

The same checker runs over the live database (:func:`verify_log`) and over an export
(lgsp/messagelog/export.py); it stops at the first problem and names it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.orm import Session, sessionmaker

from lgsp.messagelog import repository
from lgsp.messagelog.chain import (
    DIGEST_SIZE,
    GENESIS_HASH,
    HEAD_VERSION,
    BatchRow,
    EntryRow,
    KeyResolver,
    batch_hash,
    expected_ids,
    row_digest,
)


@dataclass
class VerifyReport:
    """The outcome of a verification; ``ok`` is False as soon as one problem is found, and then
    ``reason`` says what, with the first bad entry and/or batch."""

    ok: bool = True
    batches: int = 0
    entries: int = 0
    unsealed: int = 0
    seconds: float = 0.0
    bad_entry_id: int | None = None
    bad_batch_id: int | None = None
    reason: str | None = None
    # The newest verified batch: compare with a copy kept elsewhere to detect a cut-off tail.
    head_batch_id: int | None = None
    head_hash: str | None = None
    # The prev_hash the verified chain starts from (GENESIS_HASH for a full log).
    anchor_hash: str = GENESIS_HASH
    notes: list[str] = field(default_factory=list)

    @property
    def entries_per_second(self) -> float:
        return self.entries / self.seconds if self.seconds > 0 else 0.0

    def fail(
        self, reason: str, *, entry_id: int | None = None, batch_id: int | None = None
    ) -> None:
        self.ok = False
        self.reason = reason
        self.bad_entry_id = entry_id
        self.bad_batch_id = batch_id

    def summary(self) -> str:
        stats = (
            f"{self.batches} batches, {self.entries} entries verified, {self.unsealed} unsealed, "
            f"{self.seconds:.2f} s ({self.entries_per_second:,.0f} entries/s)"
        )
        if self.ok:
            head = f"; head batch {self.head_batch_id} {self.head_hash}" if self.head_hash else ""
            return f"log intact: {stats}{head}"
        where = []
        if self.bad_entry_id is not None:
            where.append(f"entry {self.bad_entry_id}")
        if self.bad_batch_id is not None:
            where.append(f"batch {self.bad_batch_id}")
        return f"log NOT intact at {' / '.join(where) or 'log'}: {self.reason} ({stats})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "batches": self.batches,
            "entries": self.entries,
            "unsealed": self.unsealed,
            "seconds": round(self.seconds, 3),
            "entries_per_second": round(self.entries_per_second),
            "bad_entry_id": self.bad_entry_id,
            "bad_batch_id": self.bad_batch_id,
            "reason": self.reason,
            "head_batch_id": self.head_batch_id,
            "head_hash": self.head_hash,
            "anchor_hash": self.anchor_hash,
            "notes": self.notes,
        }


class _Failed(Exception):
    def __init__(self, reason: str, *, entry_id: int | None = None, batch_id: int | None = None):
        super().__init__(reason)
        self.reason, self.entry_id, self.batch_id = reason, entry_id, batch_id


EntryDigest = tuple[int, int | None, bytes]
"""(entry id, the batch id the entry points at, the entry's recomputed digest)."""


def digests_of(entries: Iterable[EntryRow]) -> Iterator[EntryDigest]:
    for entry in entries:
        yield entry.id, entry.batch_id, row_digest(entry)


def check_chain(
    batches: Iterable[BatchRow],
    entries: Iterable[EntryDigest],
    keys: KeyResolver,
    *,
    anchor_hash: str = GENESIS_HASH,
    anchor_last_id: int = 0,
    report: VerifyReport | None = None,
) -> VerifyReport:
    """Walk ``batches`` (ascending id) and entry digests (ascending id) together.

    ``anchor_hash``/``anchor_last_id`` are where the chain is expected to start: genesis for a
    whole log, or the batch before the first one given for a partial export.
    """
    report = report or VerifyReport()
    report.anchor_hash = anchor_hash
    started = time.perf_counter()
    try:
        _walk(iter(batches), iter(entries), keys, anchor_hash, anchor_last_id, report)
    except _Failed as exc:
        report.fail(exc.reason, entry_id=exc.entry_id, batch_id=exc.batch_id)
    report.seconds += time.perf_counter() - started
    return report


def _walk(
    batches: Iterator[BatchRow],
    entries: Iterator[EntryDigest],
    keys: KeyResolver,
    prev_hash: str,
    sealed_to: int,
    report: VerifyReport,
) -> None:
    current = next(entries, None)
    prev_batch_id = 0
    for batch in batches:
        _check_head(batch, keys, prev_hash, sealed_to, prev_batch_id)
        current = _check_entries(batch, current, entries, report)
        prev_hash, sealed_to, prev_batch_id = batch.hash, batch.last_entry_id, batch.id
        report.batches += 1
        report.head_batch_id, report.head_hash = batch.id, batch.hash
    while current is not None:
        _stray(current, sealed_to=sealed_to)
        report.unsealed += 1
        current = next(entries, None)


def _check_entries(
    batch: BatchRow,
    current: EntryDigest | None,
    entries: Iterator[EntryDigest],
    report: VerifyReport,
) -> EntryDigest | None:
    """Match the batch's signed digests with the entries, in id order; return the first entry
    after the batch."""
    bid = batch.id
    hashes = batch.entry_hashes
    offset = verified = 0
    try:
        for expected in expected_ids(batch.first_entry_id, batch.last_entry_id, batch.skipped_ids):
            while current is not None and current[0] < expected:
                _stray(current, sealed_to=batch.last_entry_id)
                current = next(entries, None)
            if current is None or current[0] != expected:
                raise _Failed(
                    f"entry {expected} sealed in batch {bid} is missing (deleted)",
                    entry_id=expected,
                    batch_id=bid,
                )
            if current[1] != bid:
                raise _Failed(
                    f"entry {expected} is sealed in batch {bid} but points at batch {current[1]}",
                    entry_id=expected,
                    batch_id=bid,
                )
            if current[2] != hashes[offset : offset + DIGEST_SIZE]:
                raise _Failed(
                    f"entry {expected} was altered after sealing (digest differs from batch {bid})",
                    entry_id=expected,
                    batch_id=bid,
                )
            offset += DIGEST_SIZE
            verified += 1
            current = next(entries, None)
    finally:
        report.entries += verified
    return current


def _stray(entry: EntryDigest, *, sealed_to: int) -> None:
    """An entry no batch lists: fine if it is newer than everything sealed and claims no batch."""
    entry_id, batch_id, _ = entry
    if batch_id is not None:
        raise _Failed(
            f"entry {entry_id} claims batch {batch_id}, which does not list it",
            entry_id=entry_id,
            batch_id=batch_id,
        )
    if entry_id <= sealed_to:
        raise _Failed(
            f"entry {entry_id} is unsealed but lies inside the sealed range (inserted later?)",
            entry_id=entry_id,
        )


def _check_head(
    batch: BatchRow, keys: KeyResolver, prev_hash: str, sealed_to: int, prev_batch_id: int
) -> None:
    bid = batch.id
    try:
        kid, payload = keys.verify(batch.signature)
    except ValueError as exc:
        raise _Failed(f"batch signature: {exc}", batch_id=bid) from exc
    try:
        head = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise _Failed("batch signature: signed head is not JSON", batch_id=bid) from exc
    signed = {
        "v": HEAD_VERSION,
        "batch": bid,
        "hash": batch.hash,
        "prev": batch.prev_hash,
        "first": batch.first_entry_id,
        "last": batch.last_entry_id,
        "count": batch.count,
        "sealed_at": batch.sealed_at,
    }
    if not isinstance(head, dict):
        raise _Failed("batch signature: signed head is not an object", batch_id=bid)
    differing = sorted(k for k, v in signed.items() if head.get(k) != v)
    if differing:
        raise _Failed(
            "batch signature: the signed head does not match the batch "
            f"({', '.join(differing)} differ)",
            batch_id=bid,
        )
    if kid != batch.kid:
        raise _Failed(f"batch kid {batch.kid!r} differs from the signature's {kid!r}", batch_id=bid)
    if batch.prev_hash != prev_hash:
        raise _Failed(
            "chain broken: prev_hash does not match the preceding batch's hash", batch_id=bid
        )
    if bid <= prev_batch_id or batch.first_entry_id <= sealed_to:
        raise _Failed("chain broken: batch overlaps the one before it", batch_id=bid)
    span = batch.last_entry_id - batch.first_entry_id + 1
    if (
        batch.count < 1
        or span != batch.count + len(batch.skipped_ids)
        or len(batch.entry_hashes) != batch.count * DIGEST_SIZE
        or any(not batch.first_entry_id < i < batch.last_entry_id for i in batch.skipped_ids)
        or list(batch.skipped_ids) != sorted(set(batch.skipped_ids))
    ):
        raise _Failed("batch is inconsistent (count, skipped ids or digests)", batch_id=bid)
    recomputed = batch_hash(
        batch.prev_hash,
        batch.first_entry_id,
        batch.last_entry_id,
        batch.count,
        batch.skipped_ids,
        batch.entry_hashes,
    )
    if recomputed != batch.hash:
        raise _Failed("batch contents do not match its signed hash", batch_id=bid)


def verify_log(session_factory: sessionmaker[Session], jwks: dict[str, Any]) -> VerifyReport:
    """Verify the whole live log against the public keys in ``jwks`` (RFC 7517 JWK Set).

    Reads one consistent snapshot without blocking writers; entries appended meanwhile are
    simply not seen. Unsealed entries newer than the last batch are counted, not failed.
    """
    keys = KeyResolver(jwks)
    with repository.read_snapshot(session_factory) as snap:
        return check_chain(
            repository.batches_stream(snap), repository.entry_digests_stream(snap), keys
        )
