"""The rules of each named transition of a delivery (lgsp/deliveries/service.py), one at a time,
on real databases (SQLite and PostgreSQL): which rows a transition writes, which columns it
writes on them, and that every other row and column stays exactly as it was.

Rows are written straight into the table with the state and columns each case needs, including
final rows that still carry a lease or a publish mark (rows finished by an earlier version, or by
hand): a transition that only concerns open rows must leave them alone too.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import StatementError

from lgsp.deliveries import repository, service
from lgsp.deliveries.models import Delivery, DeliveryState
from lgsp.deliveries.service import HELD_PREFIX, AttemptOutcome
from lgsp.kit.db import make_engine, make_sessionmaker, transaction
from lgsp.kit.timeutil import utcnow
from lgsp.models import Base
from tests.deliveries.rows import (
    ACKED,
    DEAD,
    DELIVERED,
    INBOX,
    PENDING,
    RETRYING,
    DeliveryRows,
)

COLUMNS = [column.key for column in Delivery.__table__.columns]


@dataclass
class DeliveryTable(DeliveryRows):
    """The deliveries table, with every column of every row at hand and the lease at its
    ``now``."""

    def columns(self, delivery_id: int) -> dict[str, Any]:
        """Every column of one row, as stored."""
        with self.sessions() as session:
            row = session.get(Delivery, delivery_id)
            assert row is not None
            return {name: getattr(row, name) for name in COLUMNS}

    def everything(self) -> dict[int, dict[str, Any]]:
        with self.sessions() as session:
            ids = list(session.scalars(select(Delivery.id).order_by(Delivery.id)))
        return {i: self.columns(i) for i in ids}

    def leases(self) -> dict[int, tuple[str | None, datetime | None]]:
        return {i: (c["lease_owner"], c["lease_until"]) for i, c in self.everything().items()}

    def published(self) -> dict[int, datetime | None]:
        return {i: c["published_at"] for i, c in self.everything().items()}

    def lease(self, owner: str, *, seconds: float = 30, limit: int = 10, **kw: Any) -> list[Any]:
        with transaction(self.sessions) as session:
            return service.lease(
                session, owner=owner, now=self.now, lease_seconds=seconds, limit=limit, **kw
            )


def _table(url: str) -> Iterator[DeliveryTable]:
    engine = make_engine(url, pool_size=3)
    Base.metadata.create_all(engine)
    yield DeliveryTable(make_sessionmaker(engine))
    engine.dispose()


@pytest.fixture
def table(database_url: str) -> Iterator[DeliveryTable]:
    yield from _table(database_url)


@pytest.fixture
def pg_table(pg_url: str) -> Iterator[DeliveryTable]:
    """PostgreSQL only: for what depends on row locks (SQLite has one writer at a time)."""
    yield from _table(pg_url)


# --- open -----------------------------------------------------------------------------------------


def test_open_rows_are_one_complete_row_per_recipient_in_order() -> None:
    now = utcnow()
    rows = service.open_rows(
        "m-1", ["PUSH", "PULL", "OTHER"], pull={"PULL"}, correlation_key="K-1", now=now
    )

    def row(recipient: str, state: DeliveryState) -> tuple[type[Delivery], dict[str, Any]]:
        values = {
            "message_id": "m-1",
            "recipient": recipient,
            "correlation_key": "K-1",
            "state": state.value,
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
        }
        return Delivery, values

    assert rows == [row("PUSH", PENDING), row("PULL", INBOX), row("OTHER", PENDING)]
    assert service.open_rows("m-2", [], pull=(), correlation_key=None, now=now) == []


# --- lease and release (embedded transport) -------------------------------------------------------


def test_lease_takes_the_first_eligible_rows_up_to_its_limit(table: DeliveryTable) -> None:
    first, second, third = table.add("A"), table.add("B"), table.add("C")
    not_due = table.add("D", due=table.at(60))
    finished = table.add("E", state=DELIVERED, finished_at=table.now)

    assert table.lease("w1", limit=2) == [(first, "A"), (second, "B")]
    held = ("w1", table.at(30))
    assert table.leases() == {
        first: held,
        second: held,
        third: (None, None),
        not_due: (None, None),
        finished: (None, None),
    }
    # What is left for the next worker: the third, not the two held ones.
    assert table.lease("w2", limit=10) == [(third, "C")]
    assert table.leases()[third] == ("w2", table.at(30))


def test_lease_skips_the_recipients_it_is_told_to(table: DeliveryTable) -> None:
    a1, b, a2, c = table.add("A"), table.add("B"), table.add("A"), table.add("C")

    assert table.lease("w1", exclude_recipients=["A", "C"]) == [(b, "B")]
    assert table.leases() == {
        a1: (None, None),
        b: ("w1", table.at(30)),
        a2: (None, None),
        c: (None, None),
    }


def test_release_gives_back_only_the_named_rows_the_owner_holds(table: DeliveryTable) -> None:
    mine, kept, theirs = table.add("A"), table.add("B"), table.add("C")
    before = table.columns(mine)
    assert table.lease("w1", limit=2) == [(mine, "A"), (kept, "B")]
    assert table.lease("w2", seconds=60) == [(theirs, "C")]

    with transaction(table.sessions) as session:
        # ``theirs`` is named too, but w2 holds it: w1 cannot give it back.
        service.release(session, [mine, theirs], "w1")

    assert table.leases() == {
        mine: (None, None),
        kept: ("w1", table.at(30)),
        theirs: ("w2", table.at(60)),
    }
    # Given back without an attempt: the row is exactly as it was before the lease.
    assert table.columns(mine) == before


def test_release_leases_gives_back_every_open_row_of_the_owner_and_nothing_else(
    table: DeliveryTable,
) -> None:
    until = table.at(30)
    pending = table.add("A", lease_owner="w1", lease_until=until)
    retrying = table.add("B", state=RETRYING, attempts=1, lease_owner="w1", lease_until=until)
    theirs = table.add("C", lease_owner="w2", lease_until=until)
    delivered = table.add("D", state=DELIVERED, lease_owner="w1", lease_until=until)
    dead = table.add("E", state=DEAD, lease_owner="w1", lease_until=until)
    before = table.everything()

    with transaction(table.sessions) as session:
        service.release_leases(session, "w1")

    released = {"lease_owner": None, "lease_until": None}
    assert table.everything() == {
        pending: {**before[pending], **released},
        retrying: {**before[retrying], **released},
        theirs: before[theirs],
        delivered: before[delivered],
        dead: before[dead],
    }


# --- publish (amqp transport) ---------------------------------------------------------------------


def test_mark_published_marks_open_unmarked_rows_only(table: DeliveryTable) -> None:
    earlier = table.at(-5)
    fresh = table.add("A")
    retrying = table.add("B", state=RETRYING, attempts=1)
    marked = table.add("C", published_at=earlier)
    finished = table.add("D", state=DELIVERED, finished_at=table.now)
    inbox = table.add("E", state=INBOX)
    not_named = table.add("F")

    with transaction(table.sessions) as session:
        service.mark_published(session, [fresh, retrying, marked, finished, inbox], now=table.now)
        service.mark_published(session, [], now=table.at(1))

    assert table.published() == {
        fresh: table.now,
        retrying: table.now,
        # The first confirmation counts: a later one does not move the mark.
        marked: earlier,
        finished: None,
        inbox: None,
        not_named: None,
    }


def test_unpublish_stale_clears_open_rows_published_strictly_before_the_cutoff(
    table: DeliveryTable,
) -> None:
    cutoff = table.now
    old = table.add("A", published_at=table.at(-60))
    just_before = table.add("B", state=RETRYING, attempts=1, published_at=table.at(-0.000001))
    at_cutoff = table.add("C", published_at=cutoff)
    after = table.add("D", published_at=table.at(1))
    unpublished = table.add("E")
    delivered = table.add("F", state=DELIVERED, published_at=table.at(-60))
    dead = table.add("G", state=DEAD, published_at=table.at(-60))
    before = table.everything()

    with transaction(table.sessions) as session:
        count = service.unpublish_stale(session, published_before=cutoff)

    assert count == 2
    assert table.everything() == {
        old: {**before[old], "published_at": None},
        just_before: {**before[just_before], "published_at": None},
        at_cutoff: before[at_cutoff],
        after: before[after],
        unpublished: before[unpublished],
        delivered: before[delivered],
        dead: before[dead],
    }
    with transaction(table.sessions) as session:
        assert service.unpublish_stale(session, published_before=cutoff) == 0


# --- idle wait ------------------------------------------------------------------------------------


def test_idle_wait_is_the_ceiling_when_nothing_open_is_due(table: DeliveryTable) -> None:
    assert service.idle_wait(table.sessions, poll=0.05) == 1.0  # the default ceiling
    assert service.idle_wait(table.sessions, poll=0.05, ceiling=7.0) == 7.0
    # Final and inbox rows are never due, however old their next_attempt_at.
    table.add("A", state=DELIVERED, due=table.at(-60), finished_at=table.now)
    table.add("B", state=INBOX, due=table.at(-60))
    assert service.idle_wait(table.sessions, poll=0.05, ceiling=7.0) == 7.0


def test_idle_wait_is_the_poll_when_a_row_is_due_already(table: DeliveryTable) -> None:
    table.add("A", due=table.at(-60))
    assert service.idle_wait(table.sessions, poll=0.2, ceiling=7.0) == 0.2
    # Never a busy loop: a poll under 10 ms waits 10 ms.
    assert service.idle_wait(table.sessions, poll=0.0, ceiling=7.0) == 0.01
    assert service.idle_wait(table.sessions, poll=0.001) == 0.01


def test_idle_wait_lasts_until_the_earliest_open_row_is_due(table: DeliveryTable) -> None:
    table.add("A", due=utcnow() + timedelta(seconds=30))
    table.add("B", state=RETRYING, attempts=1, due=utcnow() + timedelta(seconds=3))
    wait = service.idle_wait(table.sessions, poll=0.01, ceiling=10.0)
    assert 2.0 < wait <= 3.0
    assert service.idle_wait(table.sessions, poll=0.01) == 1.0


def test_the_relays_idle_wait_leaves_out_rows_on_the_broker(table: DeliveryTable) -> None:
    table.add("A", due=table.at(-60), published_at=table.at(-59))
    # A dispatcher counts it (it is open and due); the amqp relay does not (it is published).
    assert service.idle_wait(table.sessions, poll=0.2, ceiling=7.0) == 0.2
    assert service.idle_wait(table.sessions, poll=0.2, ceiling=7.0, unpublished_only=True) == 7.0
    table.add("B", due=table.at(-30))
    assert service.idle_wait(table.sessions, poll=0.2, ceiling=7.0, unpublished_only=True) == 0.2


def test_idle_wait_is_the_ceiling_when_the_database_cannot_answer(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}", pool_size=1)  # no tables
    try:
        assert service.idle_wait(make_sessionmaker(engine), poll=0.05, ceiling=3.0) == 3.0
    finally:
        engine.dispose()


# --- outcomes -------------------------------------------------------------------------------------

AT = utcnow()
LATER = AT + timedelta(seconds=40)


def test_each_outcome_carries_exactly_what_it_was_given() -> None:
    assert AttemptOutcome.delivered(attempts=2, status_code=200, at=AT) == AttemptOutcome(
        state=DELIVERED, attempts=2, at=AT, status_code=200
    )
    assert AttemptOutcome.retry(
        attempts=3, status_code=503, error="busy", at=AT, next_attempt_at=LATER
    ) == AttemptOutcome(
        state=RETRYING,
        attempts=3,
        at=AT,
        status_code=503,
        error="busy",
        next_attempt_at=LATER,
        held=False,
    )
    # A hold counts no attempt (the caller passes the attempts made so far) and says no status:
    # the recipient never saw the message.
    assert AttemptOutcome.hold(
        attempts=1, error="unknown adapter 'x'", at=AT, next_attempt_at=LATER
    ) == AttemptOutcome(
        state=RETRYING,
        attempts=1,
        at=AT,
        status_code=None,
        error="held: unknown adapter 'x'",
        next_attempt_at=LATER,
        held=True,
    )
    assert AttemptOutcome.dead_letter(
        attempts=4, status_code=400, error="refused", at=AT
    ) == AttemptOutcome(state=DEAD, attempts=4, at=AT, status_code=400, error="refused")
    assert HELD_PREFIX == "held: "


def test_the_held_flag_is_set_by_hold_only() -> None:
    outcomes = {
        "delivered": AttemptOutcome.delivered(attempts=1, status_code=200, at=AT),
        "retry": AttemptOutcome.retry(
            attempts=1, status_code=None, error="e", at=AT, next_attempt_at=LATER
        ),
        "hold": AttemptOutcome.hold(attempts=0, error="e", at=AT, next_attempt_at=LATER),
        "dead": AttemptOutcome.dead_letter(attempts=1, status_code=None, error="e", at=AT),
    }
    assert {name: o.held for name, o in outcomes.items()} == {
        "delivered": False,
        "retry": False,
        "hold": True,
        "dead": False,
    }


OVER = {"lease_owner": None, "lease_until": None, "published_at": None}

# Each outcome, and every column it writes (the others stay as they were).
OUTCOMES = {
    "delivered": (
        AttemptOutcome.delivered(attempts=2, status_code=200, at=AT),
        {"state": "delivered", "attempts": 2, "last_status_code": 200, "last_error": None}
        | OVER
        | {"finished_at": AT},
    ),
    "retry": (
        AttemptOutcome.retry(
            attempts=2, status_code=502, error="bad gateway", at=AT, next_attempt_at=LATER
        ),
        {"state": "retrying", "attempts": 2, "last_status_code": 502, "last_error": "bad gateway"}
        | OVER
        | {"next_attempt_at": LATER},
    ),
    "hold": (
        AttemptOutcome.hold(attempts=1, error="unknown adapter 'x'", at=AT, next_attempt_at=LATER),
        {
            "state": "retrying",
            "attempts": 1,
            "last_status_code": None,
            "last_error": "held: unknown adapter 'x'",
        }
        | OVER
        | {"next_attempt_at": LATER},
    ),
    "dead": (
        AttemptOutcome.dead_letter(attempts=2, status_code=400, error="refused", at=AT),
        {"state": "dead", "attempts": 2, "last_status_code": 400, "last_error": "refused"}
        | OVER
        | {"finished_at": AT},
    ),
}


@pytest.mark.parametrize("name", list(OUTCOMES))
def test_an_outcome_writes_exactly_its_columns_on_an_open_row(
    table: DeliveryTable, name: str
) -> None:
    outcome, written = OUTCOMES[name]
    assert outcome.values() == written
    # The first attempt failed (503), the second was leased and published when it ended.
    row = table.add(
        "A",
        state=RETRYING,
        attempts=1,
        last_status_code=503,
        last_error="busy",
        lease_owner="w1",
        lease_until=table.at(30),
        published_at=table.now,
    )
    other = table.add("B", lease_owner="w1", lease_until=table.at(30), published_at=table.now)
    before = table.everything()

    with transaction(table.sessions) as session:
        assert service.record_outcome(session, row, outcome) is True

    assert table.everything() == {row: {**before[row], **written}, other: before[other]}


@pytest.mark.parametrize("name", list(OUTCOMES))
def test_an_outcome_never_lands_on_a_row_that_is_not_open(table: DeliveryTable, name: str) -> None:
    outcome, _ = OUTCOMES[name]
    rows = [
        table.add("A", state=DELIVERED, attempts=1, last_status_code=200, finished_at=table.now),
        table.add("B", state=DEAD, attempts=3, last_error="refused", finished_at=table.now),
        table.add("C", state=INBOX),
        table.add("D", state=ACKED, finished_at=table.now),
    ]
    before = table.everything()

    with transaction(table.sessions) as session:
        for row in rows:
            assert service.record_outcome(session, row, outcome) is False
        assert service.record_outcome(session, max(rows) + 1, outcome) is False

    assert table.everything() == before


def test_a_held_row_keeps_its_place_and_comes_back_when_its_hold_ends(
    table: DeliveryTable,
) -> None:
    # Two messages of one dossier; the first one's adapter cannot be built.
    held = table.add("A", key="dossier-1", lease_owner="w1", lease_until=table.at(30))
    behind = table.add("A", key="dossier-1")
    unrelated = table.add("A", key="dossier-2")
    ends = table.at(30)
    hold = AttemptOutcome.hold(attempts=0, error="no plug-in", at=table.now, next_attempt_at=ends)
    with transaction(table.sessions) as session:
        assert service.record_outcome(session, held, hold) is True

    # Still open, so the dossier's next message waits behind it; other dossiers go on.
    assert table.lease("w2") == [(unrelated, "A")]
    with transaction(table.sessions) as session:
        taken = service.lease(
            session, owner="w2", now=ends - timedelta(seconds=1), lease_seconds=5, limit=10
        )
        assert taken == []
        assert service.lease(session, owner="w3", now=ends, lease_seconds=5, limit=10) == [
            (held, "A")
        ]
    assert (table.columns(held)["attempts"], table.columns(behind)["lease_owner"]) == (0, None)
    # What the status views count: held apart from retrying.
    with table.sessions() as session:
        summary = repository.summary(session, held_prefix=HELD_PREFIX)
    assert summary == {"A": {"held": 1, "pending": 2}}


# --- reopen for replay ----------------------------------------------------------------------------


def test_reopen_makes_a_dead_row_pending_with_nothing_held_or_published(
    table: DeliveryTable,
) -> None:
    # A dead row that still carries a worker's lease and a broker confirmation.
    dead = table.add(
        "A",
        state=DEAD,
        attempts=4,
        last_status_code=500,
        last_error="down",
        lease_owner="w1",
        lease_until=table.at(-30),
        published_at=table.at(-60),
        finished_at=table.at(-10),
        due=table.at(-120),
    )
    delivered = table.add("B", state=DELIVERED, finished_at=table.at(-10), published_at=table.now)
    before = table.everything()
    now = table.at(5)

    with transaction(table.sessions) as session:
        reopened = service.reopen_dead(session, delivery_ids=[dead, delivered], now=now)
    # What the replay logs: the attempts and the error the row was dead-lettered with.
    assert [(r.id, r.recipient, r.attempts, r.last_error) for r in reopened] == [
        (dead, "A", 4, "down")
    ]

    assert table.everything() == {
        dead: {
            **before[dead],
            "state": "pending",
            "next_attempt_at": now,
            "created_at": now,
            "finished_at": None,
            "published_at": None,
            "lease_owner": None,
            "lease_until": None,
        },
        delivered: before[delivered],
    }
    # Publishable and leasable at once.
    with table.sessions() as session:
        assert [d.id for d in repository.publishable(session, now=now, limit=10)] == [dead]


# --- ack (pull recipients) ------------------------------------------------------------------------


def test_two_acks_at_once_acknowledge_the_message_once(pg_table: DeliveryTable) -> None:
    """The second of two concurrent acks waits for the first and then sees it acknowledged: one
    of them reports the acknowledgement (and the exchange logs it once), and the finish time
    is the first one's. SQLite runs one write transaction at a time, so this needs PostgreSQL."""
    message = str(uuid.uuid4())
    row = pg_table.add("PULL", state=INBOX, message_id=message)
    first_at, second_at = pg_table.at(1), pg_table.at(2)
    second: dict[str, Any] = {}

    def ack_again() -> None:
        try:
            with transaction(pg_table.sessions) as session:
                acked = service.ack(session, message, "PULL", now=second_at)
                second["result"] = None if acked is None else acked[1]
        except Exception as exc:  # reported by the assertion below
            second["error"] = exc

    with transaction(pg_table.sessions) as session:
        first = service.ack(session, message, "PULL", now=first_at)
        assert first is not None and first[1] is True
        thread = threading.Thread(target=ack_again)
        thread.start()
        _wait_for_a_lock_wait(pg_table)
    thread.join(30)

    assert second == {"result": False}
    columns = pg_table.columns(row)
    assert (columns["state"], columns["finished_at"]) == ("acked", first_at)


def _wait_for_a_lock_wait(table: DeliveryTable) -> None:
    """Until another connection to this database waits for a row lock."""
    deadline = time.monotonic() + 20
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while True:
        with table.sessions() as session:
            if session.scalar(query):
                return
        if time.monotonic() > deadline:
            raise AssertionError("the second ack never waited for the first")
        time.sleep(0.02)


@pytest.mark.parametrize("name", ["retry", "dead"])
def test_an_outcome_stores_its_times_in_the_one_form_every_query_compares(
    table: DeliveryTable, name: str
) -> None:
    """Eligibility and ordering compare stored times (as text, on SQLite): an outcome's time
    must be stored exactly as the opening time is, also on a whole second, and a time without a
    zone is refused rather than stored as some other instant."""
    whole_second = datetime(2026, 12, 3, 9, 0, 0, tzinfo=UTC)
    outcome = (
        AttemptOutcome.retry(
            attempts=1, status_code=503, error="busy", at=whole_second, next_attempt_at=whole_second
        )
        if name == "retry"
        else AttemptOutcome.dead_letter(attempts=1, status_code=400, error="no", at=whole_second)
    )
    column = "next_attempt_at" if name == "retry" else "finished_at"
    row = table.add("A")
    with transaction(table.sessions) as session:
        assert service.record_outcome(session, row, outcome)
        session.execute(update(Delivery).where(Delivery.id == row).values(created_at=whole_second))
    with table.sessions() as session:
        stored, opened = session.execute(
            text(f"SELECT {column}, created_at FROM deliveries WHERE id = :id"), {"id": row}
        ).one()
    assert stored == opened
    naive = replace(outcome, at=whole_second.replace(tzinfo=None))
    if name == "retry":
        naive = replace(outcome, next_attempt_at=whole_second.replace(tzinfo=None))
    other = table.add("B")
    before = table.everything()[other]
    with pytest.raises(StatementError, match="naive datetime"), transaction(table.sessions) as s:
        service.record_outcome(s, other, naive)
    assert table.everything()[other] == before
