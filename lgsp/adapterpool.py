"""Adapter instances for the province's endpoints, shared by delivery and synchronous calls, and
the one translation of an adapter failure into a problem of the platform's error tree."""

from __future__ import annotations

import hashlib
import threading

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
    UnfitRequest,
    UpstreamError,
    UpstreamRejected,
)


class AdapterPool:
    """One adapter instance per endpoint, rebuilt when the endpoint's configuration changes."""

    def __init__(self, directory: DirectoryCache) -> None:
        self._directory = directory
        self._lock = threading.Lock()
        self._adapters: dict[str, tuple[str, Adapter]] = {}

    def get(self, agency: str) -> Adapter:
        endpoint = self._directory.snapshot().endpoint(agency)
        if endpoint is None or endpoint.mode != "push" or not endpoint.adapter:
            raise PermanentError(f"agency {agency} has no push endpoint")
        fingerprint = hashlib.sha256(
            jsonutil.canonical([endpoint.adapter, endpoint.settings, endpoint.timeout_seconds])
        ).hexdigest()
        with self._lock:
            cached = self._adapters.get(agency)
            if cached is not None and cached[0] == fingerprint:
                return cached[1]
            adapter = adapter_registry.build(
                endpoint.adapter,
                dict(endpoint.settings),
                agency_code=agency,
                timeout=endpoint.timeout_seconds,
            )
            if cached is not None:
                cached[1].close()
            self._adapters[agency] = (fingerprint, adapter)
            return adapter

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


def problem_from_adapter_error(exc: AdapterError, target: str) -> LGSPError:
    """The problem a failed synchronous call answers with: ``exc`` from the adapter that
    called ``target`` (a provider's service), sorted the way the adapter contract sorts it."""
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
