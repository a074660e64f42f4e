"""Per-dossier order through retries, on both transports, made deterministic: the head of the
chain fails once and waits at least half a second for its retry, while the rest of its chain
could be delivered in milliseconds. Order holds only if the waiting head blocks them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lgsp_adapters.memory import store

from lgsp.relay.amqp import AmqpTransport
from lgsp.relay.embedded import EmbeddedTransport
from tests.relay.conftest import RelayWorld

TRANSPORTS = ["embedded", pytest.param("amqp", marks=pytest.mark.rabbitmq)]


def _world(
    kind: str, request: pytest.FixtureRequest, database_url: str, **settings: object
) -> RelayWorld:
    factory: Callable[..., RelayWorld] = request.getfixturevalue(
        "amqp_world" if kind == "amqp" else "relay_world"
    )
    return factory(database_url, **settings)


def _start(kind: str, world: RelayWorld) -> None:
    cls = AmqpTransport if kind == "amqp" else EmbeddedTransport
    transport = cls(world.platform, world.processor())
    world.on_teardown(transport.stop)
    transport.start()


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_a_failed_head_holds_its_dossier_and_not_the_others(
    kind: str, request: pytest.FixtureRequest, database_url: str
) -> None:
    # The first retry waits between retry_base/2 and retry_base seconds.
    world = _world(kind, request, database_url, retry_base_seconds=1.0, retry_max_seconds=1.0)
    code = world.agency("ORDER")
    store.script(code, "fail")  # the very first attempt: the head of dossier-1
    chain = world.add_messages(code, 6, key=lambda _: "dossier-1")
    _start(kind, world)
    world.wait_all_final(timeout=60)

    assert store.received_ids(code) == chain
    assert [d.attempts for d in world.deliveries()] == [2, 1, 1, 1, 1, 1]


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_every_message_failing_twice_still_arrives_in_order(
    kind: str, request: pytest.FixtureRequest, database_url: str
) -> None:
    world = _world(kind, request, database_url)
    code = world.agency("ORDER2", fail_each=2)
    chain = world.add_messages(code, 8, key=lambda _: "dossier-1")
    others = world.add_messages(code, 4, key=lambda i: f"dossier-{i + 2}")
    _start(kind, world)
    world.wait_all_final(timeout=120)

    received = store.received_ids(code)
    assert [m for m in received if m in chain] == chain
    assert sorted(received) == sorted(chain + others)
    assert [d.attempts for d in world.deliveries()] == [3] * 12
