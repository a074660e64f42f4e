"""Synchronous mediated calls: the caller calls the platform, the platform calls the provider's
service through its adapter and answers within the call. Both legs are logged together."""

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
    RetriableError,
)
from lgsp_adapters.base import UpstreamTimeout as AdapterTimeout

from lgsp.auth.tokens import Principal
from lgsp.directory.routing import is_granted
from lgsp.kit import jsonutil
from lgsp.kit.errors import (
    BadRequest,
    LGSPError,
    NotFound,
    NotGranted,
    Unavailable,
    UpstreamError,
    UpstreamTimeout,
    ValidationFailed,
)
from lgsp.kit.timeutil import utcnow
from lgsp.mediation.breaker import CircuitBreaker
from lgsp.mediation.paths import check_sub_path
from lgsp.messagelog.models import LogEntry
from lgsp.messagelog.service import entry_values
from lgsp.observability import SERVICE_CALLS
from lgsp.platform import Platform

log = logging.getLogger("lgsp.mediation")


@dataclass(frozen=True)
class CallOutcome:
    status_code: int
    body: Any


class Mediator:
    def __init__(self, platform: Platform, breaker: CircuitBreaker | None = None) -> None:
        self._platform = platform
        settings = platform.settings
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
        directory = self._platform.directory.snapshot()
        svc = directory.service(provider, service_name)
        target = f"{provider}/{service_name}"
        if svc is None:
            raise NotFound(
                f"no service {service_name!r} of provider {provider!r}; see /v1/services"
            )
        if not is_granted(
            directory.grants_for(principal.agency),
            agency=principal.agency,
            action="call",
            target=target,
            recipient=provider,
        ):
            raise NotGranted(f"agency {principal.agency} is not granted to call {target}")
        sub_path = check_sub_path(path, svc.operation, target)
        checked = request_values(payload, query, sub_path.values)
        if svc.request_schema:
            self._platform.schemas.check(svc.request_schema, checked)
        wait = self.breaker.allow(provider)
        if wait is not None:
            raise Unavailable(
                f"{provider} is failing; calls are paused for {wait:.0f} s (circuit open)",
                headers={"Retry-After": str(max(1, round(wait)))},
            )
        request = CallRequest(
            service=service_name,
            operation=dict(svc.operation),
            payload=payload,
            caller=principal.agency,
            request_id=request_id,
            path=sub_path.encoded,
            query=query,
        )
        started = time.perf_counter()
        error: LGSPError | None = None
        result: CallResult | None = None
        failure: AdapterError | None = None
        try:
            try:
                adapter = self._platform.adapters.get(provider)
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
            error = _to_problem(exc, target)
        except Exception as exc:
            # Anything else an adapter lets escape still ends the breaker's probe and is logged;
            # otherwise a half-open circuit would wait for a probe result forever.
            log.exception("adapter for %s raised an unexpected error", provider)
            failure = PermanentError(f"adapter failure: {type(exc).__name__}: {exc}")
            self.breaker.success(provider)
            error = UpstreamError(f"{target} could not be called: {failure.reason}")
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        if result is not None and svc.response_schema and 200 <= result.status_code < 300:
            problems = self._platform.schemas.errors(svc.response_schema, result.body)
            if problems:
                error = UpstreamError(
                    f"{target} answered with a payload that fails {svc.response_schema}",
                    extra={"errors": problems},
                )
        self._log(
            principal,
            provider,
            service_name,
            request_id,
            payload,
            result,
            error,
            duration_ms,
            failure,
        )
        SERVICE_CALLS.labels(provider, "ok" if error is None else "error").inc()
        if error is not None:
            raise error
        assert result is not None
        return CallOutcome(result.status_code, result.body)

    def _log(
        self,
        principal: Principal,
        provider: str,
        service_name: str,
        request_id: str,
        payload: Any,
        result: CallResult | None,
        error: LGSPError | None,
        duration_ms: float,
        failure: AdapterError | None,
    ) -> None:
        now = utcnow()
        request_bytes = jsonutil.canonical(payload)
        captures = result.captures if result is not None else failure.captures if failure else []
        response_bytes = jsonutil.canonical(result.body) if result is not None else b""
        # Both legs in one transaction, shared with other calls and accepts (group commit).
        self._platform.writer.write(
            [
                (
                    LogEntry,
                    entry_values(
                        "call.request",
                        actor=principal.client_id,
                        agency=principal.agency,
                        detail={
                            "provider": provider,
                            "service": service_name,
                            "request_id": request_id,
                            "size": len(request_bytes),
                        },
                        body_sha256=jsonutil.sha256_hex(request_bytes),
                        at=now,
                    ),
                ),
                (
                    LogEntry,
                    entry_values(
                        "call.response",
                        actor="platform",
                        agency=provider,
                        detail={
                            "provider": provider,
                            "service": service_name,
                            "request_id": request_id,
                            "status_code": result.status_code
                            if result is not None
                            else (failure.status_code if failure else None),
                            "duration_ms": duration_ms,
                            "error": _storable(error.detail) if error is not None else None,
                            "captures": [
                                {
                                    "direction": c.direction,
                                    "content_type": c.content_type,
                                    "body": _storable(c.body),
                                }
                                for c in captures
                            ],
                        },
                        body_sha256=jsonutil.sha256_hex(response_bytes)
                        if result is not None
                        else None,
                        at=now,
                    ),
                ),
            ]
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


def _storable(text: str | None) -> str | None:
    """Text PostgreSQL's JSON accepts: a reply in UTF-16, decoded as UTF-8 for the capture, is
    full of NULs, which jsonb refuses (the whole log write, and so the call, would fail)."""
    return text.replace("\x00", "\ufffd") if text else text


def _to_problem(exc: AdapterError, target: str) -> LGSPError:
    if isinstance(exc, AdapterTimeout):
        return UpstreamTimeout(f"{target} did not answer in time: {exc.reason}")
    if isinstance(exc, RetriableError):
        return UpstreamError(
            f"{target} failed: {exc.reason}", extra={"upstream_status": exc.status_code}
        )
    if (
        not isinstance(exc, AdapterConfigError)
        and exc.status_code is None
        and not exc.captures
        and exc.reply is None
    ):
        # Refused before anything was sent: the payload cannot be made into a call of this
        # service (no such parameter, a required one missing, not an object). The caller's to fix.
        err = UpstreamError(f"the request does not fit {target}: {exc.reason}")
        err.status, err.slug, err.title = 422, "unfit-request", "Request does not fit the service"
        return err
    err = UpstreamError(
        f"{target} refused the call: {exc.reason}",
        extra={"upstream_status": exc.status_code, "upstream_reply": exc.reply},
    )
    if exc.status_code is not None and 400 <= exc.status_code < 500:
        err.status = exc.status_code
        err.slug, err.title = "upstream-rejected", "Provider rejected the request"
    return err


__all__ = ["CallOutcome", "Mediator", "ValidationFailed"]
