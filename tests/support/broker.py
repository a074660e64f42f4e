"""The test's slice of the real RabbitMQ: every queue and exchange it makes starts with a prefix
of its own, and is deleted afterwards."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pika


@dataclass
class Broker:
    """The test's slice of the real RabbitMQ: every name starts with ``prefix``."""

    url: str
    prefix: str
    queues: set[str] = field(default_factory=set)

    def connection(self) -> Any:
        return pika.BlockingConnection(pika.URLParameters(self.url))

    def message_count(self, queue: str) -> int:
        """Ready messages in ``queue``; 0 while it does not exist."""
        connection = self.connection()
        try:
            declared = connection.channel().queue_declare(queue, passive=True)
            count: int = declared.method.message_count
            return count
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code == 404:
                return 0
            raise
        finally:
            if connection.is_open:
                connection.close()

    def delete(self, agencies: list[str]) -> None:
        names = [f"{self.prefix}.deliver.{code}" for code in agencies]
        names += [f"{self.prefix}.dead-letters", *self.queues]
        connection = self.connection()
        try:
            channel = connection.channel()
            for name in names:
                channel.queue_delete(name)
            for exchange in (f"{self.prefix}.deliver", f"{self.prefix}.dead"):
                channel.exchange_delete(exchange)
        finally:
            connection.close()
