"""The memory adapter: delivers into :data:`lgsp_adapters.memory.store.store`."""

from __future__ import annotations

import threading
import time
from typing import Any

from pydantic import Field

from lgsp.kit.jsonutil import dumps_str
from lgsp_adapters.base import (
    Adapter,
    AdapterSettings,
    CallRequest,
    CallResult,
    DeliveryResult,
    Envelope,
    PermanentError,
    RetriableError,
    UpstreamTimeout,
)
from lgsp_adapters.memory.store import store


class MemorySettings(AdapterSettings):
    # The first N deliveries through this adapter instance fail as retriable.
    fail_first: int = Field(default=0, ge=0)
    # The first N attempts of each message id fail as retriable (exercises per-message retry).
    fail_each: int = Field(default=0, ge=0)
    # Every delivery is rejected permanently.
    reject: bool = False
    # These message ids are rejected permanently.
    reject_ids: list[str] = Field(default_factory=list)
    # Behave like an endpoint nobody listens on.
    unreachable: bool = False
    # Answers for call(): service name -> JSON body; services not listed echo the request.
    responses: dict[str, Any] = Field(default_factory=dict)


class MemoryAdapter(Adapter):
    """Records envelopes per agency code; thread-safe. Steer it with its settings or at run time
    with ``store.script(agency_code, ...)``."""

    name = "memory"
    Settings = MemorySettings

    def __init__(self, settings: AdapterSettings, *, agency_code: str, timeout: float) -> None:
        super().__init__(settings, agency_code=agency_code, timeout=timeout)
        assert isinstance(settings, MemorySettings)
        self.config = settings
        self._lock = threading.Lock()
        self._calls = 0
        self._attempts_by_id: dict[str, int] = {}

    def deliver(self, envelope: Envelope) -> DeliveryResult:
        with self._lock:
            self._calls += 1
            call_number = self._calls
            attempt = self._attempts_by_id[envelope.message_id] = (
                self._attempts_by_id.get(envelope.message_id, 0) + 1
            )
        behaviour, delay = store.next_behaviour(self.agency_code)
        if self.config.unreachable:
            raise RetriableError(f"memory endpoint {self.agency_code} unreachable (simulated)")
        if behaviour == "slow":
            time.sleep(min(delay, self.timeout))
            if delay >= self.timeout:
                raise UpstreamTimeout(f"memory endpoint {self.agency_code} timed out (simulated)")
        if (
            behaviour == "fail"
            or call_number <= self.config.fail_first
            or (attempt <= self.config.fail_each)
        ):
            raise RetriableError("recipient unavailable (simulated)", status_code=503)
        if (
            behaviour == "reject"
            or self.config.reject
            or envelope.message_id in self.config.reject_ids
        ):
            raise PermanentError("recipient rejected the message (simulated)", status_code=422)
        store.record(self.agency_code, envelope)
        return DeliveryResult(status_code=200, reply=dumps_str({"received": envelope.message_id}))

    def call(self, request: CallRequest) -> CallResult:
        store.record_call(self.agency_code, request)
        if self.config.unreachable:
            raise RetriableError(f"memory endpoint {self.agency_code} unreachable (simulated)")
        if request.service in self.config.responses:
            return CallResult(status_code=200, body=self.config.responses[request.service])
        return CallResult(
            status_code=200,
            body={"service": request.service, "path": request.path, "payload": request.payload},
        )
