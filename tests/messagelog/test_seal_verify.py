"""Sealing and verification of the live log, on SQLite and PostgreSQL, against real tampering
done with plain SQL behind the service's back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from lgsp.kit.db import transaction
from lgsp.messagelog.chain import GENESIS_HASH, batch_hash, head_payload
from lgsp.messagelog.models import LogBatch, LogEntry
from lgsp.messagelog.sealer import seal_pending
from lgsp.messagelog.verify import verify_log
from tests.messagelog.conftest import Signer, add_entries, make_signer


def _sql(sessions: sessionmaker[Session], stmt: Any, params: dict[str, Any] | None = None) -> None:
    with transaction(sessions) as session:
        session.execute(stmt, params or {})


def _batches(sessions: sessionmaker[Session]) -> list[LogBatch]:
    with sessions() as session:
        return list(session.scalars(select(LogBatch).order_by(LogBatch.id)))


def _sealed_log(sessions: sessionmaker[Session], signer: Signer) -> list[int]:
    """25 entries in 3 batches (10, 10, 5)."""
    ids = add_entries(sessions, 25)
    assert seal_pending(sessions, signer.sign, max_entries=10, settle_seconds=0) == 25
    return ids


def test_append_seal_verify(sessions: sessionmaker[Session], signer: Signer) -> None:
    ids = _sealed_log(sessions, signer)
    batches = _batches(sessions)
    assert [(b.first_entry_id, b.last_entry_id, b.count) for b in batches] == [
        (ids[0], ids[9], 10),
        (ids[10], ids[19], 10),
        (ids[20], ids[24], 5),
    ]
    assert batches[0].prev_hash == GENESIS_HASH
    assert batches[1].prev_hash == batches[0].hash and batches[2].prev_hash == batches[1].hash
    assert {b.kid for b in batches} == {"k1"}
    with sessions() as session:
        assert session.scalar(select(func.count()).where(LogEntry.batch_id.is_(None))) == 0

    report = verify_log(sessions, signer.jwks)
    assert report.ok, report.summary()
    assert (report.batches, report.entries, report.unsealed) == (3, 25, 0)
    assert report.head_batch_id == batches[-1].id and report.head_hash == batches[-1].hash
    # Nothing pending: a second run seals nothing and adds no batch.
    assert seal_pending(sessions, signer.sign, settle_seconds=0) == 0
    assert len(_batches(sessions)) == 3


def test_unsealed_entries_are_counted_not_failed(
    sessions: sessionmaker[Session], signer: Signer
) -> None:
    _sealed_log(sessions, signer)
    add_entries(sessions, 4)
    report = verify_log(sessions, signer.jwks)
    assert report.ok, report.summary()
    assert (report.entries, report.unsealed) == (25, 4)
    assert seal_pending(sessions, signer.sign, settle_seconds=0) == 4
    report = verify_log(sessions, signer.jwks)
    assert report.ok and (report.entries, report.unsealed, report.batches) == (29, 0, 4)


def test_empty_log_verifies(sessions: sessionmaker[Session], signer: Signer) -> None:
    report = verify_log(sessions, signer.jwks)
    assert report.ok and report.entries == 0 and report.head_hash is None


def test_tampered_detail_names_the_entry(sessions: sessionmaker[Session], signer: Signer) -> None:
    ids = _sealed_log(sessions, signer)
    victim = ids[13]
    _sql(
        sessions,
        update(LogEntry).where(LogEntry.id == victim).values(detail={"type": "forged", "n": 13}),
    )
    report = verify_log(sessions, signer.jwks)
    assert not report.ok
    assert report.bad_entry_id == victim
    assert report.bad_batch_id == _batches(sessions)[1].id
    assert "altered" in (report.reason or "")
    # Everything before the bad entry was verified.
    assert report.entries == 13


def test_tampered_column_via_raw_sql(sessions: sessionmaker[Session], signer: Signer) -> None:
    ids = _sealed_log(sessions, signer)
    _sql(
        sessions,
        text("UPDATE log_entries SET actor = 'someone-else' WHERE id = :id"),
        {"id": ids[3]},
    )
    report = verify_log(sessions, signer.jwks)
    assert not report.ok and report.bad_entry_id == ids[3]


def test_tampered_timestamp(sessions: sessionmaker[Session], signer: Signer) -> None:
    ids = _sealed_log(sessions, signer)
    with sessions() as session:
        at = session.get_one(LogEntry, ids[22]).at
    _sql(
        sessions,
        update(LogEntry)
        .where(LogEntry.id == ids[22])
        .values(at=at.replace(microsecond=(at.microsecond + 1) % 1_000_000)),
    )
    report = verify_log(sessions, signer.jwks)
    assert not report.ok and report.bad_entry_id == ids[22]


def test_deleted_entry_names_it(sessions: sessionmaker[Session], signer: Signer) -> None:
    ids = _sealed_log(sessions, signer)
    _sql(sessions, text("DELETE FROM log_entries WHERE id = :id"), {"id": ids[7]})
    report = verify_log(sessions, signer.jwks)
    assert not report.ok
    assert report.bad_entry_id == ids[7] and report.bad_batch_id == _batches(sessions)[0].id
    assert "missing" in (report.reason or "")


def test_deleted_last_entry_is_detected(sessions: sessionmaker[Session], signer: Signer) -> None:
    ids = _sealed_log(sessions, signer)
    _sql(sessions, text("DELETE FROM log_entries WHERE id = :id"), {"id": ids[-1]})
    report = verify_log(sessions, signer.jwks)
    assert not report.ok and report.bad_entry_id == ids[-1]
    # A later entry never reuses the deleted id (SQLite AUTOINCREMENT, PostgreSQL sequence).
    assert add_entries(sessions, 1)[0] > ids[-1]


def test_entry_moved_to_another_batch(sessions: sessionmaker[Session], signer: Signer) -> None:
    ids = _sealed_log(sessions, signer)
    batches = _batches(sessions)
    _sql(sessions, update(LogEntry).where(LogEntry.id == ids[2]).values(batch_id=batches[2].id))
    report = verify_log(sessions, signer.jwks)
    assert not report.ok and report.bad_entry_id == ids[2]
    assert "points at batch" in (report.reason or "")


def test_entry_unsealed_inside_sealed_range(
    sessions: sessionmaker[Session], signer: Signer
) -> None:
    ids = _sealed_log(sessions, signer)
    _sql(sessions, update(LogEntry).where(LogEntry.id == ids[5]).values(batch_id=None))
    report = verify_log(sessions, signer.jwks)
    assert not report.ok and report.bad_entry_id == ids[5]


def test_altered_batch_hash_fails_signature(
    sessions: sessionmaker[Session], signer: Signer
) -> None:
    _sealed_log(sessions, signer)
    second = _batches(sessions)[1]
    _sql(sessions, update(LogBatch).where(LogBatch.id == second.id).values(hash="ab" * 32))
    report = verify_log(sessions, signer.jwks)
    assert not report.ok and report.bad_batch_id == second.id
    assert "signature" in (report.reason or "")
    assert report.entries == 10


def test_rewritten_batch_consistent_but_unsigned(
    sessions: sessionmaker[Session], signer: Signer
) -> None:
    """Alter an entry and recompute its digest, the batch hash and the chain: only the
    signature can tell, and it does."""
    ids = _sealed_log(sessions, signer)
    _sql(sessions, update(LogEntry).where(LogEntry.id == ids[0]).values(kind="forged"))
    forger = make_signer("k1")  # same kid, another key
    _resign_everything(sessions, forger)
    assert verify_log(sessions, forger.jwks).ok  # self-consistent with the forger's key
    report = verify_log(sessions, signer.jwks)
    assert not report.ok and report.bad_batch_id == _batches(sessions)[0].id
    assert "bad signature" in (report.reason or "")


def test_signature_by_unknown_key(sessions: sessionmaker[Session], signer: Signer) -> None:
    _sealed_log(sessions, signer)
    _resign_everything(sessions, make_signer("intruder"))
    report = verify_log(sessions, signer.jwks)
    assert not report.ok and "unknown key" in (report.reason or "")


def test_swapped_signatures(sessions: sessionmaker[Session], signer: Signer) -> None:
    _sealed_log(sessions, signer)
    first, second, _ = _batches(sessions)
    _sql(
        sessions, update(LogBatch).where(LogBatch.id == second.id).values(signature=first.signature)
    )
    report = verify_log(sessions, signer.jwks)
    assert not report.ok and report.bad_batch_id == second.id
    assert "signed head does not match" in (report.reason or "")


def test_deleted_middle_batch_breaks_chain(sessions: sessionmaker[Session], signer: Signer) -> None:
    ids = _sealed_log(sessions, signer)
    _, second, third = _batches(sessions)
    _sql(
        sessions,
        text("DELETE FROM log_entries WHERE id >= :a AND id <= :b"),
        {"a": ids[10], "b": ids[19]},
    )
    _sql(sessions, text("DELETE FROM log_batches WHERE id = :id"), {"id": second.id})
    report = verify_log(sessions, signer.jwks)
    assert not report.ok and report.bad_batch_id == third.id
    assert "chain broken" in (report.reason or "")


def test_rotated_keys_both_verify(sessions: sessionmaker[Session], signer: Signer) -> None:
    add_entries(sessions, 3)
    seal_pending(sessions, signer.sign, settle_seconds=0)
    newer = make_signer("k2")
    add_entries(sessions, 3)
    seal_pending(sessions, newer.sign, settle_seconds=0)
    both = {"keys": signer.jwks["keys"] + newer.jwks["keys"]}
    report = verify_log(sessions, both)
    assert report.ok and report.batches == 2
    assert not verify_log(sessions, newer.jwks).ok


def _resign_everything(sessions: sessionmaker[Session], forger: Signer) -> None:
    """What an attacker with database write access and their own key would do."""
    from lgsp.messagelog.chain import entry_digest, format_at

    prev = GENESIS_HASH
    with transaction(sessions) as session:
        for batch in session.scalars(select(LogBatch).order_by(LogBatch.id)):
            entries = session.scalars(
                select(LogEntry).where(LogEntry.batch_id == batch.id).order_by(LogEntry.id)
            ).all()
            digests = b"".join(
                entry_digest(
                    e.id,
                    format_at(e.at),
                    e.kind,
                    e.actor,
                    e.agency,
                    e.message_id,
                    e.correlation_key,
                    e.detail,
                    e.body_sha256,
                )
                for e in entries
            )
            batch.entry_hashes = digests
            batch.prev_hash = "f" * 64  # placate the unique index while rewriting
            session.flush()
            batch.prev_hash = prev
            batch.hash = batch_hash(
                prev, batch.first_entry_id, batch.last_entry_id, batch.count, [], digests
            )
            batch.signature = forger.sign(
                head_payload(
                    batch.id,
                    batch.hash,
                    prev,
                    batch.first_entry_id,
                    batch.last_entry_id,
                    batch.count,
                    format_at(batch.sealed_at),
                )
            )
            batch.kid = forger.kid
            session.flush()
            prev = batch.hash


def test_tampered_sealing_time_fails_the_signed_head(
    sessions: sessionmaker[Session], signer: Signer
) -> None:
    """When a batch was sealed is evidence too: backdating it breaks the signature check."""
    _sealed_log(sessions, signer)
    second = _batches(sessions)[1]
    _sql(
        sessions,
        update(LogBatch)
        .where(LogBatch.id == second.id)
        .values(sealed_at=second.sealed_at.replace(year=second.sealed_at.year - 1)),
    )
    report = verify_log(sessions, signer.jwks)
    assert not report.ok and report.bad_batch_id == second.id
    assert "sealed_at" in (report.reason or "")
