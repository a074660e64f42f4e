"""The token bucket itself, in process and in Redis: a burst passes, the next request waits
for the refill and is told how long, the bucket refills, and buckets are independent."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator

import pytest

from lgsp.kit.ratelimit import Buckets, MemoryBuckets, Rate, RedisBuckets
from tests.support.services import require

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["memory", "redis"])
def buckets(request: pytest.FixtureRequest) -> Iterator[Buckets]:
    if request.param == "memory":
        yield MemoryBuckets()
        return
    require("redis")  # skipped on a machine without Redis, a failure in CI
    shared = RedisBuckets(REDIS_URL, prefix=f"lgsp-test-{secrets.token_hex(6)}")
    yield shared
    shared.close()


def test_a_burst_passes_then_the_bucket_refills_at_its_rate(buckets: Buckets) -> None:
    rate = Rate(per_second=2, burst=3)
    assert [buckets.take("k", rate) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = buckets.take("k", rate)
    assert 0 < wait <= 1 / rate.per_second + 0.01
    assert buckets.take("other", rate) == 0.0  # buckets are independent
    time.sleep(wait + 0.02)
    assert buckets.take("k", rate) == 0.0
    assert buckets.take("k", rate) > 0  # one request refilled, not the whole burst


def test_a_refused_request_takes_nothing(buckets: Buckets) -> None:
    rate = Rate(per_second=1, burst=1)
    assert buckets.take("k", rate) == 0.0
    first = buckets.take("k", rate)
    for _ in range(20):
        assert buckets.take("k", rate) > 0
    # Refusals did not push the next allowed moment further out.
    time.sleep(first + 0.02)
    assert buckets.take("k", rate) == 0.0


def test_an_unreachable_redis_lets_requests_pass_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="lgsp.ratelimit")
    unreachable = RedisBuckets("redis://127.0.0.1:1/0", timeout=0.2)
    assert unreachable.take("k", Rate(per_second=1, burst=1)) == 0.0
    assert unreachable.take("k", Rate(per_second=1, burst=1)) == 0.0
    assert any("Redis unreachable" in r.getMessage() for r in caplog.records)
    unreachable.close()
