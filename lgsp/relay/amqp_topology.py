"""The exchanges and queues of the amqp transport, named from one prefix (``lgsp`` by default)::

    <prefix>.deliver              direct exchange; routing key = recipient agency code
    <prefix>.deliver.<agency>     quorum queue per recipient, bound with the agency code
    <prefix>.dead                 fanout exchange the recipient queues dead-letter to
    <prefix>.dead-letters         durable queue bound to <prefix>.dead

Retries are not scheduled on the broker: the outbox holds the schedule and the relay publishes a
retry when it is due. The broker's dead-lettering is only for poison at the broker level: a body
that cannot be read, or a message whose consumers keep dying (``x-delivery-limit``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# A message redelivered this many times (consumers crashed or it was requeued) is dead-lettered.
DELIVERY_LIMIT = 20


@dataclass(frozen=True)
class Declaration:
    """One idempotent topology step, run the same way on a blocking or an async channel."""

    kind: str  # "exchange", "queue" or "bind"
    name: str  # exchange or queue name
    exchange_type: str = ""  # for "exchange"
    arguments: dict[str, Any] | None = None  # for "queue"
    source: str = ""  # for "bind": the exchange
    routing_key: str = ""  # for "bind"


@dataclass(frozen=True)
class Topology:
    prefix: str = "lgsp"

    @property
    def exchange(self) -> str:
        return f"{self.prefix}.deliver"

    @property
    def dead_exchange(self) -> str:
        return f"{self.prefix}.dead"

    @property
    def dead_queue(self) -> str:
        return f"{self.prefix}.dead-letters"

    def queue(self, agency: str) -> str:
        return f"{self.prefix}.deliver.{agency}"

    def base(self) -> list[Declaration]:
        """The exchanges and the dead-letter queue, before any recipient queue."""
        return [
            Declaration("exchange", self.exchange, exchange_type="direct"),
            Declaration("exchange", self.dead_exchange, exchange_type="fanout"),
            Declaration("queue", self.dead_queue),
            Declaration("bind", self.dead_queue, source=self.dead_exchange),
        ]

    def recipient(self, agency: str) -> list[Declaration]:
        arguments = {
            "x-queue-type": "quorum",
            "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": self.dead_exchange,
        }
        queue = self.queue(agency)
        return [
            Declaration("queue", queue, arguments=arguments),
            Declaration("bind", queue, source=self.exchange, routing_key=agency),
        ]


def declare_blocking(channel: Any, declarations: list[Declaration]) -> None:
    """Run ``declarations`` on a pika BlockingChannel."""
    for d in declarations:
        if d.kind == "exchange":
            channel.exchange_declare(d.name, exchange_type=d.exchange_type, durable=True)
        elif d.kind == "queue":
            channel.queue_declare(d.name, durable=True, arguments=d.arguments)
        else:
            channel.queue_bind(d.name, d.source, routing_key=d.routing_key)


def declare_async(channel: Any, declarations: list[Declaration], done: Any) -> None:
    """Run ``declarations`` one after the other on a pika async Channel, then call ``done()``."""
    if not declarations:
        done()
        return
    d, rest = declarations[0], declarations[1:]

    def next_step(_frame: Any) -> None:
        declare_async(channel, rest, done)

    if d.kind == "exchange":
        channel.exchange_declare(
            d.name, exchange_type=d.exchange_type, durable=True, callback=next_step
        )
    elif d.kind == "queue":
        channel.queue_declare(d.name, durable=True, arguments=d.arguments, callback=next_step)
    else:
        channel.queue_bind(d.name, d.source, routing_key=d.routing_key, callback=next_step)
