"""The sealer: closes unsealed entries into signed, hash-chained batches.

Only one sealer may extend the chain at a time. On PostgreSQL a transaction-scoped advisory lock
decides (a second sealer finds it taken and does nothing); on SQLite the engine opens every
transaction with BEGIN IMMEDIATE, which is the database's single write lock. A unique index on
``log_batches.prev_hash`` refuses a fork even if both guards were bypassed.

Entry ids come from a sequence, and on PostgreSQL a transaction can commit after another that
drew a higher id, or roll back and leave a hole for ever. The sealer therefore never seals across
a hole unless it knows the hole is final; docs/message-log.md ("Gaps") gives the reasoning.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Final

from sqlalchemy.orm import Session, sessionmaker

from lgsp.kit.db import transaction
from lgsp.kit.errors import Misconfigured
from lgsp.kit.timeutil import utcnow
from lgsp.messagelog import repository
from lgsp.messagelog.chain import (
    GENESIS_HASH,
    EntryRow,
    batch_hash,
    format_at,
    format_skipped,
    head_payload,
    jws_header,
    row_digest,
)
from lgsp.messagelog.models import LogBatch

log = logging.getLogger(__name__)

Signer = Callable[[bytes], str]

# pg_try_advisory_xact_lock key: the first 8 bytes of SHA-256("lgsp.messagelog.sealer").
SEALER_LOCK_KEY: Final = int.from_bytes(
    hashlib.sha256(b"lgsp.messagelog.sealer").digest()[:8], "big", signed=True
)
_NO_LIMIT: Final = 1 << 62
_POLL_SECONDS: Final = 0.02


class SealError(Misconfigured):
    """The sealer found the log in a state it must not seal over."""

    slug, title = "seal-refused", "Log batch cannot be sealed"


def seal_pending(
    session_factory: sessionmaker[Session],
    sign: Signer,
    *,
    max_entries: int = 10000,
    settle_seconds: float = 2.0,
) -> int:
    """Seal every entry that can safely be sealed now, in batches of at most ``max_entries``.

    ``sign`` turns the batch head into a compact JWS whose header names the key (``kid``).
    ``settle_seconds`` bounds how long to wait, on PostgreSQL, for transactions that may still
    commit an entry into a gap; if they do not finish in time, sealing stops at the gap and the
    next run continues. Returns the number of entries sealed; 0 when another sealer holds the
    lock.
    """
    if max_entries < 1:
        raise ValueError("max_entries must be at least 1")
    total = 0
    while True:
        sealed = _seal_one(session_factory, sign, max_entries, settle_seconds)
        total += sealed
        if sealed < max_entries:
            return total


def _seal_one(
    session_factory: sessionmaker[Session], sign: Signer, max_entries: int, settle_seconds: float
) -> int:
    with transaction(session_factory) as session:
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql" and not repository.pg_try_lock(session, SEALER_LOCK_KEY):
            return 0
        prev = repository.last_batch(session)
        prev_hash, cursor = (GENESIS_HASH, 0) if prev is None else (prev[1], prev[2])
        rows = repository.unsealed_after(session, cursor, max_entries)
        if not rows:
            return 0
        if _contiguous_prefix(rows, cursor) < len(rows):
            horizon = _horizon(session, dialect, settle_seconds)
            if dialect == "postgresql" and horizon > cursor:
                # Transactions that finished while we waited may have filled gaps: read again.
                rows = repository.unsealed_after(session, cursor, max_entries)
        else:
            horizon = cursor
        taken = _sealable(rows, cursor, horizon)
        if not taken:
            return 0
        _write_batch(session, sign, prev_hash, taken)
        return len(taken)


def _contiguous_prefix(rows: list[EntryRow], cursor: int) -> int:
    expected = cursor + 1
    for n, row in enumerate(rows):
        if row.id != expected:
            return n
        expected += 1
    return len(rows)


def _sealable(rows: list[EntryRow], cursor: int, horizon: int) -> list[EntryRow]:
    """Entries at or below the horizon (ids there are final), then any that continue without a
    hole (nothing can be missing between consecutive ids)."""
    taken: list[EntryRow] = []
    prev = cursor
    for row in rows:
        if row.id <= horizon or row.id == prev + 1:
            taken.append(row)
            prev = row.id
        else:
            break
    return taken


def _horizon(session: Session, dialect: str, settle_seconds: float) -> int:
    """An id at or below which every entry is committed or gone for good."""
    if dialect == "sqlite":
        # One writer at a time, and our BEGIN IMMEDIATE is it: nothing is in flight.
        return _NO_LIMIT
    if dialect != "postgresql":
        return 0
    last_id, holders = repository.pg_id_horizon_start(session)
    deadline = time.monotonic() + settle_seconds
    while holders and repository.pg_still_running(session, holders):
        if time.monotonic() >= deadline:
            return 0
        time.sleep(_POLL_SECONDS)
    return last_id


def _write_batch(session: Session, sign: Signer, prev_hash: str, taken: list[EntryRow]) -> None:
    first, last = taken[0].id, taken[-1].id
    present = {row.id for row in taken}
    skipped = [i for i in range(first, last + 1) if i not in present]
    digests = b"".join(row_digest(row) for row in taken)
    hash_hex = batch_hash(prev_hash, first, last, len(taken), skipped, digests)
    sealed_at = utcnow()
    batch = LogBatch(
        first_entry_id=first,
        last_entry_id=last,
        count=len(taken),
        entry_hashes=digests,
        skipped_ids=format_skipped(skipped),
        prev_hash=prev_hash,
        hash=hash_hex,
        signature="",
        kid="",
        sealed_at=sealed_at,
    )
    session.add(batch)
    session.flush()  # the batch id is part of the signed head
    # Microseconds, as stored: the verifier reads back exactly the text that was signed.
    payload = head_payload(
        batch.id, hash_hex, prev_hash, first, last, len(taken), format_at(sealed_at)
    )
    signature = sign(payload)
    kid = jws_header(signature).get("kid")
    if not isinstance(kid, str) or not kid:
        raise SealError("the batch signature's JWS header carries no kid")
    batch.signature, batch.kid = signature, kid
    attached = repository.attach_to_batch(session, batch.id, first, last)
    if attached != len(taken):
        raise SealError(
            f"batch over entries {first}..{last}: expected {len(taken)} unsealed entries, "
            f"found {attached}; not sealing"
        )
    log.debug("sealed batch %s: entries %s..%s (%s)", batch.id, first, last, len(taken))


class Sealer:
    """Runs :func:`seal_pending` every ``interval`` seconds in a daemon thread."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        sign: Signer,
        *,
        interval: float = 1.0,
        max_entries: int = 10000,
        settle_seconds: float = 2.0,
    ) -> None:
        self._session_factory = session_factory
        self._sign = sign
        self._interval = interval
        self._max_entries = max_entries
        self._settle_seconds = settle_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sealed_total = 0
        self.last_error: BaseException | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("sealer already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="lgsp-log-sealer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop after the current round; the entries it was sealing are committed or not."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_once(self) -> int:
        sealed = seal_pending(
            self._session_factory,
            self._sign,
            max_entries=self._max_entries,
            settle_seconds=self._settle_seconds,
        )
        self.sealed_total += sealed
        return sealed

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
                self.last_error = None
            except Exception as exc:  # keep sealing after a database hiccup
                self.last_error = exc
                log.exception("sealing the message log failed; retrying")
            self._stop.wait(self._interval)
