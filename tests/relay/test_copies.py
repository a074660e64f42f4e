"""A broker message names the attempt it was published for; the worker drops a copy of an attempt
already made (the row's counter has reached it) without calling the adapter, and makes the
attempt the message names otherwise."""

from __future__ import annotations

from collections.abc import Callable

from lgsp_adapters.memory import store

from lgsp.deliveries.models import DeliveryState
from tests.relay.conftest import RelayWorld


def test_a_copy_of_an_attempt_already_made_never_reaches_the_adapter(
    relay_world: Callable[..., RelayWorld],
) -> None:
    world = relay_world()
    agency = world.agency("copies", fail_first=1)
    [sent] = world.add_messages(agency, 1)
    processor = world.processor()
    delivery_id = world.deliveries()[0].id

    first = processor.process(delivery_id, broker_attempt=1)
    assert first.state == DeliveryState.RETRYING
    assert world.deliveries()[0].attempts == 1 and store.attempts(agency) == 1

    copy = processor.process(delivery_id, broker_attempt=1)  # the same publish, redelivered
    assert (copy.state, copy.reason) == ("skipped", "attempt 1 already made")
    assert store.attempts(agency) == 1 and world.deliveries()[0].attempts == 1

    second = processor.process(delivery_id, broker_attempt=2)
    assert second.state == DeliveryState.DELIVERED
    assert store.attempts(agency) == 2 and store.received_ids(agency) == [sent]

    late = processor.process(delivery_id, broker_attempt=3)
    assert (late.state, late.reason) == ("skipped", "already delivered")
    assert store.attempts(agency) == 2


def test_without_an_attempt_number_the_next_attempt_is_made(
    relay_world: Callable[..., RelayWorld],
) -> None:
    world = relay_world()
    agency = world.agency("plain", fail_first=1)
    world.add_messages(agency, 1)
    delivery_id = world.deliveries()[0].id
    processor = world.processor()
    assert processor.process(delivery_id).state == DeliveryState.RETRYING
    assert processor.process(delivery_id).state == DeliveryState.DELIVERED
    assert store.attempts(agency) == 2
    gone = processor.process(delivery_id + 1000)
    assert (gone.state, gone.reason) == ("skipped", "no such delivery")
