"""The amqp workers: consume every recipient queue, deliver on a thread pool, ack when recorded.

One BlockingConnection on one thread owns the channel; deliveries run on a thread pool and hand
their ack back to that thread (``add_callback_threadsafe``), since a pika connection must only be
used by the thread that drives it. A message is acked only after ``DeliveryProcessor.process``
returned, i.e. after the outcome is committed: a crash before that leaves the message unacked
and the broker delivers it again.

Copies are expected (a publish confirmed late, a redelivery after a lost connection, the relay's
republishing sweep). Before delivering, the worker reads the row: a final row, or one whose
attempt counter has moved past the message's ``attempt`` header, is acked without delivering
again. Copies of one delivery inside this process are serialised so that check sees the
first one's outcome.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import pika
import pika.exceptions

from lgsp.platform import Platform
from lgsp.relay.amqp_topology import Topology, declare_blocking
from lgsp.relay.delivery import FINISHED_ELSEWHERE, DeliveryProcessor

log = logging.getLogger("lgsp.amqp.consumer")

Verdict = Literal["ack", "requeue"]

# How often the consumer looks for recipients added to the directory.
RECIPIENT_CHECK_SECONDS = 5.0


@dataclass
class ConsumerStats:
    connections: int = 0
    received: int = 0
    processed: int = 0
    # Copies acked without delivering: the row was final or already past that attempt.
    stale: int = 0
    requeued: int = 0
    # Unreadable bodies rejected to the dead-letter exchange.
    rejected: int = 0


@dataclass
class _Claim:
    lock: threading.Lock
    users: int = 0


def _parse(body: bytes) -> int:
    data = orjson.loads(body)
    delivery_id = data["delivery_id"] if isinstance(data, dict) else None
    if type(delivery_id) is not int:
        raise ValueError("delivery_id is missing or not an integer")
    return delivery_id


class Consumer:
    def __init__(
        self,
        platform: Platform,
        processor: DeliveryProcessor,
        parameters: pika.connection.Parameters,
        topology: Topology,
        recipients: Callable[[], list[str]],
    ) -> None:
        self._platform = platform
        self._processor = processor
        self._parameters = parameters
        self._topology = topology
        self._recipients = recipients
        self._prefetch = max(1, platform.settings.worker_concurrency)
        self.stats = ConsumerStats()
        self._stopping = threading.Event()
        self._drain_until = 0.0
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._claims: dict[int, _Claim] = {}
        self._claims_lock = threading.Lock()
        self._failures = 0
        # Owned by the consumer thread:
        self._generation = 0
        self._in_flight = 0
        self._consuming: dict[str, str] = {}  # agency code -> consumer tag

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(self._prefetch, thread_name_prefix="lgsp-amqp-deliver")
        self._thread = threading.Thread(target=self._run, name="lgsp-amqp-consume", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel the consumers, let deliveries in progress finish and ack (up to ``timeout``),
        then close. Messages not started are returned to their queue."""
        self._drain_until = time.monotonic() + timeout
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout + 5.0)
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    # --- the consumer thread ----------------------------------------------------------------
    def _run(self) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            opened = False
            connection: Any = None
            try:
                connection = pika.BlockingConnection(self._parameters)
                opened = True
                self._serve(connection)
            except pika.exceptions.AMQPError as exc:
                state = "lost" if opened else "failed"
                log.warning("consumer connection %s: %r", state, exc)
            except Exception:
                log.exception("consumer failed")
            finally:
                if connection is not None and connection.is_open:
                    try:
                        connection.close()
                    except Exception:
                        log.debug("closing the consumer connection failed", exc_info=True)
            if self._stopping.is_set():
                break
            delay = 0.5 if opened else min(delay * 2, 30.0)
            log.info("consumer reconnecting to the broker in %.1fs", delay)
            self._stopping.wait(delay)

    def _serve(self, connection: Any) -> None:
        self._generation += 1
        self._in_flight = 0
        self._consuming = {}
        generation = self._generation
        channel = connection.channel()
        channel.basic_qos(prefetch_count=self._prefetch)
        declare_blocking(channel, self._topology.base())
        self._consume_new(channel, connection, generation)
        self.stats.connections += 1  # counted once consuming, which tests wait for
        log.info("consumer connected; consuming %d recipient queues", len(self._consuming))
        checked = time.monotonic()
        while not self._stopping.is_set():
            connection.process_data_events(time_limit=0.2)
            if time.monotonic() - checked >= RECIPIENT_CHECK_SECONDS:
                self._consume_new(channel, connection, generation)
                checked = time.monotonic()
        for tag in list(self._consuming.values()):
            channel.basic_cancel(tag)
        while self._in_flight > 0 and time.monotonic() < self._drain_until:
            connection.process_data_events(time_limit=0.1)
        if self._in_flight:
            log.warning("stopping with %d deliveries still running", self._in_flight)
        connection.close()

    def _consume_new(self, channel: Any, connection: Any, generation: int) -> None:
        try:
            codes = self._recipients()
        except Exception as exc:  # noqa: BLE001 - the directory may be unreadable for a while
            log.warning("cannot read the recipients to consume: %s", exc)
            return
        for code in codes:
            if code in self._consuming:
                continue
            declare_blocking(channel, self._topology.recipient(code))
            callback = functools.partial(self._on_message, connection, generation)
            self._consuming[code] = channel.basic_consume(
                self._topology.queue(code), on_message_callback=callback
            )

    def _on_message(
        self,
        connection: Any,
        generation: int,
        channel: Any,
        method: Any,
        properties: Any,
        body: bytes,
    ) -> None:
        self.stats.received += 1
        try:
            delivery_id = _parse(body)
        except (ValueError, KeyError, TypeError) as exc:
            log.error(
                "unreadable message on %s rejected to the dead letters: %s", method.routing_key, exc
            )
            self.stats.rejected += 1
            channel.basic_reject(method.delivery_tag, requeue=False)
            return
        attempt = (properties.headers or {}).get("attempt")
        assert self._pool is not None
        self._in_flight += 1
        self._pool.submit(
            self._handle,
            connection,
            channel,
            generation,
            method.delivery_tag,
            delivery_id,
            attempt if type(attempt) is int else None,
        )

    def _settle(self, channel: Any, generation: int, tag: int, verdict: Verdict) -> None:
        if generation != self._generation:
            return  # that channel is gone; the broker has requeued the message
        self._in_flight -= 1
        try:
            if verdict == "ack":
                channel.basic_ack(tag)
            else:
                channel.basic_nack(tag, requeue=True)
        except pika.exceptions.AMQPError as exc:
            log.debug("could not settle message %s: %r", tag, exc)

    # --- the pool threads -------------------------------------------------------------------
    def _handle(
        self,
        connection: Any,
        channel: Any,
        generation: int,
        tag: int,
        delivery_id: int,
        attempt: int | None,
    ) -> None:
        verdict: Verdict = "requeue"
        try:
            if not self._stopping.is_set():
                with self._claim(delivery_id):
                    verdict = self._deliver(delivery_id, attempt)
        finally:
            if verdict == "requeue":
                self.stats.requeued += 1
            # If the connection is gone, the broker has requeued the message already.
            with contextlib.suppress(pika.exceptions.AMQPError):
                connection.add_callback_threadsafe(
                    functools.partial(self._settle, channel, generation, tag, verdict)
                )

    def _deliver(self, delivery_id: int, attempt: int | None) -> Verdict:
        try:
            outcome = self._processor.process(delivery_id, broker_attempt=attempt)
            if outcome.state == "skipped" and outcome.reason != FINISHED_ELSEWHERE:
                # final, gone, or that attempt already made: acked without delivering
                self.stats.stale += 1
                return "ack"
        except Exception:
            self._failures += 1
            pause = min(30.0, 0.5 * 2 ** min(self._failures, 6))
            log.exception(
                "delivery %s could not be completed; requeued in %.1fs", delivery_id, pause
            )
            self._stopping.wait(pause)
            return "requeue"
        self._failures = 0
        self.stats.processed += 1
        return "ack"

    @contextlib.contextmanager
    def _claim(self, delivery_id: int) -> Iterator[None]:
        with self._claims_lock:
            claim = self._claims.get(delivery_id)
            if claim is None:
                claim = self._claims[delivery_id] = _Claim(threading.Lock())
            claim.users += 1
        try:
            with claim.lock:
                yield
        finally:
            with self._claims_lock:
                claim.users -= 1
                if claim.users == 0:
                    del self._claims[delivery_id]
