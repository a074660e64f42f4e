"""A delivery whose recipient's adapter cannot be built in this process (a plug-in named by a
live configuration change but not installed here) is held, not dead-lettered: it stays open
without counting an attempt, whatever the retry window, is logged once as held, is counted in
the metrics and shown by the adapter pool; once the plug-in is installed it is delivered, in
order."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lgsp_adapters.memory import store
from prometheus_client import REGISTRY
from sqlalchemy import select, update

from lgsp.adapterpool import AdapterUnavailable
from lgsp.deliveries.models import Delivery, DeliveryState
from lgsp.deliveries.service import HELD_PREFIX
from lgsp.directory.models import Endpoint
from lgsp.kit.db import transaction
from lgsp.kit.timeutil import utcnow
from lgsp.messagelog.models import LogEntry
from tests.relay.conftest import RelayWorld
from tests.support.plugin import NAME, Plugin


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[Plugin]:
    plugin = Plugin(tmp_path / "site")
    yield plugin
    plugin.uninstall()


def held_count() -> float:
    return REGISTRY.get_sample_value("lgsp_delivery_attempts_total", {"outcome": "held"}) or 0.0


def log_kinds(world: RelayWorld, message_id: str) -> list[str]:
    with world.platform.sessions() as session:
        return list(
            session.scalars(
                select(LogEntry.kind).where(LogEntry.message_id == message_id).order_by(LogEntry.id)
            )
        )


def test_an_unbuildable_adapter_holds_deliveries_until_it_is_installed(
    relay_world: Callable[..., RelayWorld], database_url: str, plugin: Plugin
) -> None:
    world = relay_world(database_url, adapter_hold_seconds=30.0)
    agency = world.agency("held")
    # A live configuration change names a plug-in this process does not have; a retry window
    # of 0 would dead-letter any ordinary failure at once.
    with transaction(world.platform.sessions) as session:
        session.execute(
            update(Endpoint)
            .where(Endpoint.agency_code == agency)
            .values(adapter=NAME, retry_window_seconds=0)
        )
    world.platform.directory.invalidate()
    first, second = world.add_messages(agency, 2, key=lambda _: "dossier-1")
    processor = world.processor()
    before = held_count()

    started = utcnow()
    outcome = processor.process(world.deliveries()[0].id)
    assert outcome.state == DeliveryState.RETRYING
    assert outcome.reason is not None and outcome.reason.startswith(HELD_PREFIX)
    assert f"unknown adapter {NAME!r}" in outcome.reason
    row = world.deliveries()[0]
    assert row.state == DeliveryState.RETRYING and row.attempts == 0
    assert (row.next_attempt_at - started).total_seconds() >= 29
    assert world.platform.adapters.unbuildable()[agency]["adapter"] == NAME
    with pytest.raises(AdapterUnavailable):
        world.platform.adapters.get(agency)

    # Tried again while still held: still open, no attempt counted, the hold logged once.
    assert processor.process(row.id).state == DeliveryState.RETRYING
    assert world.deliveries()[0].attempts == 0
    assert log_kinds(world, first) == ["delivery.held"]
    assert held_count() - before == 2
    assert store.received_ids(agency) == []
    # The second message of the dossier waits behind the first (per-dossier order holds).
    assert world.deliveries()[1].state == DeliveryState.PENDING

    plugin.install()
    assert processor.process(row.id).state == DeliveryState.DELIVERED
    assert processor.process(world.deliveries()[1].id).state == DeliveryState.DELIVERED
    delivered = world.deliveries()
    assert [d.state for d in delivered] == [DeliveryState.DELIVERED] * 2
    assert delivered[0].attempts == 1 and delivered[0].last_error is None
    assert store.received_ids(agency) == [first, second]
    assert log_kinds(world, first) == ["delivery.held", "delivery.delivered"]
    assert world.platform.adapters.unbuildable() == {}


def test_a_recipient_refusing_for_good_is_still_dead_lettered(
    relay_world: Callable[..., RelayWorld],
) -> None:
    """Holding is for the platform's own fault only: the recipient's refusal stays final."""
    world = relay_world()
    agency = world.agency("refuses", reject=True)
    world.add_messages(agency, 1)
    outcome = world.processor().process(world.deliveries()[0].id)
    assert outcome.state == DeliveryState.DEAD
    assert outcome.reason is not None and not outcome.reason.startswith(HELD_PREFIX)


def test_settings_an_adapter_refuses_hold_too(relay_world: Callable[..., RelayWorld]) -> None:
    """A live change giving an installed adapter settings it refuses is the platform's fault too."""
    world = relay_world()
    agency = world.agency("badsettings")
    with transaction(world.platform.sessions) as session:
        session.execute(
            update(Endpoint).where(Endpoint.agency_code == agency).values(settings={"nope": 1})
        )
    world.platform.directory.invalidate()
    world.add_messages(agency, 1)
    outcome = world.processor().process(world.deliveries()[0].id)
    assert outcome.state == DeliveryState.RETRYING
    assert outcome.reason is not None and "invalid settings" in outcome.reason
    with world.platform.sessions() as session:
        assert session.scalar(select(Delivery.attempts)) == 0
