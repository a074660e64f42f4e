"""Adapter instances for the province's endpoints, shared by delivery and synchronous calls, and
the one translation of an adapter failure into a problem of the platform's error tree."""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any

import lgsp_adapters.registry as adapter_registry
from lgsp_adapters.base import (
    Adapter,
    AdapterConfigError,
    AdapterError,
    PermanentError,
    RetriableError,
    UpstreamTimeout,
)

from lgsp.directory.repository import DirectoryCache
from lgsp.kit import jsonutil
from lgsp.kit.errors import (
    GatewayTimeout,
    LGSPError,
    Unavailable,
    UnfitRequest,
    UpstreamError,
    UpstreamRejected,
)
from lgsp.kit.timeutil import utcnow

log = logging.getLogger("lgsp.adapters")


class AdapterUnavailable(AdapterConfigError):
    """The endpoint's adapter cannot be built in this process (not installed here, failed to
    import, settings it refuses): the platform's fault, not the recipient's. Deliveries to the
    endpoint are held, not dead-lettered, until it can be built."""


class AdapterPool:
    """One adapter instance per endpoint, rebuilt when the endpoint's configuration changes.

    An endpoint whose adapter fails to build is remembered (:meth:`unbuildable`) until a build
    succeeds, for health, metrics and the process report."""

    def __init__(self, directory: DirectoryCache) -> None:
        self._directory = directory
        self._lock = threading.Lock()
        self._adapters: dict[str, tuple[str, Adapter]] = {}
        # agency -> (fingerprint of the endpoint that failed, {adapter, reason, since})
        self._failures: dict[str, tuple[str, dict[str, str]]] = {}

    def get(self, agency: str) -> Adapter:
        endpoint = self._directory.snapshot().endpoint(agency)
        if endpoint is None or endpoint.mode != "push" or not endpoint.adapter:
            raise PermanentError(f"agency {agency} has no push endpoint")
        fingerprint = _fingerprint(endpoint)
        with self._lock:
            cached = self._adapters.get(agency)
            if cached is not None and cached[0] == fingerprint:
                return cached[1]
            try:
                adapter = adapter_registry.build(
                    endpoint.adapter,
                    dict(endpoint.settings),
                    agency_code=agency,
                    timeout=endpoint.timeout_seconds,
                )
            except AdapterConfigError as exc:
                failure = self._failures.get(agency)
                if failure is None or failure[0] != fingerprint:
                    log.error(
                        "the adapter %r of %s cannot be built in this process: %s; deliveries "
                        "to %s are held and its services answer 503 until it can be",
                        endpoint.adapter,
                        agency,
                        exc.reason,
                        agency,
                    )
                    since = utcnow().isoformat()
                    self._failures[agency] = (
                        fingerprint,
                        {"adapter": endpoint.adapter, "reason": exc.reason, "since": since},
                    )
                raise AdapterUnavailable(exc.reason) from exc
            if self._failures.pop(agency, None) is not None:
                log.info("the adapter %r of %s is built now", endpoint.adapter, agency)
            if cached is not None:
                cached[1].close()
            self._adapters[agency] = (fingerprint, adapter)
            return adapter

    def unbuildable(self) -> dict[str, dict[str, str]]:
        """``{agency: {adapter, reason, since}}`` for endpoints whose adapter failed to build
        at its last try, configured as they still are."""
        configured = self._directory.snapshot()
        with self._lock:
            failures = sorted(self._failures.items())
        return {
            agency: dict(failure)
            for agency, (fingerprint, failure) in failures
            if (endpoint := configured.endpoint(agency)) is not None
            and _fingerprint(endpoint) == fingerprint
        }

    def describe(self) -> dict[str, Any]:
        """What this process reports of its adapters: the names installed here, why those the
        directory uses cannot be loaded, and the endpoints whose adapter failed to build. Only
        the adapters the directory uses are imported (the others would only cost memory)."""
        directory = self._directory.snapshot()
        used = {
            endpoint.adapter
            for code in directory.agencies
            if (endpoint := directory.endpoint(code)) is not None and endpoint.adapter
        }
        errors = {}
        for name in sorted(used):
            try:
                adapter_registry.adapter_class(name)
            except AdapterConfigError as exc:
                errors[name] = exc.reason
        loadable = [name for name in adapter_registry.available() if name not in errors]
        return {"adapters": loadable, "adapter_errors": errors, "unbuildable": self.unbuildable()}

    def validate_all(self) -> None:
        """Build every configured adapter once; a broken one stops start-up with its error."""
        directory = self._directory.snapshot()
        for agency in sorted(directory.agencies):
            endpoint = directory.endpoint(agency)
            if endpoint is not None and endpoint.mode == "push" and endpoint.adapter:
                self.get(agency)

    def close(self) -> None:
        with self._lock:
            for _, adapter in self._adapters.values():
                adapter.close()
            self._adapters.clear()


def _fingerprint(endpoint: Any) -> str:
    """What an adapter instance is built from: a change rebuilds it."""
    return hashlib.sha256(
        jsonutil.canonical([endpoint.adapter, endpoint.settings, endpoint.timeout_seconds])
    ).hexdigest()


def problem_from_adapter_error(exc: AdapterError, target: str) -> LGSPError:
    """The problem a failed synchronous call answers with: ``exc`` from the adapter that
    called ``target`` (a provider's service), sorted the way the adapter contract sorts it."""
    if isinstance(exc, AdapterUnavailable):
        # Nothing was sent: the platform cannot reach this provider until it is repaired.
        # The reason (an import error, a settings field) is the operators' (log, lgsp status).
        return Unavailable(f"{target} cannot be called now: the platform cannot reach it")
    if isinstance(exc, UpstreamTimeout):
        return GatewayTimeout(f"{target} did not answer in time: {exc.reason}")
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
        return UnfitRequest(f"the request does not fit {target}: {exc.reason}")
    extra = {"upstream_status": exc.status_code, "upstream_reply": exc.reply}
    detail = f"{target} refused the call: {exc.reason}"
    if exc.status_code is not None and 400 <= exc.status_code < 500:
        return UpstreamRejected(detail, status=exc.status_code, extra=extra)
    return UpstreamError(detail, extra=extra)
