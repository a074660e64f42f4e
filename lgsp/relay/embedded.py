"""The embedded transport: workers lease eligible outbox rows straight from the database.

A dispatcher thread leases as many rows as there are free worker slots and hands them to a
thread pool. A lease that is not released (the process was killed) expires after
``lease_seconds`` and the row is taken again: delivery is at least once, never lost.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor

from lgsp.deliveries import service as deliveries
from lgsp.kit.db import transaction
from lgsp.kit.timeutil import utcnow
from lgsp.platform import Platform
from lgsp.relay.delivery import DeliveryProcessor

log = logging.getLogger("lgsp.embedded")


class EmbeddedTransport:
    def __init__(self, platform: Platform, processor: DeliveryProcessor) -> None:
        self._platform = platform
        self._processor = processor
        settings = platform.settings
        self._slots = max(1, settings.worker_concurrency)
        self._owner = f"{os.uname().nodename}:{os.getpid()}:{id(self):x}"
        self._stop = threading.Event()
        self._free = threading.Semaphore(self._slots)
        self._pool: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self._in_flight: set[Future[object]] = set()
        # Deliveries in flight per recipient, capped by the endpoint's `concurrency`, so one
        # slow or failing recipient cannot take every worker.
        self._per_recipient: Counter[str] = Counter()
        self._lock = threading.Lock()

    def start(self, *, relay: bool = True, consume: bool = True) -> None:
        # The outbox is the queue, so there is nothing to relay: consuming is everything.
        if not consume:
            return
        self._pool = ThreadPoolExecutor(self._slots, thread_name_prefix="lgsp-deliver")
        self._thread = threading.Thread(target=self._run, name="lgsp-dispatch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._platform.outbox_signal.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        try:
            with transaction(self._platform.sessions) as session:
                deliveries.release_leases(session, self._owner)
        except Exception:  # noqa: BLE001 - leases expire by themselves anyway
            log.warning("could not release leases of %s on shutdown", self._owner)

    def _run(self) -> None:
        settings = self._platform.settings
        signal = self._platform.outbox_signal
        while not self._stop.is_set():
            free = self._free_slots()
            claimed: list[tuple[int, str]] = []
            reserved: list[tuple[int, str]] = []
            started = 0
            if free:
                try:
                    with transaction(self._platform.sessions) as session:
                        claimed = deliveries.lease(
                            session,
                            owner=self._owner,
                            now=utcnow(),
                            lease_seconds=settings.lease_seconds,
                            limit=free,
                            exclude_recipients=self._saturated(),
                        )
                        reserved = [(i, r) for i, r in claimed if self._reserve(r)]
                        if len(reserved) < len(claimed):
                            kept = {i for i, _ in reserved}
                            excess = [i for i, _ in claimed if i not in kept]
                            deliveries.release(session, excess, self._owner)
                except Exception as exc:  # noqa: BLE001 - database down: wait and retry
                    log.warning("cannot lease deliveries: %s", exc)
                    self._forget(reserved)
                    self._stop.wait(1.0)
                    continue
                for delivery_id, recipient in reserved:
                    self._submit(delivery_id, recipient)
                    started += 1
            if started and len(claimed) == free:
                continue  # more may be waiting
            signal.wait(self._idle_wait())
            signal.clear()

    def _idle_wait(self) -> float:
        return deliveries.idle_wait(
            self._platform.sessions, poll=self._platform.settings.relay_poll_seconds
        )

    def _free_slots(self) -> int:
        count = 0
        while self._free.acquire(blocking=False):
            count += 1
        for _ in range(count):
            self._free.release()
        return count

    def _capacity(self, recipient: str) -> int:
        endpoint = self._platform.directory.snapshot().endpoint(recipient)
        return max(1, endpoint.concurrency) if endpoint is not None else 1

    def _saturated(self) -> list[str]:
        with self._lock:
            return [r for r, n in self._per_recipient.items() if n >= self._capacity(r)]

    def _reserve(self, recipient: str) -> bool:
        with self._lock:
            if self._per_recipient[recipient] >= self._capacity(recipient):
                return False
            self._per_recipient[recipient] += 1
            return True

    def _forget(self, reserved: list[tuple[int, str]]) -> None:
        # The claim transaction failed after reservations were made: undo them.
        with self._lock:
            for _, recipient in reserved:
                if self._per_recipient[recipient] > 0:
                    self._per_recipient[recipient] -= 1

    def _submit(self, delivery_id: int, recipient: str) -> None:
        assert self._pool is not None
        self._free.acquire()
        future = self._pool.submit(self._deliver, delivery_id)
        with self._lock:
            self._in_flight.add(future)
        future.add_done_callback(lambda f: self._done(f, recipient))

    def _deliver(self, delivery_id: int) -> object:
        try:
            return self._processor.process(delivery_id)
        except Exception:
            log.exception("delivery %s failed to complete; its lease will expire", delivery_id)
            return None

    def _done(self, future: Future[object], recipient: str) -> None:
        with self._lock:
            self._in_flight.discard(future)
            self._per_recipient[recipient] -= 1
            if self._per_recipient[recipient] <= 0:
                del self._per_recipient[recipient]
        self._free.release()
        self._platform.outbox_signal.set()
