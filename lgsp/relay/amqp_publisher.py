"""The relay's publisher: many publishes in flight, every one confirmed by the broker.

pika's BlockingChannel in confirm mode waits for each publish's confirm before returning, one
round trip per message. This publisher instead owns a SelectConnection whose I/O loop runs on a
dedicated thread: a batch is written in one go, the broker's (possibly ``multiple``) acks and
nacks are matched to delivery tags as they arrive, and the caller waits once for the whole batch.

Only confirmed messages are reported back; a nack, a return (unroutable) or a lost connection
leaves the message unconfirmed, and the relay publishes it again later (the copies are
deduplicated downstream). The thread reconnects by itself, with backoff, after any failure.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import pika
import pika.spec

from lgsp.kit import jsonutil
from lgsp.relay.amqp_topology import Topology, declare_async

log = logging.getLogger("lgsp.amqp.publisher")


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One delivery attempt to put on the broker."""

    delivery_id: int
    message_id: str
    recipient: str
    correlation_key: str | None
    attempt: int

    def body(self) -> bytes:
        return jsonutil.dumps(
            {
                "delivery_id": self.delivery_id,
                "message_id": self.message_id,
                "recipient": self.recipient,
            }
        )

    def properties(self) -> Any:
        return pika.BasicProperties(
            content_type="application/json",
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=self.message_id,
            headers={
                "delivery_id": self.delivery_id,
                "attempt": self.attempt,
                "correlation_key": self.correlation_key,
            },
        )


@dataclass
class PublisherStats:
    """Counters for tests and metrics; written by the I/O thread only."""

    connections: int = 0
    published: int = 0
    confirmed: int = 0
    nacked: int = 0
    returned: int = 0
    # The most publishes ever awaiting their confirm at once.
    max_in_flight: int = 0


class _Job:
    """A batch to publish, or (with no messages) recipient queues to declare; handed from the
    caller's thread to the I/O thread and back."""

    def __init__(self, messages: list[Outgoing], recipients: list[str]) -> None:
        self.messages = messages
        self.recipients = recipients
        self.remaining = len(messages)
        self.done = threading.Event()
        # Set by the I/O thread when every message was settled (or the declarations ran).
        self.completed = False
        self._lock = threading.Lock()
        self._confirmed: list[int] = []
        self._closed = False

    def settle(self, delivery_id: int, ok: bool) -> None:
        with self._lock:
            if self._closed:
                return
            if ok:
                self._confirmed.append(delivery_id)
            self.remaining -= 1
            if self.remaining > 0:
                return
        self.complete()

    def complete(self) -> None:
        self.completed = True
        self.done.set()

    def finish(self) -> list[int]:
        """What was confirmed; later confirms of this job are ignored."""
        with self._lock:
            self._closed = True
            return list(self._confirmed)


class ConfirmingPublisher:
    def __init__(self, parameters: pika.connection.Parameters, topology: Topology) -> None:
        self._parameters = parameters
        self._topology = topology
        self.stats = PublisherStats()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._connection: Any = None
        self._jobs: set[_Job] = set()
        # Owned by the I/O thread:
        self._channel: Any = None
        self._tag = 0
        self._pending: OrderedDict[int, tuple[_Job, int]] = OrderedDict()
        self._returned: set[int] = set()
        self._declared: set[str] = set()
        self._opened = False

    # --- the caller's side ------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="lgsp-amqp-publish", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._closing.set()
        with self._lock:
            # Under the lock: the I/O thread cannot close this loop meanwhile.
            connection = self._connection
            if connection is not None:
                callback = functools.partial(self._close, connection)
                connection.ioloop.add_callback_threadsafe(callback)
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_ready(self, timeout: float) -> bool:
        """True once connected with confirms on and the base topology declared."""
        return self._ready.wait(timeout)

    def publish(self, messages: list[Outgoing], timeout: float) -> list[int]:
        """Publish ``messages`` and wait for their confirms; the delivery ids confirmed. Queues
        of recipients not declared on this connection yet are declared first."""
        if not messages:
            return []
        recipients = sorted({m.recipient for m in messages})
        job = _Job(messages, recipients)
        self._submit(job, timeout)
        return job.finish()

    def declare(self, recipients: list[str], timeout: float) -> bool:
        """Declare the queues of ``recipients``; False if that could not be done now."""
        job = _Job([], recipients)
        return self._submit(job, timeout)

    def _submit(self, job: _Job, timeout: float) -> bool:
        with self._lock:
            if self._connection is None or not self._ready.is_set():
                return False
            self._jobs.add(job)
            self._connection.ioloop.add_callback_threadsafe(functools.partial(self._start, job))
        job.done.wait(timeout)
        with self._lock:
            self._jobs.discard(job)
        return job.completed

    # --- the I/O thread ---------------------------------------------------------------------
    def _run(self) -> None:
        delay = 0.5
        while not self._closing.is_set():
            self._opened = False
            connection = pika.SelectConnection(
                self._parameters,
                on_open_callback=self._on_open,
                on_open_error_callback=self._on_open_error,
                on_close_callback=self._on_closed,
            )
            with self._lock:
                self._connection = connection
            try:
                connection.ioloop.start()
            except Exception:
                log.exception("publisher I/O loop failed")
            with self._lock:
                self._connection = None
                self._ready.clear()
            self._abandon_all()
            try:
                connection.ioloop.close()
            except Exception:
                log.debug("closing the publisher I/O loop failed", exc_info=True)
            delay = 0.5 if self._opened else min(delay * 2, 30.0)
            if not self._closing.is_set():
                log.info("publisher reconnecting to the broker in %.1fs", delay)
                self._closing.wait(delay)

    def _close(self, connection: Any) -> None:
        if connection.is_closed or connection.is_closing:
            connection.ioloop.stop()
            return
        try:
            connection.close()
        except pika.exceptions.AMQPError:
            connection.ioloop.stop()

    def _on_open(self, connection: Any) -> None:
        connection.channel(on_open_callback=self._on_channel_open)

    def _on_open_error(self, connection: Any, error: BaseException) -> None:
        log.warning("publisher cannot connect to the broker: %r", error)
        connection.ioloop.stop()

    def _on_closed(self, connection: Any, reason: BaseException) -> None:
        if not self._closing.is_set():
            log.warning("publisher connection closed: %s", reason)
        self._channel = None
        self._ready.clear()
        self._abandon_all()
        connection.ioloop.stop()

    def _on_channel_open(self, channel: Any) -> None:
        self._channel = channel
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(self._on_return)
        channel.confirm_delivery(
            self._on_confirm,
            callback=lambda _frame: declare_async(channel, self._topology.base(), self._on_ready),
        )

    def _on_ready(self) -> None:
        self._tag = 0
        self._pending.clear()
        self._returned.clear()
        self._declared.clear()
        self._opened = True
        self.stats.connections += 1
        self._ready.set()
        log.info("publisher connected to the broker (confirms on)")

    def _on_channel_closed(self, channel: Any, reason: BaseException) -> None:
        # A refused declaration (a queue with other arguments) or a broker error: start afresh on
        # a new connection rather than carry on with a half-configured one.
        if not self._closing.is_set():
            log.warning("publisher channel closed: %s", reason)
        self._channel = None
        self._ready.clear()
        self._abandon_all()
        connection = channel.connection
        if not (connection.is_closed or connection.is_closing):
            connection.close()

    def _abandon_all(self) -> None:
        """Fail every job in progress: its unconfirmed messages will be published again."""
        self._pending.clear()
        with self._lock:
            jobs = list(self._jobs)
        for job in jobs:
            job.done.set()

    def _start(self, job: _Job) -> None:
        channel = self._channel
        if channel is None or not channel.is_open:
            job.done.set()
            return
        missing = [code for code in job.recipients if code not in self._declared]
        if not missing:
            self._send(job)
            return
        declarations = [d for code in missing for d in self._topology.recipient(code)]

        def declared() -> None:
            self._declared.update(missing)
            self._send(job)

        declare_async(channel, declarations, declared)

    def _send(self, job: _Job) -> None:
        channel = self._channel
        if channel is None or not channel.is_open:
            job.done.set()
            return
        if not job.messages:
            job.complete()
            return
        exchange = self._topology.exchange
        for message in job.messages:
            self._tag += 1
            self._pending[self._tag] = (job, message.delivery_id)
            channel.basic_publish(
                exchange,
                message.recipient,
                message.body(),
                message.properties(),
                mandatory=True,
            )
        self.stats.published += len(job.messages)
        self.stats.max_in_flight = max(self.stats.max_in_flight, len(self._pending))

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        ok = isinstance(method, pika.spec.Basic.Ack)
        tag: int = method.delivery_tag
        if method.multiple:
            while self._pending and (oldest := next(iter(self._pending))) <= tag:
                self._settle(oldest, ok)
        else:
            self._settle(tag, ok)

    def _settle(self, tag: int, ok: bool) -> None:
        entry = self._pending.pop(tag, None)
        if entry is None:
            return
        job, delivery_id = entry
        if delivery_id in self._returned:
            self._returned.discard(delivery_id)
            ok = False
        if ok:
            self.stats.confirmed += 1
        else:
            self.stats.nacked += 1
        job.settle(delivery_id, ok)

    def _on_return(self, _channel: Any, method: Any, properties: Any, _body: bytes) -> None:
        # The broker returns an unroutable mandatory message before acking it: remember it, so
        # its ack does not count as confirmed, and declare its queue again next time.
        headers = properties.headers or {}
        delivery_id = headers.get("delivery_id")
        log.warning(
            "broker returned delivery %s for %s: %s",
            delivery_id,
            method.routing_key,
            method.reply_text,
        )
        self.stats.returned += 1
        self._declared.discard(method.routing_key)
        if isinstance(delivery_id, int):
            self._returned.add(delivery_id)
