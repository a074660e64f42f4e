"""What a rate-limit check costs per request: ``python -m bench.ratelimit [--redis URL]``.

Times ``Limiter.check`` (one request taken from a bucket, the work each limited request adds)
with the in-process buckets and with Redis, sync and async, over many distinct keys as under
real traffic, and prints microseconds per check with the machine. Nothing here is asserted;
the figures go to docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import statistics
import time
from collections.abc import Callable

from bench.machine import cpu_model
from lgsp.kit.ratelimit import Limiter, MemoryBuckets, Rate, RedisBuckets

RATE = Rate(per_second=1_000_000, burst=1_000_000)  # never refuses: measures the bookkeeping
KEYS = [f"client:c_{i:06d}" for i in range(1000)]


def _per_call_us(run: Callable[[int], float], n: int, repeats: int = 5) -> float:
    """Median over ``repeats`` runs of ``n`` calls, in microseconds per call."""
    return statistics.median(run(n) / n * 1e6 for _ in range(repeats))


def sync_run(limiter: Limiter) -> Callable[[int], float]:
    def run(n: int) -> float:
        start = time.perf_counter()
        for i in range(n):
            limiter.check(KEYS[i % len(KEYS)], RATE, "bench")
        return time.perf_counter() - start

    return run


def async_per_call_us(limiter: Limiter, n: int, repeats: int = 5) -> float:
    """As _per_call_us, on one event loop (an async Redis client belongs to one loop)."""

    async def calls() -> list[float]:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for i in range(n):
                await limiter.check_async(KEYS[i % len(KEYS)], RATE, "bench")
            times.append((time.perf_counter() - start) / n * 1e6)
        return times

    return statistics.median(asyncio.run(calls()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}")
    print(f"load average at start: {[round(x, 2) for x in os.getloadavg()]}")

    memory = Limiter(MemoryBuckets())
    print(f"memory, sync:  {_per_call_us(sync_run(memory), 200_000):8.2f} µs per check")
    print(f"memory, async: {async_per_call_us(memory, 200_000):8.2f} µs per check")

    buckets = RedisBuckets(args.redis, prefix=f"bench-{secrets.token_hex(4)}")
    redis = Limiter(buckets)
    print(f"redis, sync:   {_per_call_us(sync_run(redis), 5_000):8.2f} µs per check")
    print(f"redis, async:  {async_per_call_us(redis, 5_000):8.2f} µs per check")
    buckets.close()


if __name__ == "__main__":
    main()
