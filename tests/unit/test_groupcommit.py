"""Group commit: concurrent writers share transactions, a conflicting job fails alone, and
nobody is told their rows are durable unless the commit holding them succeeded."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from lgsp.directory.models import Agency
from lgsp.kit import migrate
from lgsp.kit.db import make_engine, make_sessionmaker
from lgsp.kit.groupcommit import GroupCommitter


def agency(code: str) -> tuple[type[Agency], dict[str, Any]]:
    return (
        Agency,
        {
            "code": code,
            "name_vi": "Đơn vị " + code,
            "name_en": "Unit " + code,
            "kind": "department",
            "parent_code": None,
            "active": True,
        },
    )


def count(sessions: Any) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Agency)) or 0)


def test_concurrent_writes_share_commits_and_conflicts_fail_alone(database_url: str) -> None:
    migrate.upgrade(database_url)
    engine = make_engine(database_url, pool_size=4)
    sessions = make_sessionmaker(engine)
    writer = GroupCommitter(sessions, max_wait=0.02)
    errors: dict[str, BaseException] = {}
    barrier = threading.Barrier(40)

    def one(i: int) -> None:
        code = "DUP" if i % 10 == 0 else f"A{i:03d}"  # four jobs want the same key
        barrier.wait()
        try:
            writer.write([agency(code)])
        except BaseException as exc:
            errors[code + f"#{i}"] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.stop()
    # 36 distinct codes plus one DUP; the three other DUP writers got their constraint error.
    assert count(sessions) == 37
    assert len(errors) == 3 and all(isinstance(e, IntegrityError) for e in errors.values())
    assert writer.jobs == 40 and writer.batches < 40
    engine.dispose()


def test_a_failed_commit_reaches_every_caller(tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}", pool_size=2)  # no tables
    writer = GroupCommitter(make_sessionmaker(engine))
    with pytest.raises(OperationalError):
        writer.write([agency("X1")])
    writer.stop()
    engine.dispose()
