"""Delivering one outbox row: call the recipient's adapter, decide what next, record the attempt.

Shared by every transport. ``DeliveryProcessor.process`` runs named steps: load the row, attempt
(the adapter call), decide (the retry policy), record (the deliveries owner's guarded outcome
and the log entry in one commit), observe (metrics, waking the relay). The outcome is written
only while the row is still open, so a duplicate (a redelivered broker message, an expired lease
taken over by another worker) never turns a final state back into an open one.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from lgsp_adapters.base import AdapterError, Capture, Envelope, PermanentError, UpstreamTimeout
from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from lgsp.adapterpool import AdapterPool, AdapterUnavailable
from lgsp.deliveries import service as deliveries
from lgsp.deliveries.models import OPEN_STATES, Delivery, DeliveryState
from lgsp.deliveries.service import AttemptOutcome
from lgsp.directory.repository import DirectoryCache
from lgsp.exchange import repository as messages
from lgsp.exchange.models import Message
from lgsp.kit import jsonutil
from lgsp.kit.groupcommit import GroupCommitter
from lgsp.kit.timeutil import utcnow
from lgsp.messagelog.models import LogEntry
from lgsp.messagelog.service import entry_values
from lgsp.observability import DELIVERY_LATENCY, DELIVERY_OUTCOMES
from lgsp.platform import Platform
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


# The reason of a skipped outcome whose attempt was made but found the row finished by another
# worker when recording it (the other skips are copies that never reached the adapter).
FINISHED_ELSEWHERE = "finished elsewhere meanwhile"


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    state: str  # delivered, retrying, dead, skipped
    reason: str | None = None


@dataclass(frozen=True)
class Attempt:
    """What the adapter call gave: an error (None on success), what the recipient answered, the
    wire captures and how long it took."""

    number: int
    error: AdapterError | None
    status_code: int | None
    reply: str | None
    captures: list[Capture]
    duration_ms: float


def _captures(captures: list[Capture]) -> list[dict[str, Any]]:
    return [c.to_log() for c in captures]


class RetryPolicy:
    """Whether a failed attempt is retried and when: backoff within the recipient's retry
    window (its endpoint's, else the platform's), never sooner than a timed-out request could
    still be running."""

    def __init__(self, settings: Settings, directory: DirectoryCache) -> None:
        self._settings = settings
        self._directory = directory

    def decide(self, delivery: Delivery, attempt: Attempt, now: datetime) -> AttemptOutcome:
        error = attempt.error
        if error is None:
            return AttemptOutcome.delivered(
                attempts=attempt.number, status_code=attempt.status_code, at=now
            )
        if isinstance(error, AdapterUnavailable):
            return AttemptOutcome.hold(
                attempts=delivery.attempts,
                error=error.reason,
                at=now,
                next_attempt_at=now + timedelta(seconds=self._settings.adapter_hold_seconds),
            )
        reason = failure_reason(error)
        wait = getattr(error, "retry_after", None)
        if isinstance(error, UpstreamTimeout):
            # A request that timed out may still be running at the recipient; retrying before
            # it could have finished invites the two to race.
            wait = max(wait or 0.0, self._timeout(delivery.recipient))
        next_at = now + timedelta(seconds=backoff_seconds(self._settings, attempt.number, wait))
        window = timedelta(seconds=self._retry_window(delivery.recipient))
        if error.retriable and next_at <= delivery.created_at + window:
            return AttemptOutcome.retry(
                attempts=attempt.number,
                status_code=attempt.status_code,
                error=reason,
                at=now,
                next_attempt_at=next_at,
            )
        if error.retriable:
            reason = f"retries exhausted after {attempt.number} attempts: {reason}"
        return AttemptOutcome.dead_letter(
            attempts=attempt.number, status_code=attempt.status_code, error=reason, at=now
        )

    def _timeout(self, agency: str) -> float:
        endpoint = self._directory.snapshot().endpoint(agency)
        return float(endpoint.timeout_seconds) if endpoint is not None else 10.0

    def _retry_window(self, agency: str) -> float:
        endpoint = self._directory.snapshot().endpoint(agency)
        if endpoint is not None and endpoint.retry_window_seconds:
            return float(endpoint.retry_window_seconds)
        return float(self._settings.retry_window_seconds)


def failure_reason(error: AdapterError) -> str:
    reason = str(error.reason)
    if error.reply and error.reply[:80] not in reason:
        # What the recipient said is what the sender needs to see on a dead letter.
        reason = f"{reason}: {error.reply[:300]}"
    return reason


_LOG_KINDS = {
    DeliveryState.DELIVERED: "delivery.delivered",
    DeliveryState.RETRYING: "delivery.failed",
    DeliveryState.DEAD: "delivery.dead",
}


def log_entry(
    delivery: Delivery, message: Message, attempt: Attempt, outcome: AttemptOutcome
) -> dict[str, Any] | None:
    """The message log entry of one attempt; None for a hold that continues one already logged
    (a held delivery is logged when it starts being held, not at every try)."""
    if outcome.held:
        if delivery.last_error == outcome.error:
            return None
        assert outcome.next_attempt_at is not None
        return entry_values(
            "delivery.held",
            actor="platform",
            agency=delivery.recipient,
            message_id=message.id,
            correlation_key=message.correlation_key,
            detail={
                "recipient": delivery.recipient,
                "reason": outcome.error,
                "next_attempt_at": outcome.next_attempt_at.isoformat(),
            },
            at=outcome.at,
        )
    detail: dict[str, Any] = {
        "recipient": delivery.recipient,
        "attempt": attempt.number,
        "status_code": attempt.status_code,
        "duration_ms": attempt.duration_ms,
        "reply": attempt.reply,
    }
    if attempt.captures:
        detail["captures"] = _captures(attempt.captures)
    if attempt.error is not None:
        detail["error"] = outcome.error
        if outcome.state == DeliveryState.RETRYING:
            assert outcome.next_attempt_at is not None
            detail["next_attempt_at"] = outcome.next_attempt_at.isoformat()
        else:
            detail["permanent"] = not attempt.error.retriable
    return entry_values(
        _LOG_KINDS[outcome.state],
        actor="platform",
        agency=delivery.recipient,
        message_id=message.id,
        correlation_key=message.correlation_key,
        detail=detail,
        at=outcome.at,
    )


# A Core INSERT of the table, built once (the ORM's bulk insert path cost more than the row).
_LOG_ENTRY_INSERT = insert(cast(Table, LogEntry.__table__))


def record(
    writer: GroupCommitter,
    delivery_id: int,
    outcome: AttemptOutcome,
    entry: dict[str, Any] | None,
) -> bool:
    """Write the outcome (only if the row is still open) and its log entry in one commit shared
    with the other deliveries finishing now (group commit); False if it was finished elsewhere
    meanwhile, and then nothing is written."""

    def work(session: Session) -> bool:
        if not deliveries.record_outcome(session, delivery_id, outcome):
            return False
        if entry is not None:
            session.connection().execute(_LOG_ENTRY_INSERT, [entry])
        return True

    return bool(writer.run(work))


class DeliveryProcessor:
    def __init__(self, platform: Platform, adapters: AdapterPool) -> None:
        self._platform = platform
        self._adapters = adapters
        self._policy = RetryPolicy(platform.settings, platform.directory)

    def process(self, delivery_id: int, *, broker_attempt: int | None = None) -> Outcome:
        """Make the next attempt of ``delivery_id``. ``broker_attempt``: the attempt a broker
        message carries; a copy of an attempt already made (the row's counter has reached it) is
        skipped without calling the adapter."""
        loaded = self._load(delivery_id)
        if loaded is None:
            return Outcome(delivery_id, "skipped", "no such delivery")
        delivery, message = loaded
        if delivery.state not in OPEN_STATES:
            return Outcome(delivery_id, "skipped", f"already {delivery.state}")
        if broker_attempt is not None and delivery.attempts >= broker_attempt:
            return Outcome(delivery_id, "skipped", f"attempt {broker_attempt} already made")
        attempt = self._attempt(delivery, message)
        outcome = self._policy.decide(delivery, attempt, utcnow())
        entry = log_entry(delivery, message, attempt, outcome)
        if not record(self._platform.writer, delivery.id, outcome, entry):
            return Outcome(delivery.id, "skipped", FINISHED_ELSEWHERE)
        self._observe(message, outcome)
        return Outcome(delivery.id, outcome.state.value, outcome.error)

    def _load(self, delivery_id: int) -> tuple[Delivery, Message] | None:
        with self._platform.sessions() as session:
            return messages.delivery_with_message(session, delivery_id)

    def _attempt(self, delivery: Delivery, message: Message) -> Attempt:
        number = delivery.attempts + 1
        envelope = Envelope(
            message_id=message.id,
            type=message.type,
            sender=message.sender,
            recipient=delivery.recipient,
            payload=jsonutil.loads(message.payload) if message.payload else {},
            accepted_at=message.accepted_at,
            correlation_id=message.correlation_id,
            correlation_key=message.correlation_key,
            attempt=number,
        )
        started = time.perf_counter()
        error: AdapterError | None = None
        status_code: int | None = None
        reply: str | None = None
        captures: list[Capture] = []
        try:
            result = self._adapters.get(delivery.recipient).deliver(envelope)
            status_code, reply, captures = result.status_code, result.reply, result.captures
        except AdapterError as exc:
            error = exc
            status_code, reply, captures = exc.status_code, exc.reply, exc.captures
        except Exception as exc:
            log.exception("adapter for %s raised an unexpected error", delivery.recipient)
            error = PermanentError(f"adapter failure: {type(exc).__name__}: {exc}")
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        return Attempt(number, error, status_code, reply, captures, duration_ms)

    def _observe(self, message: Message, outcome: AttemptOutcome) -> None:
        DELIVERY_OUTCOMES.labels("held" if outcome.held else outcome.state.value).inc()
        if outcome.state == DeliveryState.DELIVERED:
            DELIVERY_LATENCY.observe((outcome.at - message.accepted_at).total_seconds())
        # The next message of this chain may be eligible now.
        self._platform.outbox_signal.set()
