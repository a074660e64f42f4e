"""The named transitions of a delivery, on real databases (SQLite and PostgreSQL): each moves
only the rows it should, and an outcome never lands on a row that is no longer open."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from lgsp.deliveries import repository, service
from lgsp.deliveries.models import Delivery, DeliveryState
from lgsp.deliveries.service import AttemptOutcome
from lgsp.exchange.models import Message
from lgsp.kit.db import make_engine, make_sessionmaker, transaction
from lgsp.kit.timeutil import utcnow
from lgsp.models import Base

MESSAGE = "01936f5e-0000-7000-8000-000000000001"


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url, pool_size=2)
    Base.metadata.create_all(engine)
    factory = make_sessionmaker(engine)
    now = utcnow()
    with transaction(factory) as session:
        session.add(
            Message(
                id=MESSAGE,
                type="dossier",
                sender="S",
                client_id="c",
                correlation_key="K-1",
                payload="{}",
                payload_sha256="0" * 64,
                size=2,
                accepted_at=now,
                request_sha256="0" * 64,
            )
        )
        session.flush()
        for model, values in service.open_rows(
            MESSAGE, ["PUSH", "PULL", "OTHER"], pull={"PULL"}, correlation_key="K-1", now=now
        ):
            session.execute(insert(model), [values])
    yield factory
    engine.dispose()


def _row(sessions: sessionmaker[Session], recipient: str) -> Delivery:
    with sessions() as session:
        row = repository.of_recipient(session, MESSAGE, recipient)
        assert row is not None
        return row


def test_open_puts_pull_recipients_in_their_inbox_and_the_others_in_the_outbox(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        rows = {d.recipient: d for d in repository.of_message(session, MESSAGE)}
    assert {r: d.state for r, d in rows.items()} == {
        "PUSH": DeliveryState.PENDING,
        "PULL": DeliveryState.INBOX,
        "OTHER": DeliveryState.PENDING,
    }
    assert {(d.attempts, d.correlation_key) for d in rows.values()} == {(0, "K-1")}


def test_ack_acknowledges_an_inbox_copy_once_and_nothing_else(
    sessions: sessionmaker[Session],
) -> None:
    now = utcnow()
    with transaction(sessions) as session:
        first = service.ack(session, MESSAGE, "PULL", now=now)
    with transaction(sessions) as session:
        again = service.ack(session, MESSAGE, "PULL", now=now + timedelta(seconds=5))
        pushed = service.ack(session, MESSAGE, "PUSH", now=now)
        stranger = service.ack(session, MESSAGE, "NOBODY", now=now)
    assert first is not None and first[1] is True
    assert again is not None and again[1] is False
    assert pushed is None and stranger is None
    row = _row(sessions, "PULL")
    assert row.state == DeliveryState.ACKED and row.finished_at == now
    assert _row(sessions, "PUSH").state == DeliveryState.PENDING


def test_outcomes_land_only_on_open_rows(sessions: sessionmaker[Session]) -> None:
    now = utcnow()
    with transaction(sessions) as session:
        service.lease(session, owner="w1", now=now, lease_seconds=30, limit=10)
        later = now + timedelta(seconds=30)
        retry = AttemptOutcome.retry(
            attempts=1, status_code=503, error="busy", at=now, next_attempt_at=later
        )
        assert service.record_outcome(session, _row(sessions, "PUSH").id, retry)
    row = _row(sessions, "PUSH")
    assert (row.state, row.attempts, row.last_error, row.next_attempt_at) == (
        DeliveryState.RETRYING,
        1,
        "busy",
        later,
    )
    assert row.lease_owner is None and row.lease_until is None and row.finished_at is None

    delivered = AttemptOutcome.delivered(attempts=2, status_code=200, at=now)
    dead = AttemptOutcome.dead_letter(attempts=3, status_code=400, error="refused", at=now)
    with transaction(sessions) as session:
        assert service.record_outcome(session, row.id, delivered)
        # A duplicate attempt finishing later must not turn the delivered row into a dead one.
        assert not service.record_outcome(session, row.id, dead)
        # Nor may an inbox row take an outcome.
        assert not service.record_outcome(session, _row(sessions, "PULL").id, dead)
    row = _row(sessions, "PUSH")
    assert (row.state, row.attempts, row.last_error) == (DeliveryState.DELIVERED, 2, None)
    assert _row(sessions, "PULL").state == DeliveryState.INBOX


def test_reopen_needs_a_choice_and_reopens_only_the_chosen_dead_rows(
    sessions: sessionmaker[Session],
) -> None:
    then = utcnow() - timedelta(hours=2)
    dead = AttemptOutcome.dead_letter(attempts=4, status_code=None, error="down", at=then)
    with transaction(sessions) as session:
        for recipient in ("PUSH", "OTHER"):
            assert service.record_outcome(session, _row(sessions, recipient).id, dead)
    now = utcnow()
    with transaction(sessions) as session:
        assert service.reopen_dead(session, now=now) == []
        reopened = service.reopen_dead(session, recipient="OTHER", now=now)
    assert [(r.recipient, r.last_error, r.attempts) for r in reopened] == [("OTHER", "down", 4)]
    other = _row(sessions, "OTHER")
    assert other.state == DeliveryState.PENDING and other.finished_at is None
    # Its retry window starts again now.
    assert other.created_at == now and other.next_attempt_at == now
    assert _row(sessions, "PUSH").state == DeliveryState.DEAD
