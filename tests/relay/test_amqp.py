"""The amqp transport against the real RabbitMQ: relay with publisher confirms, consumers with
manual acks, retries scheduled by the outbox, ordering per correlation key, graceful stop and
the dead-letter exchange."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pika
import pytest
from lgsp_adapters.memory import store

from lgsp.deliveries.models import DeliveryState
from lgsp.relay.amqp import AmqpTransport
from lgsp.relay.amqp_publisher import ConfirmingPublisher, Outgoing
from lgsp.relay.amqp_topology import DELIVERY_LIMIT, Topology, declare_blocking
from lgsp.relay.delivery import DeliveryProcessor, Outcome
from lgsp.relay.transport import DeliveryService
from tests.relay.conftest import Broker, RelayWorld

pytestmark = pytest.mark.rabbitmq

DELIVERED = DeliveryState.DELIVERED.value


def start_amqp(world: RelayWorld, *, relay: bool = True, consume: bool = True) -> AmqpTransport:
    transport = AmqpTransport(world.platform, world.processor())
    world.on_teardown(transport.stop)
    transport.start(relay=relay, consume=consume)
    return transport


def in_chain_order(received: list[str], sent: list[str]) -> bool:
    position = {message_id: index for index, message_id in enumerate(received)}
    return [position[m] for m in sent] == sorted(position[m] for m in sent)


@pytest.mark.slow
def test_a_thousand_messages_reach_their_recipients_once(
    amqp_world: Callable[..., RelayWorld], database_url: str
) -> None:
    world = amqp_world(database_url)
    recipients = [world.agency(f"A{i}") for i in range(4)]

    def key(n: int) -> str | None:
        # Half the messages form five ordered chains per recipient; the rest are independent.
        return f"dossier-{n % 10}" if n % 2 == 0 else None

    sent = {code: world.add_messages(code, 250, key=key) for code in recipients}
    transport = start_amqp(world)
    world.wait_all_final()

    assert world.states() == Counter({DELIVERED: 1000})
    for code in recipients:
        received = store.received_ids(code)
        assert sorted(received) == sorted(sent[code])
        for chain in range(0, 10, 2):
            assert in_chain_order(received, sent[code][chain::10])
    assert all(d.published_at is None and d.attempts == 1 for d in world.deliveries())
    # Confirms were awaited for a whole batch at once, not one round trip per message.
    assert transport.publisher is not None
    assert transport.publisher.stats.max_in_flight >= 100


def test_publisher_has_a_batch_in_flight_and_reports_only_confirmed(broker: Broker) -> None:
    topology = Topology(broker.prefix)
    publisher = ConfirmingPublisher(pika.URLParameters(broker.url), topology)
    publisher.start()
    try:
        assert publisher.wait_ready(15)
        batch = [Outgoing(i, f"m-{i}", "R1", None, 1) for i in range(1, 301)]
        confirmed = publisher.publish(batch, timeout=30)
        assert sorted(confirmed) == list(range(1, 301))
        assert publisher.stats.max_in_flight == 300
        assert broker.message_count(topology.queue("R1")) == 300
        assert publisher.publish([], timeout=1) == []
    finally:
        publisher.stop()
        broker.delete(["R1"])


def test_unroutable_publish_is_not_reported_confirmed(broker: Broker) -> None:
    topology = Topology(broker.prefix)
    publisher = ConfirmingPublisher(pika.URLParameters(broker.url), topology)
    publisher.start()
    try:
        assert publisher.wait_ready(15)
        assert publisher.publish([Outgoing(1, "m-1", "R2", None, 1)], timeout=30) == [1]
        # Someone deletes the queue behind the publisher's back: the broker returns the
        # message, so it is not confirmed, and the next publish declares the queue again.
        connection = broker.connection()
        connection.channel().queue_delete(topology.queue("R2"))
        connection.close()
        assert publisher.publish([Outgoing(2, "m-2", "R2", None, 1)], timeout=30) == []
        assert publisher.stats.returned == 1
        assert publisher.publish([Outgoing(2, "m-2", "R2", None, 1)], timeout=30) == [2]
        assert broker.message_count(topology.queue("R2")) == 1
    finally:
        publisher.stop()
        broker.delete(["R2"])


def test_retriable_failures_are_retried_until_delivered(
    amqp_world: Callable[..., RelayWorld],
) -> None:
    world = amqp_world()
    code = world.agency("RETRY", fail_first=30)
    sent = world.add_messages(code, 100)
    start_amqp(world)
    world.wait_all_final()

    assert world.states() == Counter({DELIVERED: 100})
    assert sorted(store.received_ids(code)) == sorted(sent)
    assert sum(d.attempts for d in world.deliveries()) >= 130


def test_a_recipient_added_while_running_is_served(
    amqp_world: Callable[..., RelayWorld],
) -> None:
    world = amqp_world()
    world.agency("FIRST")
    transport = start_amqp(world)
    assert transport.consumer is not None
    world.wait_until(
        lambda: transport.consumer is not None and transport.consumer.stats.connections > 0
    )
    late = world.agency("LATE")
    sent = world.add_messages(late, 20)
    world.wait_all_final(timeout=60)
    assert sorted(store.received_ids(late)) == sorted(sent)


def test_stop_lets_running_deliveries_finish_and_returns_the_rest(
    amqp_world: Callable[..., RelayWorld], broker: Broker
) -> None:
    world = amqp_world(worker_concurrency=4)
    code = world.agency("SLOW")
    store.script(code, "slow", 20, delay=0.5)
    sent = world.add_messages(code, 20)
    transport = start_amqp(world)
    world.wait_until(lambda: all(d.published_at or d.attempts for d in world.deliveries()))
    world.wait_until(lambda: store.attempts(code) >= 1)

    transport.stop(timeout=30)

    # Every delivery that had started finished and was recorded ...
    started = store.attempts(code)
    rows = world.deliveries()
    assert sum(1 for d in rows if d.state == DELIVERED) == started
    assert len(store.delivered(code)) == started
    # ... and every other message went back to its queue, still open in the outbox.
    still_open = sum(1 for d in rows if d.state != DELIVERED)
    assert still_open > 0
    world.wait_until(lambda: broker.message_count(f"{broker.prefix}.deliver.{code}") == still_open)

    start_amqp(world)
    world.wait_all_final()
    assert sorted(store.received_ids(code)) == sorted(sent)


def test_an_unreadable_message_is_dead_lettered(
    amqp_world: Callable[..., RelayWorld], broker: Broker
) -> None:
    world = amqp_world()
    code = world.agency("POISON")
    transport = start_amqp(world, relay=False)
    consumer = transport.consumer
    assert consumer is not None
    world.wait_until(lambda: consumer.stats.connections > 0)

    connection = broker.connection()
    try:
        channel = connection.channel()
        channel.basic_publish(f"{broker.prefix}.deliver", code, b"this is not json")
        dead = f"{broker.prefix}.dead-letters"
        world.wait_until(lambda: broker.message_count(dead) == 1, timeout=30)
        _method, properties, body = channel.basic_get(dead, auto_ack=True)
        assert body == b"this is not json"
        assert properties.headers["x-death"][0]["queue"] == f"{broker.prefix}.deliver.{code}"
    finally:
        connection.close()
    assert consumer.stats.rejected == 1


class FlakyProcessor(DeliveryProcessor):
    """Fails like a processor whose database went away, the first ``failures`` times."""

    def __init__(self, world: RelayWorld, failures: int) -> None:
        super().__init__(world.platform, world.platform.adapters)
        self.failures = failures

    def process(self, delivery_id: int, *, broker_attempt: int | None = None) -> Outcome:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("database unavailable (simulated)")
        return super().process(delivery_id, broker_attempt=broker_attempt)


def test_a_delivery_that_cannot_be_recorded_is_requeued_not_lost(
    amqp_world: Callable[..., RelayWorld],
) -> None:
    world = amqp_world(worker_concurrency=1)
    code = world.agency("FLAKY")
    sent = world.add_messages(code, 3)
    transport = AmqpTransport(world.platform, FlakyProcessor(world, failures=2))
    world.on_teardown(transport.stop)
    transport.start()
    world.wait_all_final(timeout=60)

    assert world.states() == Counter({DELIVERED: 3})
    assert sorted(store.received_ids(code)) == sorted(sent)
    assert transport.consumer is not None
    assert transport.consumer.stats.requeued == 2


def test_copies_from_the_republishing_sweep_are_delivered_once(
    amqp_world: Callable[..., RelayWorld], broker: Broker
) -> None:
    world = amqp_world(amqp_republish_seconds=0.5)
    code = world.agency("SWEEP")
    sent = world.add_messages(code, 10)
    relay = start_amqp(world, consume=False)
    queue = f"{broker.prefix}.deliver.{code}"
    # Nobody consumes, so the sweep takes every publish for lost and publishes it again.
    world.wait_until(lambda: broker.message_count(queue) >= 30, timeout=60)
    relay.stop()

    consumer = start_amqp(world, relay=False)
    world.wait_all_final(timeout=60)
    world.wait_until(lambda: broker.message_count(queue) == 0, timeout=60)
    assert len(store.delivered(code)) == 10  # the adapter saw no copy
    assert sorted(store.received_ids(code)) == sorted(sent)
    assert consumer.consumer is not None
    assert consumer.consumer.stats.stale >= 20


def test_a_message_requeued_past_the_delivery_limit_is_dead_lettered(broker: Broker) -> None:
    topology = Topology(broker.prefix)
    connection = broker.connection()
    try:
        channel = connection.channel()
        declare_blocking(channel, topology.base() + topology.recipient("LOOP"))
        channel.confirm_delivery()
        channel.basic_publish(topology.exchange, "LOOP", b'{"delivery_id": 1}', mandatory=True)

        def dead_letters() -> int:
            declared = channel.queue_declare(topology.dead_queue, passive=True)
            count: int = declared.method.message_count
            return count

        # A consumer that keeps failing on the message: the queue gives up after the limit.
        returns = 0
        deadline = time.monotonic() + 30
        while dead_letters() == 0 and time.monotonic() < deadline:
            method, _properties, _body = channel.basic_get(topology.queue("LOOP"))
            if method is None:
                time.sleep(0.02)  # a requeued message takes a moment to be ready again
                continue
            channel.basic_nack(method.delivery_tag, requeue=True)
            returns += 1
        assert dead_letters() == 1
        assert DELIVERY_LIMIT <= returns <= DELIVERY_LIMIT + 1
        assert broker.message_count(topology.queue("LOOP")) == 0
    finally:
        connection.close()
        broker.delete(["LOOP"])


def test_the_delivery_service_picks_amqp_when_a_broker_is_configured(
    amqp_world: Callable[..., RelayWorld],
) -> None:
    world = amqp_world()
    code = world.agency("SERVICE")
    sent = world.add_messages(code, 20)
    service = DeliveryService(world.platform)
    assert isinstance(service.transport, AmqpTransport)
    world.on_teardown(service.stop)
    service.start()
    world.wait_all_final(timeout=60)
    assert sorted(store.received_ids(code)) == sorted(sent)
