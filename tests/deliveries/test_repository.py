"""Every read of the deliveries table (lgsp/deliveries/repository.py), on real databases: which
rows each query returns, in which order, and (on PostgreSQL) which rows it locks. Rows are written
straight into the table, each with the state and times the case needs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from lgsp.deliveries import repository, service
from lgsp.deliveries.models import Delivery
from lgsp.deliveries.service import HELD_PREFIX, AttemptOutcome
from lgsp.kit.db import make_engine, make_sessionmaker, transaction
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


@dataclass
class Outbox(DeliveryRows):
    """The deliveries table, with the relay's and the dispatcher's reads at its ``now``."""

    def leasable(self, *, limit: int = 50, exclude: tuple[str, ...] = ()) -> list[tuple[int, str]]:
        with self.sessions() as session:
            return repository.leasable(
                session, now=self.now, limit=limit, exclude_recipients=exclude
            )

    def publishable(self, *, limit: int = 50) -> list[int]:
        with self.sessions() as session:
            return [d.id for d in repository.publishable(session, now=self.now, limit=limit)]


@contextmanager
def _outbox_on(url: str) -> Iterator[Outbox]:
    engine = make_engine(url, pool_size=2)
    try:
        Base.metadata.create_all(engine)
        yield Outbox(make_sessionmaker(engine))
    finally:
        engine.dispose()


@pytest.fixture
def outbox(database_url: str) -> Iterator[Outbox]:
    with _outbox_on(database_url) as made:
        yield made


@pytest.fixture
def pg_outbox(pg_url: str) -> Iterator[Outbox]:
    with _outbox_on(pg_url) as made:
        yield made


# --- what the transports take: leasable (embedded) and publishable (amqp) ----------------------


def test_leasable_is_every_open_due_unleased_head_of_chain_oldest_first(outbox: Outbox) -> None:
    due_now = outbox.add("A")  # next_attempt_at == now: due
    outbox.add("A", due=outbox.at(0.001))  # not due yet
    retrying = outbox.add("B", state=RETRYING, due=outbox.at(-60), attempts=2)
    for final in (DELIVERED, DEAD, INBOX, ACKED):
        outbox.add("B", state=final, due=outbox.at(-60))
    head = outbox.add("C", key="K")
    outbox.add("C", key="K")  # waits behind its chain's head
    other_recipient = outbox.add("D", key="K")  # same key, another recipient: its own chain
    outbox.add("E", key="L", state=DELIVERED)
    after_final = outbox.add("E", key="L")  # a finished row no longer holds its chain
    outbox.add("F", lease_until=outbox.now)  # the lease still runs at its last instant
    expired = outbox.add("F", lease_until=outbox.at(-0.001))

    assert outbox.leasable() == [
        (due_now, "A"),
        (retrying, "B"),
        (head, "C"),
        (other_recipient, "D"),
        (after_final, "E"),
        (expired, "F"),
    ]


def test_leasable_stops_at_the_limit_and_leaves_out_the_excluded_recipients(
    outbox: Outbox,
) -> None:
    a1, b1, a2, c1, b2 = (outbox.add(r) for r in ("A", "B", "A", "C", "B"))

    assert outbox.leasable(limit=2) == [(a1, "A"), (b1, "B")]
    assert outbox.leasable(limit=1) == [(a1, "A")]
    assert outbox.leasable(exclude=("A",)) == [(b1, "B"), (c1, "C"), (b2, "B")]
    assert outbox.leasable(exclude=("B", "C")) == [(a1, "A"), (a2, "A")]
    assert outbox.leasable(exclude=("A", "B"), limit=1) == [(c1, "C")]
    assert outbox.leasable(exclude=("A", "B", "C")) == []


def test_publishable_is_every_eligible_row_not_on_the_broker_yet_oldest_first(
    outbox: Outbox,
) -> None:
    due_now = outbox.add("A")
    outbox.add("A", published_at=outbox.at(-5))  # its current attempt is on the broker
    retrying = outbox.add("B", state=RETRYING, due=outbox.at(-1), attempts=1)
    outbox.add("B", due=outbox.at(0.001))  # not due yet
    outbox.add("C", state=DELIVERED, due=outbox.at(-60))
    head = outbox.add("D", key="K")
    outbox.add("D", key="K")  # behind its head
    # A lease is the embedded transport's business: the amqp relay does not look at it.
    leased = outbox.add("E", lease_until=outbox.at(30))

    assert outbox.publishable() == [due_now, retrying, head, leased]
    assert outbox.publishable(limit=2) == [due_now, retrying]


def test_a_retried_delivery_keeps_its_turn_before_younger_ones(outbox: Outbox) -> None:
    """Oldest id first, however the rows are stored: on PostgreSQL a rewritten row moves to the
    end of the table, so only the ORDER BY keeps the retried delivery ahead."""
    first, second, third = (outbox.add(r) for r in ("A", "B", "C"))
    retry = AttemptOutcome.retry(
        attempts=1, status_code=503, error="busy", at=outbox.at(-1), next_attempt_at=outbox.now
    )
    with transaction(outbox.sessions) as session:
        assert service.record_outcome(session, first, retry)

    assert outbox.leasable(limit=1) == [(first, "A")]
    assert outbox.publishable(limit=1) == [first]
    assert outbox.leasable() == [(first, "A"), (second, "B"), (third, "C")]
    assert outbox.publishable() == [first, second, third]


# --- when to look again, and what is still open --------------------------------------------------


def test_next_due_is_the_earliest_due_time_of_an_open_delivery(outbox: Outbox) -> None:
    with outbox.sessions() as session:
        assert repository.next_due(session) is None
    outbox.add("A", due=outbox.at(60))
    for offset, final in enumerate((DELIVERED, DEAD, INBOX, ACKED)):
        outbox.add("B", state=final, due=outbox.at(-600 + offset))
    with outbox.sessions() as session:
        assert repository.next_due(session) == outbox.at(60)  # final rows never count
    outbox.add("C", state=RETRYING, due=outbox.at(10), attempts=1)
    outbox.add("D", due=outbox.at(30))
    with outbox.sessions() as session:
        assert repository.next_due(session) == outbox.at(10)


def test_the_relay_waits_only_for_what_it_can_publish(outbox: Outbox) -> None:
    """Rows on the broker are the workers'; the amqp relay's next due time leaves them out."""
    outbox.add("A", due=outbox.at(-5), published_at=outbox.at(-4))
    outbox.add("B", state=RETRYING, due=outbox.at(-3), attempts=1, published_at=outbox.at(-2))
    with outbox.sessions() as session:
        assert repository.next_due(session) == outbox.at(-5)
        assert repository.next_due(session, unpublished_only=True) is None
    outbox.add("C", due=outbox.at(20))
    outbox.add("D", state=DELIVERED, due=outbox.at(1))
    with outbox.sessions() as session:
        assert repository.next_due(session, unpublished_only=True) == outbox.at(20)
        assert repository.next_due(session) == outbox.at(-5)


def test_a_messages_deliveries_in_id_order_and_one_recipients_copy(outbox: Outbox) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    z1, a1, m1 = (outbox.add(r, message_id=first) for r in ("Z", "A", "M"))
    a2 = outbox.add("A", message_id=second)
    z2 = outbox.add("Z", message_id=second, state=DEAD)
    # A rewritten row keeps its place (on PostgreSQL it moves to the end of the table).
    retry = AttemptOutcome.retry(
        attempts=1, status_code=None, error="down", at=outbox.now, next_attempt_at=outbox.at(5)
    )
    with transaction(outbox.sessions) as session:
        assert service.record_outcome(session, z1, retry)

    with outbox.sessions() as session:
        assert [d.id for d in repository.of_message(session, first)] == [z1, a1, m1]
        assert [d.id for d in repository.of_message(session, second)] == [a2, z2]
        assert repository.of_message(session, str(uuid.uuid4())) == []
        found = {
            (message, recipient): repository.of_recipient(session, message, recipient)
            for message in (first, second)
            for recipient in ("A", "Z", "M")
        }
        assert {k: d.id if d else None for k, d in found.items()} == {
            (first, "A"): a1,
            (first, "Z"): z1,
            (first, "M"): m1,
            (second, "A"): a2,
            (second, "Z"): z2,
            (second, "M"): None,
        }
        assert repository.of_recipient(session, str(uuid.uuid4()), "A") is None


def test_addressed_to_is_any_delivery_in_any_state(outbox: Outbox) -> None:
    with outbox.sessions() as session:
        assert repository.addressed_to(session, "A") is False
    outbox.add("A", state=DEAD)
    outbox.add("B", state=ACKED)
    with outbox.sessions() as session:
        assert [repository.addressed_to(session, r) for r in ("A", "B", "C")] == [
            True,
            True,
            False,
        ]


# --- dead letters ------------------------------------------------------------------------------


def test_dead_query_narrows_the_dead_deliveries_and_lists_them_in_id_order(
    outbox: Outbox,
) -> None:
    # Message ids that sort the other way round from the deliveries' ids.
    m_late, m_early, m_other = (f"01936f5e-0000-7000-8000-00000000000{c}" for c in "bac")
    d1 = outbox.add("A", message_id=m_late, state=DEAD)
    d2 = outbox.add("B", message_id=m_early, state=DEAD)
    d3 = outbox.add("A", message_id=m_early, state=DEAD)
    still_open = outbox.add("C", message_id=m_late, state=RETRYING)
    outbox.add("C", message_id=m_early, state=DELIVERED)
    d4 = outbox.add("C", message_id=m_other, state=DEAD)

    def dead(
        delivery_ids: Sequence[int] = (), message_ids: Sequence[str] = (), recipient: str = ""
    ) -> list[int]:
        query = repository.dead_query(
            delivery_ids=delivery_ids, message_ids=message_ids, recipient=recipient or None
        )
        with outbox.sessions() as session:
            return [d.id for d in session.scalars(query)]

    assert dead() == [d1, d2, d3, d4]
    assert dead(delivery_ids=[d3, still_open, d1]) == [d1, d3]
    assert dead(message_ids=[m_early, m_late]) == [d1, d2, d3]
    assert dead(message_ids=[m_other]) == [d4]
    assert dead(recipient="A") == [d1, d3]
    assert dead(message_ids=[m_early], recipient="A") == [d3]
    assert dead(delivery_ids=[d1, d2, d4], message_ids=[m_late, m_other]) == [d1, d4]
    assert dead(delivery_ids=[still_open]) == []


# --- the operator's summary --------------------------------------------------------------------


def test_summary_counts_states_per_recipient_with_held_apart(outbox: Outbox) -> None:
    for recipient, state, error in [
        ("D", PENDING, None),
        ("B", PENDING, None),
        ("B", PENDING, None),
        ("B", RETRYING, "busy"),
        ("B", RETRYING, HELD_PREFIX + "no adapter"),
        ("B", DELIVERED, None),
        ("A", DEAD, HELD_PREFIX + "no adapter"),  # dead is dead, whatever its last error
        ("A", RETRYING, None),
        ("A", INBOX, None),
        ("C", ACKED, None),
        ("C", RETRYING, "h_ld: odd"),
    ]:
        outbox.add(recipient, state=state, last_error=error)

    with outbox.sessions() as session:
        counts = repository.summary(session, held_prefix=HELD_PREFIX)
        # The prefix is taken literally, not as a LIKE pattern ("_" is any one character there).
        literal = repository.summary(session, held_prefix="h_ld: ")
    assert list(counts) == ["A", "B", "C", "D"]
    assert counts == {
        "A": {"dead": 1, "retrying": 1, "inbox": 1},
        "B": {"pending": 2, "retrying": 1, "held": 1, "delivered": 1},
        "C": {"acked": 1, "retrying": 1},
        "D": {"pending": 1},
    }
    assert list(literal) == ["A", "B", "C", "D"]
    assert literal == {
        "A": {"dead": 1, "retrying": 1, "inbox": 1},
        "B": {"pending": 2, "retrying": 2, "delivered": 1},
        "C": {"acked": 1, "held": 1},
        "D": {"pending": 1},
    }


# --- row locks (PostgreSQL; SQLite has a single writer and no row locks) ------------------------


def _lock_timeout(session: Session) -> None:
    """Make a wait for a row lock fail after a second instead of hanging the test."""
    session.execute(text("SET LOCAL lock_timeout = '1s'"))


def test_on_postgresql_the_transports_skip_rows_another_transaction_holds(
    pg_outbox: Outbox,
) -> None:
    first, second, third = (pg_outbox.add(r) for r in ("A", "B", "C"))
    with transaction(pg_outbox.sessions) as holder:
        assert repository.leasable(holder, now=pg_outbox.now, limit=1) == [(first, "A")]
        with pg_outbox.sessions() as other:
            _lock_timeout(other)
            # Skipped, not waited for: the rows are locked by the holder until it commits.
            assert repository.leasable(other, now=pg_outbox.now, limit=10) == [
                (second, "B"),
                (third, "C"),
            ]
            assert [d.id for d in repository.publishable(other, now=pg_outbox.now, limit=10)] == [
                second,
                third,
            ]
        with pg_outbox.sessions() as other:
            _lock_timeout(other)
            assert [d.id for d in repository.publishable(other, now=pg_outbox.now, limit=1)] == [
                second
            ]
            # publishable locked the row it returned: a lease in a third transaction skips it.
            with pg_outbox.sessions() as third_party:
                _lock_timeout(third_party)
                assert repository.leasable(third_party, now=pg_outbox.now, limit=10) == [
                    (third, "C")
                ]
    assert pg_outbox.leasable() == [(first, "A"), (second, "B"), (third, "C")]


def test_on_postgresql_of_recipient_locks_the_row_only_when_asked(pg_outbox: Outbox) -> None:
    message = str(uuid.uuid4())
    row = pg_outbox.add("A", message_id=message, state=INBOX)
    with transaction(pg_outbox.sessions) as holder:
        locked = repository.of_recipient(holder, message, "A", lock=True)
        assert locked is not None and locked.id == row
        with pg_outbox.sessions() as other:
            _lock_timeout(other)
            # A plain read neither waits for the holder's lock nor takes one.
            plain = repository.of_recipient(other, message, "A")
            assert plain is not None and plain.id == row
            with pytest.raises(OperationalError, match="could not obtain lock on row"):
                other.execute(
                    select(Delivery.id).where(Delivery.id == row).with_for_update(nowait=True)
                )
