"""Transports move deliveries from the outbox to the workers that run the adapters.

    embedded   the outbox table is the queue: workers lease rows (SKIP LOCKED on PostgreSQL)
    amqp       a relay publishes eligible rows to RabbitMQ with publisher confirms; workers
               consume per-recipient queues with manual acks

Both run the same DeliveryProcessor, so adapters, retries, ordering and logging behave the same.
Implementations are registered by alias and imported only when chosen.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Protocol

from lgsp.kit.errors import SettingsError
from lgsp.platform import Platform
from lgsp.relay.delivery import DeliveryProcessor

TRANSPORTS = {
    "embedded": "lgsp.relay.embedded:EmbeddedTransport",
    "amqp": "lgsp.relay.amqp:AmqpTransport",
}


class Transport(Protocol):
    def start(self, *, relay: bool = True, consume: bool = True) -> None:
        """Start the relay (moving outbox rows onto the transport) and/or the consumers."""

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking new work, let in-flight deliveries finish (up to ``timeout``)."""


class TransportFactory(Protocol):
    def __call__(self, platform: Platform, processor: DeliveryProcessor) -> Transport: ...


def transport_class(name: str) -> TransportFactory:
    try:
        target = TRANSPORTS[name]
    except KeyError:
        close = difflib.get_close_matches(name, TRANSPORTS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise SettingsError(
            f"unknown transport {name!r}{hint} (known: {', '.join(TRANSPORTS)})"
        ) from None
    module_name, _, attr = target.partition(":")
    factory: TransportFactory = getattr(importlib.import_module(module_name), attr)
    return factory


class DeliveryService:
    """What `lgsp serve` / `lgsp worker` start: the adapters, the processor and the transport."""

    def __init__(self, platform: Platform, *, relay: bool = True, consume: bool = True) -> None:
        self.platform = platform
        self.adapters = platform.adapters
        self.processor = DeliveryProcessor(platform, self.adapters)
        self.transport = transport_class(platform.settings.transport)(platform, self.processor)
        self._relay, self._consume = relay, consume

    def start(self) -> None:
        self.adapters.validate_all()
        self.transport.start(relay=self._relay, consume=self._consume)

    def stop(self, timeout: float = 30.0) -> None:
        self.transport.stop(timeout)
