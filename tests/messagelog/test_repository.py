"""Appending in the caller's transaction, and searching the log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from lgsp.kit.db import transaction
from lgsp.messagelog.models import LogEntry
from lgsp.messagelog.repository import search, search_statement
from lgsp.messagelog.service import append
from tests.messagelog.conftest import add_entries


def _count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(LogEntry)) or 0)


def test_append_commits_with_the_callers_transaction(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(RuntimeError), transaction(sessions) as session:
        append(session, "message.accepted", message_id="m1")
        raise RuntimeError("the business rows failed")
    assert _count(sessions) == 0
    at = datetime(2026, 11, 26, 1, 2, 3, 4, tzinfo=UTC)
    with transaction(sessions) as session:
        entry = append(
            session,
            "delivery.attempt",
            actor="worker",
            agency="000.00.01.H22",
            message_id="m1",
            correlation_key="000.00.12.H02-261126-0007",
            detail={"attempt": (1, 2), "when": at, "status": 503},
            body_sha256="ab" * 32,
            at=at,
        )
    with sessions() as session:
        stored = session.get_one(LogEntry, entry.id)
    assert stored.at == at and stored.kind == "delivery.attempt"
    # Stored in the JSON form it is hashed in.
    assert stored.detail == {
        "attempt": [1, 2],
        "when": "2026-11-26T01:02:03.000004+00:00",
        "status": 503,
    }


def test_append_refuses_what_it_could_not_hash(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        with pytest.raises(ValueError, match="timezone"):
            append(session, "x", at=datetime(2026, 1, 1))  # naive on purpose
        with pytest.raises(ValueError, match="JSON"):
            append(session, "x", detail={"blob": object()})


def test_search_filters_and_keyset_pages(sessions: sessionmaker[Session]) -> None:
    add_entries(sessions, 5, correlation_key="000.00.12.H02-261126-0001", kind="message.accepted")
    add_entries(sessions, 3, correlation_key="000.00.12.H02-261126-0002", agency="H22")
    add_entries(sessions, 4, correlation_key="000.00.12.H02-261126-0001", kind="delivery.attempt")
    with sessions() as session:
        dossier = search(session, correlation_key="000.00.12.H02-261126-0001", limit=4)
        assert len(dossier) == 4 and [e.id for e in dossier] == sorted(
            (e.id for e in dossier), reverse=True
        )
        page2 = search(
            session, correlation_key="000.00.12.H02-261126-0001", limit=4, after_id=dossier[-1].id
        )
        page3 = search(
            session, correlation_key="000.00.12.H02-261126-0001", limit=4, after_id=page2[-1].id
        )
        ids = [e.id for e in dossier + page2 + page3]
        assert len(ids) == len(set(ids)) == 9
        oldest = search(
            session, correlation_key="000.00.12.H02-261126-0001", newest_first=False, limit=2
        )
        assert [e.id for e in oldest] == sorted(ids)[:2]
        assert len(search(session, kind="delivery.attempt")) == 4
        assert len(search(session, agency="H22")) == 3
        assert len(search(session, message_id="msg-1")) == 3
        now = datetime.now(UTC)
        assert len(search(session, since=now - timedelta(minutes=5), until=now)) == 12
        assert search(session, since=now + timedelta(minutes=5)) == []


def test_dossier_lookup_is_an_index_range_scan(sessions: sessionmaker[Session]) -> None:
    engine = sessions.kw["bind"]
    dialect = engine.dialect.name
    with transaction(sessions) as session:
        # 20 entries per dossier, as in real traffic: one range of the (key, id) index.
        if dialect == "postgresql":
            session.execute(
                text(
                    "INSERT INTO log_entries (at, kind, correlation_key, detail) "
                    "SELECT now(), 'message.accepted', 'H02-261126-' || (g % 5000), '{}'::jsonb "
                    "FROM generate_series(1, 100000) g"
                )
            )
        else:
            session.execute(
                text(
                    "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g "
                    "WHERE n < 100000) INSERT INTO log_entries (at, kind, correlation_key, detail) "
                    "SELECT '2026-11-26 00:00:00.000000', 'message.accepted', "
                    "'H02-261126-' || (n % 5000), '{}' FROM g"
                )
            )
        session.execute(text("ANALYZE log_entries"))
    stmt = search_statement(correlation_key="H02-261126-7", after_id=90000, limit=100)
    sql = str(stmt.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    with sessions() as session:
        if dialect == "postgresql":
            plan = "\n".join(session.scalars(text("EXPLAIN " + sql)))
            assert "ix_log_entries_correlation" in plan and "Seq Scan" not in plan, plan
            index_cond = next(line for line in plan.splitlines() if "Index Cond" in line)
            assert "correlation_key" in index_cond and "id <" in index_cond, plan
        else:
            plan = " ".join(str(r[-1]) for r in session.execute(text("EXPLAIN QUERY PLAN " + sql)))
            assert "ix_log_entries_correlation" in plan and "TEMP B-TREE" not in plan, plan
