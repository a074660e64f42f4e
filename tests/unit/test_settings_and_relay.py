"""Settings safety, the transport registry, backoff and the circuit breaker."""

from __future__ import annotations

import time

import pytest

from lgsp.kit.errors import SettingsError
from lgsp.mediation.breaker import CircuitBreaker
from lgsp.relay.delivery import backoff_seconds
from lgsp.relay.transport import transport_class
from lgsp.settings import InsecureSettingsError, Settings


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(InsecureSettingsError, match="LGSP_SECRET_KEY"):
        Settings(env="production")
    with pytest.raises(InsecureSettingsError, match="32 characters"):
        Settings(env="production", secret_key="short")
    ok = Settings(env="production", secret_key="x" * 40)
    assert ok.transport == "embedded" and ok.run_workers_inprocess


def test_broker_url_selects_amqp_and_moves_workers_out_of_the_api() -> None:
    s = Settings(broker_url="amqp://guest:guest@127.0.0.1:5672/%2F")
    assert s.transport == "amqp" and not s.run_workers_inprocess


def test_unknown_transport_suggests_the_right_name() -> None:
    with pytest.raises(SettingsError, match="did you mean 'amqp'"):
        transport_class("amqb")
    assert transport_class("embedded").__name__ == "EmbeddedTransport"


def test_backoff_grows_is_capped_jittered_and_honours_retry_after() -> None:
    s = Settings(retry_base_seconds=1.0, retry_max_seconds=60.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (5, 16.0), (20, 60.0)]:
        values = [backoff_seconds(s, attempt) for _ in range(200)]
        assert all(ceiling / 2 <= v <= ceiling for v in values)
        assert len({round(v, 6) for v in values}) > 100  # jittered
    assert backoff_seconds(s, 1, retry_after=120.0) == 120.0
    assert backoff_seconds(s, 1, retry_after=10**9) == 3600.0


def test_circuit_breaker_opens_probes_and_closes() -> None:
    breaker = CircuitBreaker(threshold=3, cooldown_seconds=0.2)
    for _ in range(3):
        assert breaker.allow("p") is None
        breaker.failure("p")
    assert breaker.state("p") == "open"
    assert breaker.allow("p") is not None
    time.sleep(0.25)
    assert breaker.allow("p") is None  # the half-open probe
    assert breaker.allow("p") is not None  # only one probe at a time
    breaker.failure("p")
    assert breaker.state("p") == "open"
    time.sleep(0.25)
    assert breaker.allow("p") is None
    breaker.success("p")
    assert breaker.state("p") == "closed" and breaker.allow("p") is None
