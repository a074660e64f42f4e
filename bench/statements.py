"""What the worker's two statements per attempt cost: ``python -m bench.statements``.

Times, on PostgreSQL (database ``lgsp_bench_statements``, created and dropped here), the read a
worker makes before an attempt (``delivery_with_message``) and the guarded outcome UPDATE it makes
after (``record_outcome``), each against the same statement built anew through the ORM on every
call, the way both were written before they were built once. CPU milliseconds per row (process
time, so waiting on the database is left out), median of five passes over 2,000 rows. Nothing
here is asserted; the figures go to docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from bench import deploy
from bench.machine import cpu_model
from lgsp.deliveries.models import Delivery, DeliveryState, is_open
from lgsp.deliveries.service import AttemptOutcome, record_outcome
from lgsp.exchange.models import Message
from lgsp.exchange.repository import delivery_with_message
from lgsp.kit.db import make_engine, make_sessionmaker, transaction
from lgsp.kit.timeutil import utcnow
from lgsp.models import Base

DATABASE = "lgsp_bench_statements"
Pass = Callable[[sessionmaker[Session], list[int]], None]


def _fill(sessions: sessionmaker[Session], rows: int) -> list[int]:
    now = utcnow()
    with transaction(sessions) as session:
        session.execute(
            insert(Message),
            [
                {
                    "id": f"m{i:06d}",
                    "type": "bench",
                    "sender": "000.00.01.H56",
                    "client_id": "c_bench",
                    "payload": '{"k": "v"}',
                    "payload_sha256": "0" * 64,
                    "size": 10,
                    "accepted_at": now,
                    "request_sha256": "0" * 64,
                }
                for i in range(rows)
            ],
        )
        session.execute(
            insert(Delivery),
            [
                {
                    "message_id": f"m{i:06d}",
                    "recipient": "000.00.16.H56",
                    "state": DeliveryState.PENDING.value,
                    "attempts": 0,
                    "created_at": now,
                    "next_attempt_at": now,
                }
                for i in range(rows)
            ],
        )
        return list(session.scalars(select(Delivery.id).order_by(Delivery.id)))


def _reopen(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        session.execute(update(Delivery).values(state="pending", finished_at=None))


def _outcome() -> AttemptOutcome:
    return AttemptOutcome.delivered(attempts=1, status_code=200, at=utcnow())


def record_built_once(sessions: sessionmaker[Session], ids: list[int]) -> None:
    with transaction(sessions) as session:
        for delivery_id in ids:
            record_outcome(session, delivery_id, _outcome())


def record_built_per_call(sessions: sessionmaker[Session], ids: list[int]) -> None:
    with transaction(sessions) as session:
        for delivery_id in ids:
            session.execute(
                update(Delivery)
                .execution_options(synchronize_session=False)
                .where(Delivery.id == delivery_id, is_open(Delivery.state))
                .values(**_outcome().values())
            )


def read_built_once(sessions: sessionmaker[Session], ids: list[int]) -> None:
    for delivery_id in ids:
        with sessions() as session:
            delivery_with_message(session, delivery_id)


def read_built_per_call(sessions: sessionmaker[Session], ids: list[int]) -> None:
    for delivery_id in ids:
        with sessions() as session:
            session.execute(
                select(Delivery, Message)
                .join(Message, Message.id == Delivery.message_id)
                .where(Delivery.id == delivery_id)
            ).first()


def _cpu_ms_per_row(run: Pass, sessions: sessionmaker[Session], ids: list[int]) -> float:
    samples = []
    for _ in range(5):
        _reopen(sessions)
        started = time.process_time()
        run(sessions, ids)
        samples.append((time.process_time() - started) * 1000 / len(ids))
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.statements", description=__doc__)
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args()
    url = deploy.recreate_pg(DATABASE)
    engine = make_engine(url, pool_size=2)
    try:
        Base.metadata.create_all(engine)
        sessions = make_sessionmaker(engine)
        ids = _fill(sessions, args.rows)
        print(f"{cpu_model()}, Python {platform.python_version()}; CPU ms per row, PostgreSQL")
        for name, once, per_call in (
            ("outcome UPDATE (record_outcome)", record_built_once, record_built_per_call),
            (
                "read before an attempt (delivery_with_message)",
                read_built_once,
                read_built_per_call,
            ),
        ):
            built_once = _cpu_ms_per_row(once, sessions, ids)
            built_per_call = _cpu_ms_per_row(per_call, sessions, ids)
            print(f"  {name}: built once {built_once:.3f}, built per call {built_per_call:.3f}")
    finally:
        engine.dispose()
        deploy.drop_pg(DATABASE)


if __name__ == "__main__":
    main()
