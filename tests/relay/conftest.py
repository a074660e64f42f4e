"""A platform for relay and transport tests: a fresh database built from the models, agencies with
push endpoints on the in-memory adapter, and messages written straight into the outbox."""

from __future__ import annotations

import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from lgsp_adapters.memory import store
from sqlalchemy import func, select

from lgsp.deliveries.models import Delivery, DeliveryState
from lgsp.directory.models import Agency, Endpoint
from lgsp.exchange.models import Message
from lgsp.kit import jsonutil
from lgsp.kit.db import transaction
from lgsp.kit.timeutil import utcnow
from lgsp.models import Base
from lgsp.platform import Platform
from lgsp.relay.delivery import DeliveryProcessor
from lgsp.settings import Settings
from tests.support.broker import Broker
from tests.support.services import RABBIT_URL, require

TEST_SECRET = "test-secret-key-0123456789abcdef0123456789"
SENDER = "000.00.01.T00"


@dataclass
class RelayWorld:
    """One platform over one fresh database; the agencies in it have push endpoints."""

    platform: Platform
    run: str  # makes agency codes unique in the process-wide memory store
    agencies: list[str] = field(default_factory=list)
    _stoppers: list[Callable[[], None]] = field(default_factory=list)

    def agency(self, name: str, **adapter_settings: Any) -> str:
        code = f"{name}.{self.run}"
        with transaction(self.platform.sessions) as session:
            session.add(Agency(code=code, name_vi=name, name_en=name, kind="department"))
            session.flush()
            session.add(
                Endpoint(
                    agency_code=code,
                    mode="push",
                    adapter="memory",
                    settings=adapter_settings,
                    timeout_seconds=10.0,
                )
            )
        store.clear(code)
        self.agencies.append(code)
        self.platform.directory.invalidate()
        return code

    def add_messages(
        self, recipient: str, count: int, *, key: Callable[[int], str | None] = lambda _: None
    ) -> list[str]:
        """``count`` accepted messages to ``recipient``, in order; their ids."""
        now = utcnow()
        ids = [str(uuid.uuid4()) for _ in range(count)]
        with transaction(self.platform.sessions) as session:
            for index, message_id in enumerate(ids):
                payload = jsonutil.dumps_str({"index": index})
                session.add(
                    Message(
                        id=message_id,
                        type="test.notice",
                        sender=SENDER,
                        client_id="test",
                        correlation_key=key(index),
                        payload=payload,
                        payload_sha256=jsonutil.sha256_hex(payload.encode()),
                        size=len(payload),
                        accepted_at=now,
                        request_sha256="0" * 64,
                    )
                )
            session.flush()
            for index, message_id in enumerate(ids):
                session.add(
                    Delivery(
                        message_id=message_id,
                        recipient=recipient,
                        correlation_key=key(index),
                        state=DeliveryState.PENDING.value,
                        attempts=0,
                        created_at=now,
                        next_attempt_at=now,
                    )
                )
        self.platform.outbox_signal.set()
        return ids

    def states(self) -> Counter[str]:
        with self.platform.sessions() as session:
            rows = session.execute(select(Delivery.state, func.count()).group_by(Delivery.state))
            return Counter({row[0]: row[1] for row in rows})

    def deliveries(self) -> list[Delivery]:
        with self.platform.sessions() as session:
            return list(session.scalars(select(Delivery).order_by(Delivery.id)))

    def wait_until(self, condition: Callable[[], bool], timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting; deliveries now {dict(self.states())}")
            time.sleep(0.05)

    def wait_all_final(self, timeout: float = 180.0) -> None:
        def done() -> bool:
            states = self.states()
            return not (states[DeliveryState.PENDING] or states[DeliveryState.RETRYING])

        self.wait_until(done, timeout)

    def processor(self) -> DeliveryProcessor:
        return DeliveryProcessor(self.platform, self.platform.adapters)

    def on_teardown(self, stopper: Callable[[], None]) -> None:
        self._stoppers.append(stopper)

    def close(self) -> None:
        stoppers, self._stoppers = self._stoppers, []
        for stopper in reversed(stoppers):
            stopper()
        for code in self.agencies:
            store.clear(code)
        self.platform.close()


def relay_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "secret_key": TEST_SECRET,
        "database_url": database_url,
        "relay_poll_seconds": 0.02,
        "retry_base_seconds": 0.02,
        "retry_max_seconds": 0.2,
        "lease_seconds": 5.0,
        "worker_concurrency": 16,
    }
    values.update(overrides)
    return Settings(**values)


def build_world(database_url: str, **overrides: Any) -> RelayWorld:
    platform = Platform.build(relay_settings(database_url, **overrides))
    Base.metadata.create_all(platform.engine)
    return RelayWorld(platform, run=secrets.token_hex(3))


@pytest.fixture
def relay_world(tmp_path: Path) -> Iterator[Callable[..., RelayWorld]]:
    """Builds worlds (``make(database_url=None, **settings)``; SQLite by default), closed after
    the test."""
    worlds: list[RelayWorld] = []

    def make(database_url: str | None = None, **overrides: Any) -> RelayWorld:
        url = database_url or f"sqlite:///{tmp_path / f'relay{len(worlds)}.db'}"
        world = build_world(url, **overrides)
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        world.close()


# --- RabbitMQ -----------------------------------------------------------------------------------


@pytest.fixture
def broker() -> Broker:
    require("rabbitmq")
    return Broker(RABBIT_URL, f"lgsp-test-{secrets.token_hex(4)}")


@pytest.fixture
def amqp_world(
    relay_world: Callable[..., RelayWorld], broker: Broker
) -> Iterator[Callable[..., RelayWorld]]:
    """Like ``relay_world``, with the broker settings of this test's prefix; the test's queues
    and exchanges are deleted afterwards."""
    made: list[RelayWorld] = []

    def make(database_url: str | None = None, **overrides: Any) -> RelayWorld:
        overrides.setdefault("broker_url", broker.url)
        overrides.setdefault("amqp_prefix", broker.prefix)
        world = relay_world(database_url, **overrides)
        made.append(world)
        return world

    yield make
    for world in made:
        world.close()
    broker.delete([code for world in made for code in world.agencies])
