"""The sealer under concurrency: parallel sealers, transactions committing out of id order,
rolled-back transactions leaving holes in the ids."""

from __future__ import annotations

import itertools
import threading
import time

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from lgsp.kit.db import make_engine, make_sessionmaker, transaction
from lgsp.messagelog.models import LogBatch, LogEntry
from lgsp.messagelog.sealer import SEALER_LOCK_KEY, Sealer, seal_pending
from lgsp.messagelog.service import append
from lgsp.messagelog.verify import verify_log
from tests.messagelog.conftest import Signer, add_entries


def _pending(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).where(LogEntry.batch_id.is_(None))) or 0)


def _batch_spans(sessions: sessionmaker[Session]) -> list[tuple[int, int, int, str]]:
    with sessions() as session:
        return [
            (b.first_entry_id, b.last_entry_id, b.count, b.skipped_ids)
            for b in session.scalars(select(LogBatch).order_by(LogBatch.id))
        ]


def test_concurrent_sealers_never_double_seal(
    sessions: sessionmaker[Session], signer: Signer
) -> None:
    stop = threading.Event()
    sealed: list[int] = []
    errors: list[BaseException] = []

    def sealer() -> None:
        try:
            while not stop.is_set():
                sealed.append(seal_pending(sessions, signer.sign, max_entries=7, settle_seconds=1))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sealer) for _ in range(4)]
    for t in threads:
        t.start()
    total = 0
    for _ in range(40):
        total += len(add_entries(sessions, 5))
    stop.set()
    for t in threads:
        t.join(60)
    assert not errors, errors
    sealed.append(seal_pending(sessions, signer.sign, max_entries=7, settle_seconds=1))
    assert sum(sealed) == total == 200
    assert _pending(sessions) == 0
    report = verify_log(sessions, signer.jwks)
    assert report.ok, report.summary()
    assert report.entries == 200
    spans = _batch_spans(sessions)
    assert all(count <= 7 for _, _, count, _ in spans)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(spans))


def test_rolled_back_transaction_leaves_no_trace(
    sessions: sessionmaker[Session], signer: Signer
) -> None:
    add_entries(sessions, 3)
    with pytest.raises(RuntimeError), transaction(sessions) as session:
        append(session, "message.accepted", detail={"n": "lost"})
        session.flush()  # draws an id, then the transaction dies
        raise RuntimeError("business rule failed")
    add_entries(sessions, 3)
    assert seal_pending(sessions, signer.sign, settle_seconds=1) == 6
    report = verify_log(sessions, signer.jwks)
    assert report.ok and report.entries == 6, report.summary()
    first, last, count, skipped = _batch_spans(sessions)[0]
    # SQLite reuses nothing and leaves no hole; PostgreSQL's sequence leaves one, recorded.
    assert count == 6 and last - first + 1 == 6 + len([s for s in skipped.split(",") if s])


def test_sealer_thread(sessions: sessionmaker[Session], signer: Signer) -> None:
    sealer = Sealer(sessions, signer.sign, interval=0.02, settle_seconds=0.5)
    sealer.start()
    try:
        add_entries(sessions, 10)
        deadline = time.monotonic() + 30
        while _pending(sessions) and time.monotonic() < deadline:
            time.sleep(0.02)
        add_entries(sessions, 5)
        while _pending(sessions) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        sealer.stop()
    assert _pending(sessions) == 0 and sealer.sealed_total == 15 and sealer.last_error is None
    assert verify_log(sessions, signer.jwks).ok


# ---- PostgreSQL: ids drawn by transactions that commit late or never -------------------------


@pytest.fixture
def pg_sessions(pg_url: str) -> sessionmaker[Session]:
    from lgsp.kit.db import Base

    engine = make_engine(pg_url, pool_size=5)
    Base.metadata.create_all(engine, tables=[LogBatch.__table__, LogEntry.__table__])
    return make_sessionmaker(engine)


def _open_entry(sessions: sessionmaker[Session]) -> tuple[Session, int]:
    """A transaction that has drawn an entry id and not committed yet."""
    session = sessions()
    entry = append(session, "message.accepted", detail={"slow": True})
    session.flush()
    return session, entry.id


def test_pg_never_seals_past_an_in_flight_id(
    pg_sessions: sessionmaker[Session], signer: Signer
) -> None:
    slow, slow_id = _open_entry(pg_sessions)
    later = add_entries(pg_sessions, 3)
    assert later[0] > slow_id
    # The later entries are committed, but the slow transaction may still commit its lower id:
    # sealing them now would seal over an entry that then never fits the chain.
    assert seal_pending(pg_sessions, signer.sign, settle_seconds=0.3) == 0
    slow.commit()
    slow.close()
    assert seal_pending(pg_sessions, signer.sign, settle_seconds=0.3) == 4
    assert _batch_spans(pg_sessions) == [(slow_id, later[-1], 4, "")]
    assert verify_log(pg_sessions, signer.jwks).ok


def test_pg_seals_contiguous_prefix_then_the_hole_once_final(
    pg_sessions: sessionmaker[Session], signer: Signer
) -> None:
    before = add_entries(pg_sessions, 2)
    slow, slow_id = _open_entry(pg_sessions)
    after = add_entries(pg_sessions, 2)
    assert seal_pending(pg_sessions, signer.sign, settle_seconds=0.3) == 2  # up to the hole
    slow.rollback()
    slow.close()
    assert seal_pending(pg_sessions, signer.sign, settle_seconds=0.3) == 2
    assert _batch_spans(pg_sessions) == [(before[0], before[1], 2, ""), (after[0], after[1], 2, "")]
    assert slow_id < after[0]
    report = verify_log(pg_sessions, signer.jwks)
    assert report.ok and report.entries == 4, report.summary()


def test_pg_hole_inside_a_batch_is_recorded(
    pg_sessions: sessionmaker[Session], signer: Signer
) -> None:
    first = add_entries(pg_sessions, 2)
    slow, slow_id = _open_entry(pg_sessions)
    slow.rollback()
    slow.close()
    rest = add_entries(pg_sessions, 2)
    assert seal_pending(pg_sessions, signer.sign, settle_seconds=0.3) == 4
    assert _batch_spans(pg_sessions) == [(first[0], rest[-1], 4, str(slow_id))]
    assert verify_log(pg_sessions, signer.jwks).ok
    # An entry that turns up inside the sealed range later is flagged, not silently accepted.
    with transaction(pg_sessions) as session:
        session.execute(
            text(
                "INSERT INTO log_entries (id, at, kind, detail) "
                "VALUES (:id, now(), 'forged', '{}'::jsonb)"
            ),
            {"id": slow_id},
        )
    report = verify_log(pg_sessions, signer.jwks)
    assert not report.ok and report.bad_entry_id == slow_id


def test_pg_second_sealer_backs_off(pg_sessions: sessionmaker[Session], signer: Signer) -> None:
    add_entries(pg_sessions, 3)
    with pg_sessions() as holder:
        assert holder.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SEALER_LOCK_KEY})
        assert seal_pending(pg_sessions, signer.sign, settle_seconds=0) == 0
        holder.rollback()
    assert seal_pending(pg_sessions, signer.sign, settle_seconds=0) == 3
