"""The outbox's rules, checked on the queries themselves (no timing involved): which deliveries
are eligible, and that an outcome is only ever recorded on a delivery that is still open."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from lgsp_adapters.base import (
    Adapter,
    AdapterSettings,
    DeliveryResult,
    Envelope,
    RetriableError,
)
from sqlalchemy import func, select, update

from lgsp.deliveries import repository as deliveries_repository
from lgsp.deliveries import service as deliveries
from lgsp.deliveries.models import Delivery, DeliveryState
from lgsp.kit.db import transaction
from lgsp.kit.timeutil import utcnow
from lgsp.messagelog.models import LogEntry
from lgsp.relay.delivery import DeliveryProcessor
from tests.relay.conftest import RelayWorld


def _set(world: RelayWorld, message_id: str, **values: object) -> None:
    with transaction(world.platform.sessions) as session:
        session.execute(update(Delivery).where(Delivery.message_id == message_id).values(**values))


def _claimable(world: RelayWorld) -> list[str]:
    """Message ids the embedded transport would lease now (then given back)."""
    with transaction(world.platform.sessions) as session:
        rows = deliveries.lease(session, owner="probe", now=utcnow(), lease_seconds=30, limit=100)
        ids = [i for i, _ in rows]
        taken = session.scalars(select(Delivery.message_id).where(Delivery.id.in_(ids))).all()
        deliveries.release(session, ids, "probe")
    return sorted(taken)


def _publishable(world: RelayWorld) -> list[str]:
    """Message ids the amqp relay would publish now."""
    with world.platform.sessions() as session:
        return sorted(
            d.message_id
            for d in deliveries_repository.publishable(session, now=utcnow(), limit=100)
        )


def _both(world: RelayWorld) -> list[str]:
    claimable, publishable = _claimable(world), _publishable(world)
    assert claimable == publishable, "both transports must apply the same eligibility rule"
    return claimable


def test_an_open_head_blocks_its_chain_whatever_its_state(
    relay_world: Callable[..., RelayWorld], database_url: str
) -> None:
    world = relay_world(database_url)
    code = world.agency("CHAIN")
    first, second, third = world.add_messages(code, 3, key=lambda _: "dossier-1")
    (loner,) = world.add_messages(code, 1, key=lambda _: "dossier-2")
    assert _both(world) == sorted([first, loner])

    # The head failed and waits for its retry: nothing behind it may overtake it, due or not.
    later = utcnow() + timedelta(hours=1)
    _set(world, first, state=DeliveryState.RETRYING.value, attempts=1, next_attempt_at=later)
    assert _both(world) == [loner]
    _set(world, first, next_attempt_at=utcnow() - timedelta(seconds=1))
    assert _both(world) == sorted([first, loner])

    # A finished head (delivered, dead, acked) no longer holds the chain.
    for final in (DeliveryState.DELIVERED, DeliveryState.DEAD):
        _set(world, first, state=final.value)
        assert _both(world) == sorted([second, loner])
    # Leased by a live worker: not offered to another.
    _set(world, second, lease_owner="other", lease_until=utcnow() + timedelta(seconds=30))
    assert _claimable(world) == [loner]
    _set(world, second, lease_until=utcnow() - timedelta(seconds=1))  # the worker died
    assert _claimable(world) == sorted([second, loner])
    assert third not in _both(world)


def test_chains_are_per_recipient_and_a_missing_key_orders_nothing(
    relay_world: Callable[..., RelayWorld],
) -> None:
    world = relay_world()
    a, b = world.agency("A"), world.agency("B")
    (to_a,) = world.add_messages(a, 1, key=lambda _: "dossier-1")
    (to_b,) = world.add_messages(b, 1, key=lambda _: "dossier-1")
    unkeyed = world.add_messages(a, 3)
    _set(world, to_a, state=DeliveryState.RETRYING.value, next_attempt_at=utcnow() + timedelta(1))
    assert _both(world) == sorted([to_b, *unkeyed])


class _FinishedElsewhere(Adapter):
    """While this attempt is under way, another worker (an expired lease taken over, a broker
    redelivery) delivers the same row; then this attempt fails."""

    name = "finished-elsewhere"

    def __init__(self, world: RelayWorld, message_id: str) -> None:
        super().__init__(AdapterSettings(), agency_code="x", timeout=5)
        self._world, self._message_id = world, message_id

    def deliver(self, envelope: Envelope) -> DeliveryResult:
        _set(
            self._world,
            self._message_id,
            state=DeliveryState.DELIVERED.value,
            attempts=7,
            finished_at=utcnow(),
        )
        raise RetriableError("recipient unavailable", status_code=503)


class _Pool:
    def __init__(self, adapter: Adapter) -> None:
        self._adapter = adapter

    def get(self, agency: str) -> Adapter:
        return self._adapter


def test_an_outcome_is_not_recorded_over_a_delivery_finished_meanwhile(
    relay_world: Callable[..., RelayWorld], database_url: str
) -> None:
    world = relay_world(database_url)
    code = world.agency("RACE")
    (message_id,) = world.add_messages(code, 1)
    with world.platform.sessions() as session:
        delivery_id = session.scalars(select(Delivery.id)).one()
        entries_before = session.scalar(select(func.count()).select_from(LogEntry))

    processor = DeliveryProcessor(world.platform, _Pool(_FinishedElsewhere(world, message_id)))  # type: ignore[arg-type]
    outcome = processor.process(delivery_id)

    assert outcome.state == "skipped"
    (row,) = world.deliveries()
    assert (row.state, row.attempts, row.last_error) == ("delivered", 7, None)
    with world.platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(LogEntry)) == entries_before
