"""Synchronous mediated calls: the caller calls the platform, the platform calls the provider's
service through its adapter and answers within the call. Both legs are logged together.

A call goes through named steps, each given only what it needs: find the service and check the
grant; shape the request (sub-path, query, request schema); ask the provider's circuit; exchange
through the adapter; judge the outcome (the provider's refusal, failure or a reply that breaks
the response schema become problems, see :mod:`lgsp.mediation.problems`); log both legs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from lgsp_adapters.base import (
    AdapterConfigError,
    AdapterError,
    CallRequest,
    CallResult,
    PermanentError,
)

from lgsp.adapterpool import AdapterUnavailable, problem_from_adapter_error
from lgsp.auth.tokens import Principal
from lgsp.directory.repository import Directory, ServiceInfo
from lgsp.directory.routing import is_granted
from lgsp.kit.errors import (
    BadRequest,
    LGSPError,
    NotFound,
    NotGranted,
    Unavailable,
    UpstreamError,
    UpstreamRejected,
    ValidationFailed,
)
from lgsp.mediation.breaker import CircuitBreaker
from lgsp.mediation.calllog import CallRecord, write_call
from lgsp.mediation.paths import check_sub_path
from lgsp.observability import SERVICE_CALLS
from lgsp.platform import Platform
from lgsp.validation.catalogue import SchemaCatalogue

log = logging.getLogger("lgsp.mediation")


@dataclass(frozen=True)
class CallOutcome:
    status_code: int
    body: Any


@dataclass(frozen=True, slots=True)
class Exchange:
    """What the adapter made of the call: a result, or the failure it was sorted into."""

    result: CallResult | None
    failure: AdapterError | None
    unexpected: bool = False  # the adapter let something other than an AdapterError escape
    duration_ms: float = 0.0


class Mediator:
    def __init__(self, platform: Platform, breaker: CircuitBreaker | None = None) -> None:
        settings = platform.settings
        self._directory = platform.directory
        self._schemas = platform.schemas
        self._adapters = platform.adapters
        self._writer = platform.writer
        self.breaker = breaker or CircuitBreaker(
            threshold=settings.breaker_threshold,
            cooldown_seconds=settings.breaker_cooldown_seconds,
        )

    def call(
        self,
        principal: Principal,
        provider: str,
        service_name: str,
        *,
        payload: Any,
        path: str,
        query: dict[str, str],
        request_id: str,
    ) -> CallOutcome:
        svc = find_service(self._directory.snapshot(), principal.agency, provider, service_name)
        request = shape_request(
            svc, self._schemas, principal.agency, payload, path, query, request_id
        )
        admit(self.breaker, provider)
        exchange = self._exchange(provider, request)
        error = judge(exchange, svc, self._schemas)
        write_call(
            self._writer,
            CallRecord(
                client_id=principal.client_id,
                caller=principal.agency,
                provider=provider,
                service=service_name,
                request_id=request_id,
                payload=payload,
                result=exchange.result,
                failure=exchange.failure,
                error=error,
                duration_ms=exchange.duration_ms,
            ),
        )
        SERVICE_CALLS.labels(provider, "ok" if error is None else "error").inc()
        if error is not None:
            raise error
        assert exchange.result is not None
        return CallOutcome(exchange.result.status_code, exchange.result.body)

    def _exchange(self, provider: str, request: CallRequest) -> Exchange:
        """Call the provider through its adapter; the breaker learns how it went."""
        started = time.perf_counter()
        result: CallResult | None = None
        failure: AdapterError | None = None
        unexpected = False
        try:
            try:
                adapter = self._adapters.get(provider)
            except AdapterUnavailable:
                raise  # answered 503: the platform's own fault, for now
            except AdapterError as exc:
                # No usable endpoint is the platform's configuration problem, not the caller's.
                raise AdapterConfigError(exc.reason) from exc
            result = adapter.call(request)
            self.breaker.success(provider)
        except AdapterError as exc:
            failure = exc
            if exc.retriable:
                self.breaker.failure(provider)
            else:
                self.breaker.success(provider)  # the provider answered; it is up
        except Exception as exc:
            # Anything else an adapter lets escape still ends the breaker's probe and is logged;
            # otherwise a half-open circuit would wait for a probe result forever.
            log.exception("adapter for %s raised an unexpected error", provider)
            failure = PermanentError(f"adapter failure: {type(exc).__name__}: {exc}")
            unexpected = True
            self.breaker.success(provider)
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        return Exchange(result, failure, unexpected, duration_ms)


def find_service(directory: Directory, caller: str, provider: str, name: str) -> ServiceInfo:
    """The service, if it exists and the caller's agency is granted to call it."""
    svc = directory.service(provider, name)
    target = f"{provider}/{name}"
    if svc is None:
        raise NotFound(f"no service {name!r} of provider {provider!r}; see /v1/services")
    if not is_granted(
        directory.grants_for(caller),
        agency=caller,
        action="call",
        target=target,
        recipient=provider,
    ):
        raise NotGranted(f"agency {caller} is not granted to call {target}")
    return svc


def shape_request(
    svc: ServiceInfo,
    schemas: SchemaCatalogue,
    caller: str,
    payload: Any,
    path: str,
    query: dict[str, str],
    request_id: str,
) -> CallRequest:
    """The adapter's request, once the sub-path is safe and declared and everything the
    adapter will use (payload, query, sub-path values) passes the request schema."""
    sub_path = check_sub_path(path, svc.operation, f"{svc.provider}/{svc.name}")
    if svc.request_schema:
        schemas.check(svc.request_schema, request_values(payload, query, sub_path.values))
    return CallRequest(
        service=svc.name,
        operation=dict(svc.operation),
        payload=payload,
        caller=caller,
        request_id=request_id,
        path=sub_path.encoded,
        query=query,
    )


def admit(breaker: CircuitBreaker, provider: str) -> None:
    wait = breaker.allow(provider)
    if wait is not None:
        raise Unavailable(
            f"{provider} is failing; calls are paused for {wait:.0f} s (circuit open)",
            headers={"Retry-After": str(max(1, round(wait)))},
        )


def request_values(payload: Any, query: dict[str, str], named: dict[str, str]) -> Any:
    """What the service's request schema judges: the payload with the query parameters and the
    sub-path's named segments added, since adapters fill the provider's request from all three.
    A name given twice is refused, so no value can slip past the schema by shadowing another."""
    extra = {**named}
    for key, value in query.items():
        if key in extra:
            raise BadRequest(f"{key!r} is given both in the sub-path and in the query")
        extra[key] = value
    if not extra:
        return payload
    if payload is None:
        return extra
    if not isinstance(payload, dict):
        raise BadRequest("query parameters or sub-path values need a JSON object payload or none")
    clash = sorted(set(extra) & set(payload))
    if clash:
        raise BadRequest(f"{', '.join(clash)} given both in the body and in the query or sub-path")
    return {**payload, **extra}


def judge(exchange: Exchange, svc: ServiceInfo, schemas: SchemaCatalogue) -> LGSPError | None:
    """The problem the call ends in, or None when the caller gets the provider's answer."""
    target = f"{svc.provider}/{svc.name}"
    if exchange.failure is not None:
        if exchange.unexpected:
            return UpstreamError(f"{target} could not be called: the adapter failed")
        return failure_problem(exchange.failure, target)
    result = exchange.result
    assert result is not None
    if 400 <= result.status_code < 500:
        return UpstreamRejected(
            f"{target} refused the call (HTTP {result.status_code})",
            status=result.status_code,
            extra={"upstream_status": result.status_code, "upstream_reply": result.body},
        )
    if not 200 <= result.status_code < 300:
        return UpstreamError(
            f"{target} answered HTTP {result.status_code}",
            extra={"upstream_status": result.status_code, "upstream_reply": result.body},
        )
    if svc.response_schema:
        problems = schemas.errors(svc.response_schema, result.body)
        if problems:
            return UpstreamError(
                f"{target} answered with a payload that fails {svc.response_schema}",
                extra={"errors": problems},
            )
    return None


def failure_problem(exc: AdapterError, target: str) -> LGSPError:
    """The problem an adapter failure stands for (sorted in one place for the platform)."""
    return problem_from_adapter_error(exc, target)


__all__ = ["CallOutcome", "Mediator", "ValidationFailed"]
