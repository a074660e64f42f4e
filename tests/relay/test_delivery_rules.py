"""The rules of delivering one outbox row (lgsp/relay/delivery.py), one attempt at a time: the
envelope the recipient is given, what the attempt's outcome writes on the delivery row and into
the message log (each field of the entry), when a failed attempt is tried again (backoff,
Retry-After, a timed-out request's duration, the retry window and its boundary), the dead-letter
reason, the skips, the metrics, and the sorting of an adapter's unexpected error.

Recipients are real: the in-memory adapter, the REST adapter against small WSGI servers, and an
adapter plug-in installed through the ``lgsp.adapters`` entry point (for wire captures, an
adapter that crashes, an error class of its own, and a timed span)."""

from __future__ import annotations

import importlib
import json
import logging
import random
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from lgsp_adapters.base import Envelope, PermanentError, RetriableError
from lgsp_adapters.memory import store
from lgsp_testkit.servers import serve_wsgi
from prometheus_client import REGISTRY
from sqlalchemy import delete, select, update

from lgsp.deliveries.models import Delivery, DeliveryState
from lgsp.directory.models import Endpoint
from lgsp.exchange.models import Message
from lgsp.kit.db import transaction
from lgsp.kit.timeutil import utcnow
from lgsp.messagelog.models import LogEntry
from lgsp.relay.delivery import (
    Attempt,
    Outcome,
    RetryPolicy,
    backoff_seconds,
    failure_reason,
)
from lgsp.settings import Settings
from tests.relay.conftest import SENDER, TEST_SECRET, RelayWorld

KEY = "H22.39-241203-0007"
CORRELATION_ID = "req-7f3a"

# --- helpers ------------------------------------------------------------------------------------


def _point(world: RelayWorld, agency: str, **columns: Any) -> None:
    """Change the agency's endpoint (a live configuration change) and make the platform see it."""
    with transaction(world.platform.sessions) as session:
        session.execute(update(Endpoint).where(Endpoint.agency_code == agency).values(**columns))
    world.platform.directory.invalidate()


def _one_message(world: RelayWorld, agency: str, **message_columns: Any) -> tuple[str, int]:
    """One message to ``agency`` under the dossier KEY, with a correlation id; (id, delivery)."""
    (message_id,) = world.add_messages(agency, 1, key=lambda _: KEY)
    with transaction(world.platform.sessions) as session:
        session.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(correlation_id=CORRELATION_ID, **message_columns)
        )
        delivery_id = session.scalars(
            select(Delivery.id).where(Delivery.message_id == message_id)
        ).one()
    return message_id, delivery_id


def _row(world: RelayWorld, delivery_id: int) -> Delivery:
    with world.platform.sessions() as session:
        row = session.get(Delivery, delivery_id)
        assert row is not None
        return row


def _message(world: RelayWorld, message_id: str) -> Message:
    with world.platform.sessions() as session:
        message = session.get(Message, message_id)
        assert message is not None
        return message


def _entries(world: RelayWorld, message_id: str) -> list[LogEntry]:
    with world.platform.sessions() as session:
        return list(
            session.scalars(
                select(LogEntry).where(LogEntry.message_id == message_id).order_by(LogEntry.id)
            )
        )


def _columns(entry: LogEntry) -> dict[str, Any]:
    return {
        "kind": entry.kind,
        "actor": entry.actor,
        "agency": entry.agency,
        "message_id": entry.message_id,
        "correlation_key": entry.correlation_key,
        "body_sha256": entry.body_sha256,
    }


def _expected_columns(kind: str, agency: str, message_id: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "actor": "platform",
        "agency": agency,
        "message_id": message_id,
        "correlation_key": KEY,
        "body_sha256": None,
    }


def _without_duration(detail: dict[str, Any]) -> dict[str, Any]:
    assert "duration_ms" in detail
    return {k: v for k, v in detail.items() if k != "duration_ms"}


def _is_a_duration(value: Any, *, at_least: float, at_most: float) -> None:
    """Milliseconds as a float with at most two decimals, within the bounds."""
    assert isinstance(value, float), value
    assert round(value, 2) == value, value
    assert at_least <= value <= at_most, (at_least, value, at_most)


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _metrics() -> dict[str, float]:
    values = {
        outcome: _sample("lgsp_delivery_attempts_total", outcome=outcome)
        for outcome in ("delivered", "retrying", "dead", "held")
    }
    values["latency_count"] = _sample("lgsp_accept_to_delivery_seconds_count")
    values["latency_sum"] = _sample("lgsp_accept_to_delivery_seconds_sum")
    return values


def _delta(before: dict[str, float]) -> dict[str, float]:
    after = _metrics()
    return {name: after[name] - before[name] for name in after}


# --- recipients: small WSGI servers for the REST adapter ------------------------------------------

StartResponse = Callable[..., Any]


def _answer(status: str, body: str, headers: list[tuple[str, str]] | None = None) -> Any:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response(status, [("Content-Type", "text/plain"), *(headers or [])])
        return [body.encode()]

    return app


def _rest(world: RelayWorld, agency: str, url: str, **columns: Any) -> str:
    """Point ``agency`` at the REST adapter on ``url``; the address it posts to."""
    _point(world, agency, adapter="rest", settings={"url": url, "path": "/messages"}, **columns)
    return f"{url}/messages"


# --- an adapter plug-in -------------------------------------------------------------------------

PLUGIN = "deliveryrules"
PLUGIN_MODULE = "lgsp_deliveryrules_plugin"

_PLUGIN_SOURCE = """
import time

from lgsp_adapters.base import (
    Adapter, AdapterSettings, Capture, DeliveryResult, PermanentError, RetriableError,
)

# (start, end) of each deliver() call, perf_counter seconds.
SPANS = []


class Settings(AdapterSettings):
    crash: str | None = None  # raise KeyError(crash): a bug in the plug-in
    reject: bool = False  # refuse permanently, with the exchange captured
    sleep: float = 0.0
    bare_error: bool = False  # raise an error made without the base constructor


class BareThrottle(RetriableError):
    # Written against the contract before Retry-After: sets its fields itself.

    def __init__(self):
        Exception.__init__(self, "throttled")
        self.reason = "throttled"
        self.status_code = 429
        self.reply = None
        self.captures = []


def _captures(envelope):
    return [
        Capture("request", "application/xml", f"<Dossier id=\\"{envelope.message_id}\\"/>"),
        Capture("response", "application/xml", "<Ack code=\\"0\\"/>"),
    ]


class DeliveryRulesAdapter(Adapter):
    name = "deliveryrules"
    Settings = Settings

    def deliver(self, envelope):
        started = time.perf_counter()
        if self.settings.sleep:
            time.sleep(self.settings.sleep)
        if self.settings.bare_error:
            raise BareThrottle()
        if self.settings.crash is not None:
            raise KeyError(self.settings.crash)
        if self.settings.reject:
            raise PermanentError(
                "dossier refused", status_code=422, reply="<Ack code=\\"9\\"/>",
                captures=_captures(envelope)[:1],
            )
        SPANS.append((started, time.perf_counter()))
        return DeliveryResult(status_code=201, reply="<Ack/>", captures=_captures(envelope))
"""


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[Any]:
    """The plug-in, installed as a distribution with an ``lgsp.adapters`` entry point; its
    module once loaded."""
    root = tmp_path / "site"
    root.mkdir()
    (root / f"{PLUGIN_MODULE}.py").write_text(_PLUGIN_SOURCE, encoding="utf-8")
    info = root / f"{PLUGIN_MODULE}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: lgsp-deliveryrules-plugin\nVersion: 0.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[lgsp.adapters]\n{PLUGIN} = {PLUGIN_MODULE}:DeliveryRulesAdapter\n", encoding="utf-8"
    )
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    try:
        yield lambda: sys.modules[PLUGIN_MODULE]
    finally:
        sys.path.remove(str(root))
        sys.modules.pop(PLUGIN_MODULE, None)
        importlib.invalidate_caches()


# --- a delivered attempt, after a failed one ------------------------------------------------------


def test_each_attempt_is_recorded_logged_and_counted_and_the_recipient_gets_the_envelope(
    relay_world: Callable[..., RelayWorld],
) -> None:
    world = relay_world()
    agency = world.agency("cycle", fail_first=1)
    message_id, delivery_id = _one_message(world, agency)
    message = _message(world, message_id)
    processor = world.processor()
    metrics = _metrics()

    # Attempt 1: the recipient is unavailable (503, no reply): retried after the backoff.
    before = utcnow()
    assert processor.process(delivery_id) == Outcome(
        delivery_id, "retrying", "recipient unavailable (simulated)"
    )
    after = utcnow()
    row = _row(world, delivery_id)
    assert (row.state, row.attempts, row.last_status_code, row.last_error, row.finished_at) == (
        DeliveryState.RETRYING,
        1,
        503,
        "recipient unavailable (simulated)",
        None,
    )
    # Backoff of attempt 1: retry_base_seconds (0.02) spread over its upper half.
    assert before + timedelta(seconds=0.01) <= row.next_attempt_at
    assert row.next_attempt_at <= after + timedelta(seconds=0.02)
    (failed,) = _entries(world, message_id)
    assert _columns(failed) == _expected_columns("delivery.failed", agency, message_id)
    assert before <= failed.at <= after
    assert _without_duration(failed.detail) == {
        "recipient": agency,
        "attempt": 1,
        "status_code": 503,
        "reply": None,
        "error": "recipient unavailable (simulated)",
        "next_attempt_at": row.next_attempt_at.isoformat(),
    }
    _is_a_duration(
        failed.detail["duration_ms"],
        at_least=0.0,
        at_most=(after - before).total_seconds() * 1000,
    )
    assert _delta(metrics) == {
        "delivered": 0,
        "retrying": 1,
        "dead": 0,
        "held": 0,
        "latency_count": 0,
        "latency_sum": 0,
    }
    assert store.delivered(agency) == []

    # Attempt 2 (the relay offers it when due; process does not look at the time): delivered.
    metrics = _metrics()
    before = utcnow()
    assert processor.process(delivery_id) == Outcome(delivery_id, "delivered", None)
    after = utcnow()
    row = _row(world, delivery_id)
    assert (row.state, row.attempts, row.last_status_code, row.last_error) == (
        DeliveryState.DELIVERED,
        2,
        200,
        None,
    )
    assert row.finished_at is not None and before <= row.finished_at <= after
    failed_again, delivered = _entries(world, message_id)
    assert failed_again.id == failed.id
    assert _columns(delivered) == _expected_columns("delivery.delivered", agency, message_id)
    # The entry is stamped with the outcome's time, the one on the row.
    assert delivered.at == row.finished_at
    assert _without_duration(delivered.detail) == {
        "recipient": agency,
        "attempt": 2,
        "status_code": 200,
        "reply": json.dumps({"received": message_id}, separators=(",", ":")),
    }
    _is_a_duration(
        delivered.detail["duration_ms"],
        at_least=0.0,
        at_most=(after - before).total_seconds() * 1000,
    )
    latency = (row.finished_at - message.accepted_at).total_seconds()
    assert latency > 0
    change = _delta(metrics)
    assert change.pop("latency_sum") == pytest.approx(latency, abs=1e-6)
    assert change == {
        "delivered": 1,
        "retrying": 0,
        "dead": 0,
        "held": 0,
        "latency_count": 1,
    }

    # What the recipient was given: every field of the message, and the attempt's number.
    assert store.delivered(agency) == [
        Envelope(
            message_id=message_id,
            type="test.notice",
            sender=SENDER,
            recipient=agency,
            payload={"index": 0},
            accepted_at=message.accepted_at,
            correlation_id=CORRELATION_ID,
            correlation_key=KEY,
            attempt=2,
        )
    ]


def test_a_message_whose_body_was_purged_is_sent_with_an_empty_payload(
    relay_world: Callable[..., RelayWorld],
) -> None:
    """Retention drops the bodies of finished messages; a replayed one goes out with ``{}``."""
    world = relay_world()
    agency = world.agency("purged")
    message_id, delivery_id = _one_message(world, agency, payload=None)
    assert world.processor().process(delivery_id) == Outcome(delivery_id, "delivered", None)
    (envelope,) = store.delivered(agency)
    assert (envelope.message_id, envelope.payload, envelope.attempt) == (message_id, {}, 1)


def test_duration_is_the_adapter_call_in_milliseconds_with_two_decimals(
    relay_world: Callable[..., RelayWorld], plugin: Callable[[], Any]
) -> None:
    """``duration_ms`` times the adapter call itself: the plug-in's own span (perf_counter) is
    inside it, and only the adapter pool's look-up around it is added."""
    world = relay_world()
    agency = world.agency("timed")
    _point(world, agency, adapter=PLUGIN, settings={"sleep": 0.6})
    world.platform.adapters.get(agency)  # built now, not inside the first attempt's span
    deliveries = [_one_message(world, agency) for _ in range(5)]
    processor = world.processor()
    overheads = []
    for message_id, delivery_id in deliveries:
        assert processor.process(delivery_id).state == "delivered"
        started, ended = plugin().SPANS[-1]
        inner = (ended - started) * 1000
        (entry,) = _entries(world, message_id)
        duration = entry.detail["duration_ms"]
        _is_a_duration(duration, at_least=600.0, at_most=5000.0)
        overheads.append(duration - inner)
    # Rounded to 0.01 ms, so a little under the span is possible. The look-up takes about
    # 0.15 ms (more when the machine is busy: the least of five is taken); a factor of 1.001 on
    # the duration would add 0.6 ms to every attempt.
    assert min(overheads) >= -0.01, overheads
    assert min(overheads) < 0.45, overheads


# --- captures and an adapter's unexpected error -------------------------------------------------


def test_the_wire_captures_are_logged_with_the_attempt(
    relay_world: Callable[..., RelayWorld], plugin: Callable[[], Any]
) -> None:
    world = relay_world()
    accepting, refusing = world.agency("capturing"), world.agency("refusing")
    _point(world, accepting, adapter=PLUGIN, settings={})
    _point(world, refusing, adapter=PLUGIN, settings={"reject": True})
    accepted_id, accepted = _one_message(world, accepting)
    refused_id, refused = _one_message(world, refusing)
    processor = world.processor()

    assert processor.process(accepted) == Outcome(accepted, "delivered", None)
    (entry,) = _entries(world, accepted_id)
    assert _without_duration(entry.detail) == {
        "recipient": accepting,
        "attempt": 1,
        "status_code": 201,
        "reply": "<Ack/>",
        "captures": [
            {
                "direction": "request",
                "content_type": "application/xml",
                "body": f'<Dossier id="{accepted_id}"/>',
            },
            {"direction": "response", "content_type": "application/xml", "body": '<Ack code="0"/>'},
        ],
    }

    reason = 'dossier refused: <Ack code="9"/>'
    assert processor.process(refused) == Outcome(refused, "dead", reason)
    row = _row(world, refused)
    assert (row.state, row.attempts, row.last_status_code, row.last_error) == (
        DeliveryState.DEAD,
        1,
        422,
        reason,
    )
    (entry,) = _entries(world, refused_id)
    assert _columns(entry) == _expected_columns("delivery.dead", refusing, refused_id)
    assert entry.at == row.finished_at
    assert _without_duration(entry.detail) == {
        "recipient": refusing,
        "attempt": 1,
        "status_code": 422,
        "reply": '<Ack code="9"/>',
        "captures": [
            {
                "direction": "request",
                "content_type": "application/xml",
                "body": f'<Dossier id="{refused_id}"/>',
            }
        ],
        "error": reason,
        "permanent": True,
    }


def test_an_adapter_crashing_dead_letters_the_delivery_and_is_logged(
    relay_world: Callable[..., RelayWorld],
    plugin: Callable[[], Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An exception outside the adapter contract is the adapter's bug: a permanent failure
    naming the exception, with nothing from the recipient, and the traceback in the process
    log."""
    world = relay_world()
    agency = world.agency("crashing")
    _point(world, agency, adapter=PLUGIN, settings={"crash": "Dossier"})
    message_id, delivery_id = _one_message(world, agency)
    metrics = _metrics()

    with caplog.at_level(logging.ERROR, logger="lgsp.delivery"):
        outcome = world.processor().process(delivery_id)

    reason = "adapter failure: KeyError: 'Dossier'"
    assert outcome == Outcome(delivery_id, "dead", reason)
    row = _row(world, delivery_id)
    assert (row.state, row.attempts, row.last_status_code, row.last_error) == (
        DeliveryState.DEAD,
        1,
        None,
        reason,
    )
    (entry,) = _entries(world, message_id)
    assert _columns(entry) == _expected_columns("delivery.dead", agency, message_id)
    assert _without_duration(entry.detail) == {
        "recipient": agency,
        "attempt": 1,
        "status_code": None,
        "reply": None,
        "error": reason,
        "permanent": True,
    }
    (record,) = [r for r in caplog.records if r.name == "lgsp.delivery"]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == f"adapter for {agency} raised an unexpected error"
    assert record.exc_info is not None and record.exc_info[0] is KeyError
    assert _delta(metrics)["dead"] == 1


# --- when a failed attempt is tried again ------------------------------------------------------


def test_retry_after_is_a_floor_and_the_recipients_answer_is_the_reason(
    relay_world: Callable[..., RelayWorld],
) -> None:
    world = relay_world()
    agency = world.agency("maintenance")
    page = "Hệ thống đang bảo trì đến 14:00. " * 15  # a long maintenance page
    app = _answer("503 Service Unavailable", page, [("Retry-After", "30")])
    with serve_wsgi(app) as url:
        address = _rest(world, agency, url)
        message_id, delivery_id = _one_message(world, agency)
        before = utcnow()
        outcome = world.processor().process(delivery_id)
        after = utcnow()

    # What the recipient said is in the reason, cut at 300 characters.
    reason = f"{address} answered HTTP 503: {page[:300]}"
    assert len(page) > 300
    assert outcome == Outcome(delivery_id, "retrying", reason)
    row = _row(world, delivery_id)
    assert (row.state, row.attempts, row.last_status_code, row.last_error) == (
        DeliveryState.RETRYING,
        1,
        503,
        reason,
    )
    # 30 s asked for, far over the backoff (0.02 s): exactly 30 s after the attempt ended.
    assert before + timedelta(seconds=30) <= row.next_attempt_at <= after + timedelta(seconds=30)
    (entry,) = _entries(world, message_id)
    assert _columns(entry) == _expected_columns("delivery.failed", agency, message_id)
    assert entry.at == row.next_attempt_at - timedelta(seconds=30)
    assert _without_duration(entry.detail) == {
        "recipient": agency,
        "attempt": 1,
        "status_code": 503,
        "reply": page,
        "error": reason,
        "next_attempt_at": row.next_attempt_at.isoformat(),
    }


def _stalling(seconds: float, before_stall: Callable[[], None]) -> Any:
    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        before_stall()
        time.sleep(seconds)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    return app


def test_an_adapter_error_without_retry_after_is_retried_on_the_backoff(
    relay_world: Callable[..., RelayWorld], plugin: Callable[[], Any]
) -> None:
    """A plug-in's error class that sets its fields itself, as the contract had them before
    Retry-After, has no ``retry_after``: it is retried on the plain backoff."""
    world = relay_world()
    agency = world.agency("oldplugin")
    _point(world, agency, adapter=PLUGIN, settings={"bare_error": True})
    _, delivery_id = _one_message(world, agency)
    before = utcnow()
    assert world.processor().process(delivery_id) == Outcome(delivery_id, "retrying", "throttled")
    after = utcnow()
    row = _row(world, delivery_id)
    assert (row.attempts, row.last_status_code) == (1, 429)
    assert before + timedelta(seconds=0.01) <= row.next_attempt_at
    assert row.next_attempt_at <= after + timedelta(seconds=0.02)


def test_a_timed_out_request_is_not_retried_before_it_could_have_finished(
    relay_world: Callable[..., RelayWorld],
) -> None:
    """The endpoint's timeout (0.5 s) is the floor of the wait, not the platform's default."""
    world = relay_world()
    agency = world.agency("slow")
    with serve_wsgi(_stalling(2.0, lambda: None)) as url:
        _rest(world, agency, url, timeout_seconds=0.5)
        message_id, delivery_id = _one_message(world, agency)
        before = utcnow()
        outcome = world.processor().process(delivery_id)
        after = utcnow()

    assert outcome.state == "retrying" and "did not answer" in (outcome.reason or "")
    row = _row(world, delivery_id)
    assert before + timedelta(seconds=0.5) <= row.next_attempt_at <= after + timedelta(seconds=0.5)
    (entry,) = _entries(world, message_id)
    assert entry.at == row.next_attempt_at - timedelta(seconds=0.5)
    assert entry.detail["next_attempt_at"] == row.next_attempt_at.isoformat()
    assert (entry.detail["status_code"], entry.detail["reply"]) == (None, None)


def test_a_timeout_whose_endpoint_was_removed_meanwhile_waits_the_default_ten_seconds(
    relay_world: Callable[..., RelayWorld],
) -> None:
    """The endpoint is removed by a configuration change while its request hangs: the wait is
    the default timeout (10 s), and the platform's retry window applies (the endpoint's 5 s
    would have dead-lettered a 10 s wait)."""
    world = relay_world()
    agency = world.agency("removed")

    def remove_endpoint() -> None:
        with transaction(world.platform.sessions) as session:
            session.execute(delete(Endpoint).where(Endpoint.agency_code == agency))
        world.platform.directory.invalidate()

    with serve_wsgi(_stalling(2.0, remove_endpoint)) as url:
        _rest(world, agency, url, timeout_seconds=0.5, retry_window_seconds=5)
        message_id, delivery_id = _one_message(world, agency)
        outcome = world.processor().process(delivery_id)

    assert outcome.state == "retrying"
    assert world.platform.directory.snapshot().endpoint(agency) is None
    row = _row(world, delivery_id)
    (entry,) = _entries(world, message_id)
    assert row.next_attempt_at - entry.at == timedelta(seconds=10)


def test_the_endpoints_retry_window_dead_letters_with_retries_exhausted(
    relay_world: Callable[..., RelayWorld],
) -> None:
    """A retry due after the endpoint's window (20 s; the platform's is a day) is not made: the
    delivery is dead, its reason says why and what the recipient last answered."""
    world = relay_world()
    agency = world.agency("closing")
    app = _answer("503 Service Unavailable", "closed for the day", [("Retry-After", "30")])
    with serve_wsgi(app) as url:
        address = _rest(world, agency, url, retry_window_seconds=20)
        message_id, delivery_id = _one_message(world, agency)
        metrics = _metrics()
        outcome = world.processor().process(delivery_id)

    reason = f"retries exhausted after 1 attempts: {address} answered HTTP 503: closed for the day"
    assert outcome == Outcome(delivery_id, "dead", reason)
    row = _row(world, delivery_id)
    assert (row.state, row.attempts, row.last_status_code, row.last_error) == (
        DeliveryState.DEAD,
        1,
        503,
        reason,
    )
    (entry,) = _entries(world, message_id)
    assert _columns(entry) == _expected_columns("delivery.dead", agency, message_id)
    assert row.finished_at is not None and entry.at == row.finished_at
    assert _without_duration(entry.detail) == {
        "recipient": agency,
        "attempt": 1,
        "status_code": 503,
        "reply": "closed for the day",
        "error": reason,
        "permanent": False,
    }
    change = _delta(metrics)
    assert (change["dead"], change["retrying"], change["latency_count"]) == (1, 0, 0)


def test_a_permanent_refusal_is_dead_at_once_without_retries_exhausted(
    relay_world: Callable[..., RelayWorld],
) -> None:
    world = relay_world()
    agency = world.agency("rejecting", reject=True)
    message_id, delivery_id = _one_message(world, agency)
    reason = "recipient rejected the message (simulated)"
    assert world.processor().process(delivery_id) == Outcome(delivery_id, "dead", reason)
    row = _row(world, delivery_id)
    assert (row.state, row.attempts, row.last_status_code, row.last_error) == (
        DeliveryState.DEAD,
        1,
        422,
        reason,
    )
    (entry,) = _entries(world, message_id)
    assert _without_duration(entry.detail) == {
        "recipient": agency,
        "attempt": 1,
        "status_code": 422,
        "reply": None,
        "error": reason,
        "permanent": True,
    }


def test_a_retry_due_exactly_at_the_end_of_the_window_is_still_made(
    relay_world: Callable[..., RelayWorld],
) -> None:
    """The window includes its end: due exactly at created_at + window, retried; a microsecond
    later, dead."""
    world = relay_world()
    agency = world.agency("boundary")
    _point(world, agency, retry_window_seconds=60)
    _, delivery_id = _one_message(world, agency)
    policy = RetryPolicy(world.platform.settings, world.platform.directory)
    error = RetriableError("busy", status_code=429, retry_after=30)
    attempt = Attempt(1, error, 429, None, [], 1.0)
    now = utcnow()
    delivery = _row(world, delivery_id)

    delivery.created_at = now - timedelta(seconds=30)  # the retry is due at its window's end
    outcome = policy.decide(delivery, attempt, now)
    assert outcome.state == DeliveryState.RETRYING
    assert outcome.next_attempt_at == delivery.created_at + timedelta(seconds=60)

    delivery.created_at = now - timedelta(seconds=30, microseconds=1)
    outcome = policy.decide(delivery, attempt, now)
    assert outcome.state == DeliveryState.DEAD
    assert outcome.error == "retries exhausted after 1 attempts: busy"


def test_backoff_is_spread_over_the_upper_half_of_its_ceiling() -> None:
    settings = Settings(
        env="test",
        secret_key=TEST_SECRET,
        retry_base_seconds=1.0,
        retry_max_seconds=600.0,
    )
    rng = random.getstate()
    random.seed(20261203)
    try:
        delays = [backoff_seconds(settings, 4) for _ in range(400)]  # ceiling 2^3 = 8 s
    finally:
        random.setstate(rng)
    assert all(4.0 <= d <= 8.0 for d in delays)
    # The whole upper half is used, its top quarter included.
    assert min(delays) < 4.2
    assert max(delays) > 7.8
    assert sum(d > 6.0 for d in delays) > 100


def test_the_reply_is_added_to_the_reason_unless_the_reason_already_quotes_it() -> None:
    reply = "Mã hồ sơ không hợp lệ: " + "0123456789" * 30  # 323 characters
    # An adapter that quotes the reply's first 80 characters in its reason: not repeated.
    quoted = PermanentError(f"HTTP 400: {reply[:80]}", status_code=400, reply=reply)
    assert failure_reason(quoted) == f"HTTP 400: {reply[:80]}"
    # One that does not: the reply, cut at 300 characters, is added.
    plain = PermanentError("HTTP 400", status_code=400, reply=reply)
    assert failure_reason(plain) == f"HTTP 400: {reply[:300]}"
    assert failure_reason(PermanentError("HTTP 400", status_code=400)) == "HTTP 400"


# --- held deliveries -----------------------------------------------------------------------------


def test_a_held_delivery_is_logged_once_when_the_hold_starts(
    relay_world: Callable[..., RelayWorld],
) -> None:
    world = relay_world(adapter_hold_seconds=45.0)
    agency = world.agency("unbuilt")
    _point(world, agency, adapter="nosuchadapter")
    message_id, delivery_id = _one_message(world, agency)
    processor = world.processor()
    metrics = _metrics()

    outcome = processor.process(delivery_id)
    assert outcome.state == "retrying"
    assert outcome.reason is not None and outcome.reason.startswith(
        "held: unknown adapter 'nosuchadapter'"
    )
    row = _row(world, delivery_id)
    assert (row.state, row.attempts, row.last_error) == (
        DeliveryState.RETRYING,
        0,
        outcome.reason,
    )
    (entry,) = _entries(world, message_id)
    assert _columns(entry) == _expected_columns("delivery.held", agency, message_id)
    assert entry.at == row.next_attempt_at - timedelta(seconds=45)
    assert entry.detail == {
        "recipient": agency,
        "reason": outcome.reason,
        "next_attempt_at": row.next_attempt_at.isoformat(),
    }

    # Still held at the next try: not logged again.
    assert processor.process(delivery_id) == outcome
    assert [e.id for e in _entries(world, message_id)] == [entry.id]
    assert _delta(metrics) == {
        "delivered": 0,
        "retrying": 0,
        "dead": 0,
        "held": 2,
        "latency_count": 0,
        "latency_sum": 0,
    }


# --- skips ---------------------------------------------------------------------------------------


def test_a_delivery_that_is_gone_or_finished_is_skipped_untouched(
    relay_world: Callable[..., RelayWorld],
) -> None:
    world = relay_world()
    agency = world.agency("skips")
    message_id, delivery_id = _one_message(world, agency)
    processor = world.processor()

    assert processor.process(delivery_id + 1000) == Outcome(
        delivery_id + 1000, "skipped", "no such delivery"
    )
    for final in (DeliveryState.DELIVERED, DeliveryState.DEAD):
        with transaction(world.platform.sessions) as session:
            session.execute(
                update(Delivery).where(Delivery.id == delivery_id).values(state=final.value)
            )
        assert processor.process(delivery_id) == Outcome(
            delivery_id, "skipped", f"already {final.value}"
        )
    assert store.attempts(agency) == 0
    assert _entries(world, message_id) == []


def test_an_attempt_finished_elsewhere_meanwhile_is_skipped(
    relay_world: Callable[..., RelayWorld],
) -> None:
    """While the request is under way another worker finishes the row (an expired lease taken
    over): this attempt's outcome is not recorded."""
    world = relay_world()
    agency = world.agency("raced")
    holder: dict[str, int] = {}

    def finish_elsewhere(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        with transaction(world.platform.sessions) as session:
            session.execute(
                update(Delivery)
                .where(Delivery.id == holder["id"])
                .values(state=DeliveryState.DELIVERED.value, attempts=3, finished_at=utcnow())
            )
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
        return [b"busy"]

    with serve_wsgi(finish_elsewhere) as url:
        _rest(world, agency, url)
        message_id, holder["id"] = _one_message(world, agency)
        outcome = world.processor().process(holder["id"])

    assert outcome == Outcome(holder["id"], "skipped", "finished elsewhere meanwhile")
    row = _row(world, holder["id"])
    assert (row.state, row.attempts, row.last_error) == (DeliveryState.DELIVERED, 3, None)
    assert _entries(world, message_id) == []


def test_a_broker_copy_of_an_attempt_already_made_is_skipped_untouched(
    relay_world: Callable[..., RelayWorld],
) -> None:
    """A broker message names the attempt it was published for: once the row's counter has
    reached it, the copy is skipped without calling the adapter, writing or logging anything."""
    world = relay_world()
    agency = world.agency("copies", fail_first=1)
    message_id, delivery_id = _one_message(world, agency)
    processor = world.processor()

    assert processor.process(delivery_id, broker_attempt=1) == Outcome(
        delivery_id, "retrying", "recipient unavailable (simulated)"
    )
    row = _row(world, delivery_id)
    entries = [e.id for e in _entries(world, message_id)]
    # Attempt 1 again (the same publish redelivered), and an older one: skipped.
    for copy in (1, 0):
        assert processor.process(delivery_id, broker_attempt=copy) == Outcome(
            delivery_id, "skipped", f"attempt {copy} already made"
        )
    assert store.attempts(agency) == 1
    after = _row(world, delivery_id)
    assert (after.state, after.attempts, after.next_attempt_at, after.last_error) == (
        row.state,
        1,
        row.next_attempt_at,
        row.last_error,
    )
    assert [e.id for e in _entries(world, message_id)] == entries

    # The attempt the row expects next is made.
    assert processor.process(delivery_id, broker_attempt=2) == Outcome(
        delivery_id, "delivered", None
    )
    assert store.attempts(agency) == 2
    assert [e.attempt for e in store.delivered(agency)] == [2]
