"""Delivering one outbox row: call the recipient's adapter, record the attempt, decide what next.

Shared by every transport. The outcome is written with a guard on the row's state, so a
duplicate (a redelivered broker message, an expired lease taken over by another worker) never
turns a final state back into an open one.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from lgsp_adapters.base import AdapterError, Capture, Envelope, PermanentError, UpstreamTimeout
from sqlalchemy import CursorResult, insert, update
from sqlalchemy.orm import Session

from lgsp.adapterpool import AdapterPool
from lgsp.exchange.models import Delivery, DeliveryState, Message
from lgsp.kit import jsonutil
from lgsp.kit.timeutil import utcnow
from lgsp.messagelog.models import LogEntry
from lgsp.messagelog.service import entry_values
from lgsp.observability import DELIVERY_LATENCY, DELIVERY_OUTCOMES
from lgsp.platform import Platform
from lgsp.relay import outbox
from lgsp.settings import Settings

log = logging.getLogger("lgsp.delivery")


def backoff_seconds(settings: Settings, attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter: about base * 2^(attempt-1), capped, spread over its upper
    half so recipients coming back are not hit by every retry at once."""
    ceiling = min(settings.retry_max_seconds, settings.retry_base_seconds * 2 ** (attempt - 1))
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)
    if retry_after is not None:
        # What the recipient asked for (or a timed-out request's own duration) is a floor; an
        # hour caps an absurd Retry-After.
        delay = max(delay, min(retry_after, 3600.0))
    return float(delay)


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    state: str  # delivered, retrying, dead, skipped
    reason: str | None = None


class DeliveryProcessor:
    def __init__(self, platform: Platform, adapters: AdapterPool) -> None:
        self._platform = platform
        self._adapters = adapters

    def process(self, delivery_id: int) -> Outcome:
        with self._platform.sessions() as session:
            loaded = outbox.load_for_delivery(session, delivery_id)
        if loaded is None:
            return Outcome(delivery_id, "skipped", "no such delivery")
        delivery, message = loaded
        if delivery.state not in outbox.OPEN:
            return Outcome(delivery_id, "skipped", f"already {delivery.state}")
        attempt = delivery.attempts + 1
        envelope = Envelope(
            message_id=message.id,
            type=message.type,
            sender=message.sender,
            recipient=delivery.recipient,
            payload=jsonutil.loads(message.payload) if message.payload else {},
            accepted_at=message.accepted_at,
            correlation_id=message.correlation_id,
            correlation_key=message.correlation_key,
            attempt=attempt,
        )
        started = time.perf_counter()
        error: AdapterError | None = None
        status_code: int | None = None
        reply: str | None = None
        captures: list[Capture] = []
        try:
            adapter = self._adapters.get(delivery.recipient)
            result = adapter.deliver(envelope)
            status_code, reply, captures = result.status_code, result.reply, result.captures
        except AdapterError as exc:
            error = exc
            status_code, reply, captures = exc.status_code, exc.reply, exc.captures
        except Exception as exc:
            log.exception("adapter for %s raised an unexpected error", delivery.recipient)
            error = PermanentError(f"adapter failure: {type(exc).__name__}: {exc}")
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        return self._record(
            delivery, message, attempt, error, status_code, reply, captures, duration_ms
        )

    def _record(
        self,
        delivery: Delivery,
        message: Message,
        attempt: int,
        error: AdapterError | None,
        status_code: int | None,
        reply: str | None,
        captures: list[Capture],
        duration_ms: float,
    ) -> Outcome:
        settings = self._platform.settings
        now = utcnow()
        detail: dict[str, Any] = {
            "recipient": delivery.recipient,
            "attempt": attempt,
            "status_code": status_code,
            "duration_ms": duration_ms,
            "reply": reply,
        }
        if captures:
            detail["captures"] = [c.to_log() for c in captures]
        values: dict[str, Any] = {
            "attempts": attempt,
            "last_status_code": status_code,
            "lease_owner": None,
            "lease_until": None,
            "published_at": None,
        }
        if error is None:
            state, kind, reason = DeliveryState.DELIVERED, "delivery.delivered", None
            values.update(state=state, finished_at=now, last_error=None)
        else:
            reason = error.reason
            if error.reply and error.reply[:80] not in reason:
                # What the recipient said is what the sender needs to see on a dead letter.
                reason = f"{reason}: {error.reply[:300]}"
            detail["error"] = reason
            window = self._retry_window(delivery.recipient)
            wait = getattr(error, "retry_after", None)
            if isinstance(error, UpstreamTimeout):
                # A request that timed out may still be running at the recipient; retrying
                # before it could have finished invites the two to race.
                wait = max(wait or 0.0, self._timeout(delivery.recipient))
            next_at = now + timedelta(seconds=backoff_seconds(settings, attempt, wait))
            exhausted = next_at > delivery.created_at + timedelta(seconds=window)
            if error.retriable and not exhausted:
                state, kind = DeliveryState.RETRYING, "delivery.failed"
                detail["next_attempt_at"] = next_at.isoformat()
                values.update(state=state, next_attempt_at=next_at, last_error=reason)
            else:
                state, kind = DeliveryState.DEAD, "delivery.dead"
                if error.retriable:
                    reason = f"retries exhausted after {attempt} attempts: {reason}"
                    detail["error"] = reason
                detail["permanent"] = not error.retriable
                values.update(state=state, finished_at=now, last_error=reason)
        entry = entry_values(
            kind,
            actor="platform",
            agency=delivery.recipient,
            message_id=message.id,
            correlation_key=message.correlation_key,
            detail=detail,
            at=now,
        )

        def record(session: Session) -> bool:
            result = session.execute(
                update(Delivery)
                .where(Delivery.id == delivery.id, Delivery.state.in_(outbox.OPEN))
                .values(**values)
            )
            if not cast(CursorResult[Any], result).rowcount:
                return False
            session.execute(insert(LogEntry), [entry])
            return True

        # Shares its commit with the other deliveries finishing now (group commit).
        if not self._platform.writer.run(record):
            return Outcome(delivery.id, "skipped", "finished elsewhere meanwhile")
        DELIVERY_OUTCOMES.labels(state.value).inc()
        if state == DeliveryState.DELIVERED:
            DELIVERY_LATENCY.observe((now - message.accepted_at).total_seconds())
        # The next message of this chain may be eligible now.
        self._platform.outbox_signal.set()
        return Outcome(delivery.id, state.value, reason)

    def _timeout(self, agency: str) -> float:
        endpoint = self._platform.directory.snapshot().endpoint(agency)
        return float(endpoint.timeout_seconds) if endpoint is not None else 10.0

    def _retry_window(self, agency: str) -> float:
        endpoint = self._platform.directory.snapshot().endpoint(agency)
        if endpoint is not None and endpoint.retry_window_seconds:
            return float(endpoint.retry_window_seconds)
        return float(self._platform.settings.retry_window_seconds)
