"""The amqp transport through a RabbitMQ restart: relay and consumers reconnect by themselves and
nothing accepted is lost. Stops the broker's application on this machine for a few seconds."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from collections.abc import Callable

import pytest
from lgsp_adapters.memory import store

from lgsp.deliveries.models import DeliveryState
from lgsp.relay.amqp import AmqpTransport
from tests.relay.conftest import RelayWorld
from tests.support.services import services_required

pytestmark = [pytest.mark.rabbitmq, pytest.mark.fault, pytest.mark.slow]


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


@pytest.fixture
def broker_control() -> None:
    """Skip (fail in CI) when this machine's RabbitMQ cannot be stopped and started."""
    problem = None
    if shutil.which("rabbitmqctl") is None:
        problem = "rabbitmqctl is not installed"
    else:
        try:
            rabbitmqctl("status")
        except (subprocess.SubprocessError, OSError) as exc:
            problem = f"rabbitmqctl cannot control the local broker: {exc}"
    if problem:
        if services_required():
            pytest.fail(problem + " (LGSP_REQUIRE_SERVICES=1)")
        pytest.skip(problem)


@pytest.mark.usefixtures("broker_control")
def test_a_broker_restart_mid_run_loses_nothing(amqp_world: Callable[..., RelayWorld]) -> None:
    world = amqp_world(worker_concurrency=4)
    recipients = [world.agency("R1"), world.agency("R2")]
    for code in recipients:
        # Slow the recipients down so the restart lands in the middle of the run.
        store.script(code, "slow", 1200, delay=0.01)
    sent = {code: world.add_messages(code, 600) for code in recipients}
    transport = AmqpTransport(world.platform, world.processor())
    world.on_teardown(transport.stop)
    transport.start()
    world.wait_until(lambda: world.states()[DeliveryState.DELIVERED] >= 150)

    try:
        rabbitmqctl("stop_app")
        # Accepted while the broker is down: they wait in the outbox.
        for code in recipients:
            sent[code] += world.add_messages(code, 100, key=lambda n: f"late-{n % 3}")
        assert world.states()[DeliveryState.DELIVERED] < 1400
    finally:
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup")

    world.wait_all_final(timeout=300)
    assert world.states() == Counter({DeliveryState.DELIVERED.value: 1400})
    for code in recipients:
        assert sorted(store.received_ids(code)) == sorted(sent[code])
    assert transport.publisher is not None and transport.consumer is not None
    assert transport.publisher.stats.connections >= 2
    assert transport.consumer.stats.connections >= 2
