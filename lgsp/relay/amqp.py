"""The amqp transport: a relay publishes due outbox rows to RabbitMQ, workers consume them.

The outbox stays the source of truth for state, ordering and the retry schedule:

- The relay selects the publishable rows (open, due, head of their chain, not on the broker yet;
  locked with SKIP LOCKED on PostgreSQL), publishes them to ``<prefix>.deliver`` keyed by the
  recipient's agency code, waits for the broker's confirms of the whole batch (pipelined, see
  :mod:`lgsp.relay.amqp_publisher`), and only then stamps ``published_at`` and commits. The rows
  stay locked meanwhile (on SQLite: the database's write lock, for the few milliseconds the
  confirms take), so a worker recording an outcome waits for that commit and its reset of
  ``published_at`` is never overwritten. Unconfirmed rows stay unstamped and go out again.
- A retriable failure is rescheduled in the database by the DeliveryProcessor (``published_at``
  cleared), and the relay publishes it again when it is due: no broker delay queues, and retries
  survive the loss of the broker.
- A row published long ago and still open (its message lost by the broker, or dead-lettered
  there after crashing consumers) is published again after ``amqp_republish_seconds``.
- Workers (:mod:`lgsp.relay.amqp_consumer`) deliver with the same DeliveryProcessor as the
  embedded transport and ack after the outcome is recorded.

Everything is at least once; the recipient deduplicates on the message id, and copies of an
attempt already made are dropped before reaching the adapter.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

import pika

from lgsp.deliveries import repository as deliveries_repository
from lgsp.deliveries import service as deliveries
from lgsp.kit.db import transaction
from lgsp.kit.errors import SettingsError
from lgsp.kit.timeutil import utcnow
from lgsp.platform import Platform
from lgsp.relay.amqp_consumer import Consumer
from lgsp.relay.amqp_publisher import ConfirmingPublisher, Outgoing
from lgsp.relay.amqp_topology import Topology
from lgsp.relay.delivery import DeliveryProcessor

log = logging.getLogger("lgsp.amqp")

BATCH_SIZE = 500
# Longest wait for a batch's confirms; the unconfirmed rest is published again later.
CONFIRM_TIMEOUT = 15.0


def connection_parameters(broker_url: str, name: str) -> Any:
    """pika parameters for ``broker_url`` (``amqp://user:pass@host:5672/vhost``), with a
    connection name the broker's management shows."""
    try:
        parameters = pika.URLParameters(broker_url)
    except Exception as exc:
        raise SettingsError(f"invalid broker URL (LGSP_BROKER_URL): {exc}") from exc
    parameters.client_properties = {"connection_name": name}
    return parameters


class AmqpTransport:
    """``start()`` runs the relay and/or the consumers on their own threads; ``stop()`` drains.

    ``publisher`` and ``consumer`` (with their ``stats``) are there once started.
    """

    def __init__(
        self,
        platform: Platform,
        processor: DeliveryProcessor,
        *,
        batch_size: int = BATCH_SIZE,
        confirm_timeout: float = CONFIRM_TIMEOUT,
    ) -> None:
        settings = platform.settings
        if not settings.broker_url:
            raise SettingsError("the amqp transport needs a broker URL (LGSP_BROKER_URL)")
        self._platform = platform
        self._processor = processor
        self._broker_url = settings.broker_url
        self.topology = Topology(settings.amqp_prefix)
        self._batch_size = batch_size
        self._confirm_timeout = confirm_timeout
        self._stopping = threading.Event()
        self._relay_thread: threading.Thread | None = None
        self.publisher: ConfirmingPublisher | None = None
        self.consumer: Consumer | None = None

    def start(self, *, relay: bool = True, consume: bool = True) -> None:
        if relay:
            self.publisher = ConfirmingPublisher(
                connection_parameters(self._broker_url, "lgsp-relay"), self.topology
            )
            self.publisher.start()
            self._relay_thread = threading.Thread(
                target=self._run_relay, name="lgsp-amqp-relay", daemon=True
            )
            self._relay_thread.start()
        if consume:
            self.consumer = Consumer(
                self._platform,
                self._processor,
                connection_parameters(self._broker_url, "lgsp-worker"),
                self.topology,
                self.push_recipients,
            )
            self.consumer.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._platform.outbox_signal.set()
        if self._relay_thread is not None:
            self._relay_thread.join(timeout)
        if self.publisher is not None:
            self.publisher.stop()
        if self.consumer is not None:
            self.consumer.stop(timeout)

    def push_recipients(self) -> list[str]:
        """Agency codes with a push endpoint: the queues to declare and consume."""
        directory = self._platform.directory.snapshot()
        return sorted(
            code
            for code in directory.agencies
            if (endpoint := directory.endpoint(code)) is not None and endpoint.mode == "push"
        )

    # --- the relay --------------------------------------------------------------------------
    def _run_relay(self) -> None:
        publisher = self.publisher
        assert publisher is not None
        signal = self._platform.outbox_signal
        sweep_every = min(60.0, self._platform.settings.amqp_republish_seconds / 4)
        gather = self._platform.settings.relay_gather_seconds
        declared_on = 0  # the publisher connection whose queues were declared
        swept = 0.0
        while not self._stopping.is_set():
            if not publisher.wait_ready(0.5):
                continue
            if publisher.stats.connections != declared_on:
                connections = publisher.stats.connections
                if self._declare_all(publisher):
                    declared_on = connections
            try:
                if time.monotonic() - swept >= sweep_every:
                    self._sweep()
                    swept = time.monotonic()
                found, confirmed = self._relay_once(publisher)
            except Exception as exc:  # noqa: BLE001 - database down: wait and retry
                log.warning("relay cannot publish: %s", exc)
                self._stopping.wait(1.0)
                continue
            if found == self._batch_size and confirmed == found:
                continue  # more may be waiting
            if confirmed < found:
                self._stopping.wait(0.2)  # broker trouble: the publisher is reconnecting
            woken = signal.wait(self._idle_wait())
            signal.clear()
            if woken and gather > 0:
                # Commits come in bursts under load: a few milliseconds more make one batch
                # (one query, one confirm round, one update) of what would be several.
                self._stopping.wait(gather)

    def _relay_once(self, publisher: ConfirmingPublisher) -> tuple[int, int]:
        with transaction(self._platform.sessions) as session:
            rows = deliveries_repository.publishable(session, now=utcnow(), limit=self._batch_size)
            if not rows:
                return 0, 0
            batch = [
                Outgoing(
                    row.id, row.message_id, row.recipient, row.correlation_key, row.attempts + 1
                )
                for row in rows
            ]
            confirmed = publisher.publish(batch, self._confirm_timeout)
            deliveries.mark_published(session, confirmed, now=utcnow())
        if len(confirmed) < len(rows):
            log.warning(
                "%d of %d publishes unconfirmed; they will be published again",
                len(rows) - len(confirmed),
                len(rows),
            )
        return len(rows), len(confirmed)

    def _declare_all(self, publisher: ConfirmingPublisher) -> bool:
        try:
            recipients = self.push_recipients()
        except Exception as exc:  # noqa: BLE001 - queues are also declared before publishing
            log.warning("cannot read the recipients to declare: %s", exc)
            return False
        return publisher.declare(recipients, self._confirm_timeout)

    def _sweep(self) -> None:
        settings = self._platform.settings
        before = utcnow() - timedelta(seconds=settings.amqp_republish_seconds)
        with transaction(self._platform.sessions) as session:
            count = deliveries.unpublish_stale(session, published_before=before)
        if count:
            log.warning(
                "%d deliveries published over %.0fs ago are still open; publishing them again",
                count,
                settings.amqp_republish_seconds,
            )

    def _idle_wait(self) -> float:
        # Rows on the broker are the workers' until an outcome (which wakes the relay of the
        # process that recorded it) or the republishing sweep: not a reason to poll.
        return deliveries.idle_wait(
            self._platform.sessions,
            poll=self._platform.settings.relay_poll_seconds,
            unpublished_only=True,
        )
