"""Rate limits: token buckets kept in Redis when a Redis URL is configured (so every API process
draws on the same budget), in this process otherwise.

A bucket holds up to ``burst`` requests and refills at ``per_second``; a request finding it empty
is refused with 429 and a ``Retry-After`` saying when the next one will pass. The bucket is kept
as one number, its "theoretical arrival time" (the generic cell rate algorithm, equivalent to a
token bucket), so a check is one dictionary update here, or one Lua script call in Redis (the
clock is Redis's own, so API hosts need not agree on the time).

The `limits` library was considered: it keeps fixed and moving windows, not token buckets, and a
window lets a client spend twice its budget across a window boundary.

If Redis cannot be reached, requests pass (the platform stays up) and the failure is logged:
losing rate limiting for a while is better than refusing every agency.

Also here: :func:`one_at_a_time`, for expensive runs (a full log verification) that must not
overlap anywhere on the platform. Limits and settings are described in docs/limits.md.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, text
from starlette.types import ASGIApp, Receive, Scope, Send

from lgsp.kit.errors import Conflict, LGSPError

log = logging.getLogger("lgsp.ratelimit")

# Paths that load balancers and monitoring poll: never limited.
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class Rate(BaseModel):
    """A token bucket: ``burst`` requests at once, refilled at ``per_second``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_second: float = Field(gt=0)
    burst: int = Field(ge=1)


class RateLimited(LGSPError):
    status, slug, title = 429, "rate-limited", "Too many requests"

    def __init__(self, detail: str, retry_after: float) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, math.ceil(retry_after)))})
        self.retry_after = retry_after


class Buckets(Protocol):
    def take(self, key: str, rate: Rate) -> float:
        """Take one request from ``key``'s bucket: 0 when it passes, else seconds to wait."""

    async def take_async(self, key: str, rate: Rate) -> float:
        """The same, without blocking the event loop."""

    def close(self) -> None: ...


class MemoryBuckets:
    """Buckets of this process only (one process, or no Redis configured)."""

    # Past this many keys, buckets that are full again are dropped (they hold no information).
    PRUNE_ABOVE = 50_000

    def __init__(self) -> None:
        self._tat: dict[str, float] = {}
        self._lock = threading.Lock()

    def take(self, key: str, rate: Rate) -> float:
        interval = 1.0 / rate.per_second
        now = time.monotonic()
        with self._lock:
            tat = max(self._tat.get(key, now), now)
            allow_at = tat + interval - rate.burst * interval
            if now < allow_at:
                return allow_at - now
            self._tat[key] = tat + interval
            if len(self._tat) > self.PRUNE_ABOVE:
                self._tat = {k: v for k, v in self._tat.items() if v > now}
        return 0.0

    async def take_async(self, key: str, rate: Rate) -> float:
        return self.take(key, rate)

    def close(self) -> None:
        self._tat.clear()


# KEYS[1] the bucket; ARGV[1] microseconds per request; ARGV[2] burst. Returns the microseconds
# to wait (0: taken). The key expires once the bucket is full again.
_GCRA = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allow_at = tat + interval - burst * interval
if now < allow_at then return allow_at - now end
redis.call('SET', KEYS[1], tat + interval, 'PX', math.ceil((tat + interval - now) / 1000) + 1)
return 0
"""


class RedisBuckets:
    """Buckets shared by every process that uses the same Redis."""

    def __init__(self, url: str, *, prefix: str = "lgsp", timeout: float = 0.5) -> None:
        import redis
        import redis.asyncio

        self._sync = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._async = redis.asyncio.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._script = self._sync.register_script(_GCRA)
        self._script_async = self._async.register_script(_GCRA)
        self._errors = (redis.RedisError, OSError)
        self._prefix = f"{prefix}:rl:"
        self._warned = 0.0

    @staticmethod
    def _args(rate: Rate) -> list[int]:
        return [max(1, round(1_000_000 / rate.per_second)), rate.burst]

    def _failed(self, exc: BaseException) -> float:
        now = time.monotonic()
        if now - self._warned > 10:
            self._warned = now
            log.warning("rate limits not enforced: Redis unreachable (%s)", exc)
        return 0.0

    def take(self, key: str, rate: Rate) -> float:
        try:
            waited = self._script(keys=[self._prefix + key], args=self._args(rate))
        except self._errors as exc:
            return self._failed(exc)
        return int(waited) / 1_000_000

    async def take_async(self, key: str, rate: Rate) -> float:
        try:
            waited = await self._script_async(keys=[self._prefix + key], args=self._args(rate))
        except self._errors as exc:
            return self._failed(exc)
        return int(waited) / 1_000_000

    def close(self) -> None:
        self._sync.close()


class Limiter:
    """Checks requests against named buckets and logs refusals (at most one line per key every
    ten seconds, with the count refused meanwhile, so an attack cannot flood the log)."""

    LOG_EVERY = 10.0

    def __init__(self, buckets: Buckets, *, enabled: bool = True) -> None:
        self.buckets = buckets
        self.enabled = enabled
        self._logged: dict[str, tuple[float, int]] = {}

    @classmethod
    def from_settings(
        cls, redis_url: str | None, *, enabled: bool, prefix: str = "lgsp"
    ) -> Limiter:
        buckets: Buckets = RedisBuckets(redis_url, prefix=prefix) if redis_url else MemoryBuckets()
        return cls(buckets, enabled=enabled)

    def _refuse(self, key: str, wait: float, what: str) -> RateLimited:
        now = time.monotonic()
        last, suppressed = self._logged.get(key, (-math.inf, 0))
        if now - last >= self.LOG_EVERY:
            more = f" ({suppressed} more refused since the last line)" if suppressed else ""
            log.warning("rate limited: %s, retry after %.2fs%s", key, wait, more)
            self._logged[key] = (now, 0)
            if len(self._logged) > 10_000:
                self._logged.clear()
        else:
            self._logged[key] = (last, suppressed + 1)
        return RateLimited(
            f"too many requests {what}; retry after {max(1, math.ceil(wait))} s", retry_after=wait
        )

    def check(self, key: str, rate: Rate, what: str) -> None:
        """Raise :class:`RateLimited` when ``key``'s bucket is empty."""
        if self.enabled:
            wait = self.buckets.take(key, rate)
            if wait > 0:
                raise self._refuse(key, wait, what)

    async def check_async(self, key: str, rate: Rate, what: str) -> None:
        if self.enabled:
            wait = await self.buckets.take_async(key, rate)
            if wait > 0:
                raise self._refuse(key, wait, what)

    def close(self) -> None:
        self.buckets.close()


def client_address(scope: Scope) -> str:
    """The caller's address as the server sees it (behind a proxy, run the server with the
    proxy's address trusted for X-Forwarded-For, so this is the agency's, not the proxy's)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class AddressRateLimitMiddleware:
    """Refuses (429) a caller address that exceeds its bucket, before the request is read."""

    def __init__(self, app: ASGIApp, *, rate: Rate) -> None:
        self.app = app
        self.rate = rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") not in UNLIMITED_PATHS:
            limiter: Limiter | None = _limiter(scope)
            if limiter is not None:
                from lgsp.kit.http import send_problem

                address = client_address(scope)
                try:
                    await limiter.check_async(f"addr:{address}", self.rate, "from this address")
                except RateLimited as exc:
                    await send_problem(send, exc, instance=scope.get("path"))
                    return
        await self.app(scope, receive, send)


def _limiter(scope: Scope) -> Limiter | None:
    app: Any = scope.get("app")
    platform = getattr(getattr(app, "state", None), "platform", None)
    return getattr(platform, "limiter", None)


class AlreadyRunning(Conflict):
    slug, title = "already-running", "Already running"


_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


@contextmanager
def one_at_a_time(engine: Engine, name: str, what: str) -> Iterator[None]:
    """Run the block only if no other run named ``name`` is going on anywhere on the platform,
    else raise :class:`AlreadyRunning` (409, Retry-After). On PostgreSQL the guard is a session
    advisory lock, so it holds across API processes and is released if a process dies; on SQLite
    (one process) a lock of this process."""
    if engine.dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        with engine.connect() as conn:
            if not conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}):
                raise AlreadyRunning(f"{what} is already running; try again later", headers=_LATER)
            try:
                yield
            finally:
                conn.scalar(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
        return
    with _process_locks_guard:
        lock = _process_locks.setdefault(f"{engine.url}|{name}", threading.Lock())
    if not lock.acquire(blocking=False):
        raise AlreadyRunning(f"{what} is already running; try again later", headers=_LATER)
    try:
        yield
    finally:
        lock.release()


_LATER = {"Retry-After": "30"}
