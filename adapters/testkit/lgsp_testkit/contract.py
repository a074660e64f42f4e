"""The behaviour every adapter must show, written once (kombu style), for the built-in adapters
and for an integrator's own, in its own repository (docs/adapters.md, "Writing a plug-in").

A concrete test class mixes in :class:`AdapterContract` and provides:

- ``adapter_name`` (class attribute): the adapter's registered name;
- ``bad_settings`` (class attribute): settings that must be refused, each with a fragment the
  error must contain (the field path);
- fixture ``recipient``: a :class:`Recipient` the test controls
  (:class:`lgsp_testkit.recipient.ScriptedRecipient` does the bookkeeping of one);
- fixture ``settings``: settings (dict) that point the adapter at that recipient;
- fixture ``unreachable_settings``: settings that point at a port nobody listens on;
- method ``payload(n)``: a valid payload for the n-th message (distinct for distinct ``n``).

It may override ``message_type`` (the type of the messages delivered) and ``received_key``
(what the recipient reports in ``received_ids``: the message id, unless the wire format carries
none and the recipient identifies a message by a key of its payload).

The kit's pytest plugin (entry point ``pytest11``) registers this module for assertion
rewriting, so a failing rule prints the values it compared.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

import pytest
from lgsp_adapters import registry
from lgsp_adapters.base import (
    Adapter,
    AdapterConfigError,
    DeliveryResult,
    Envelope,
    PermanentError,
    RetriableError,
    UpstreamTimeout,
)

from lgsp.kit.ids import uuid7

TIMEOUT = 0.5  # the adapters' timeout in these tests; a stalled recipient waits much longer
STALL = 5.0


class Recipient(Protocol):
    """The test's handle on the fake system an adapter delivers to. Every method is called from
    the test thread while deliveries run in others: implementations are thread-safe."""

    def received_ids(self) -> list[str]:
        """Distinct keys (``AdapterContract.received_key``, by default the message id) of the
        messages the recipient accepted, in the order first accepted; a redelivery of an
        accepted message is not listed again."""

    def fail_next(self, times: int = 1) -> None:
        """The next deliveries fail as 'unavailable' (5xx / server fault)."""

    def reject_next(self, times: int = 1) -> None:
        """The next deliveries are refused as bad content (4xx / client fault)."""

    def stall_next(self, seconds: float) -> None:
        """The next delivery gets no answer for ``seconds``."""


def envelope(payload: dict[str, Any], *, recipient: str = "000.00.01.H22", **kw: Any) -> Envelope:
    return Envelope(
        message_id=kw.pop("message_id", uuid7()),
        type=kw.pop("type", "land.dossier.submitted"),
        sender=kw.pop("sender", "000.00.12.H02"),
        recipient=recipient,
        payload=payload,
        accepted_at=datetime.now(UTC),
        **kw,
    )


class AdapterContract:
    adapter_name: ClassVar[str]
    agency_code: ClassVar[str] = "000.00.01.H22"
    message_type: ClassVar[str] = "land.dossier.submitted"
    bad_settings: ClassVar[list[tuple[dict[str, Any], str]]] = []

    def payload(self, n: int) -> dict[str, Any]:
        raise NotImplementedError

    def received_key(self, message: Envelope) -> str:
        """How the recipient identifies ``message`` in ``received_ids``."""
        return message.message_id

    @pytest.fixture
    def make_adapter(self) -> Iterator[Callable[[dict[str, Any]], Adapter]]:
        built: list[Adapter] = []

        def make(settings: dict[str, Any]) -> Adapter:
            adapter = registry.build(
                self.adapter_name, settings, agency_code=self.agency_code, timeout=TIMEOUT
            )
            built.append(adapter)
            return adapter

        yield make
        for adapter in built:
            adapter.close()

    @pytest.fixture
    def adapter(
        self, make_adapter: Callable[[dict[str, Any]], Adapter], settings: dict[str, Any]
    ) -> Adapter:
        return make_adapter(settings)

    def deliver(self, adapter: Adapter, n: int = 0, **kw: Any) -> tuple[Envelope, DeliveryResult]:
        kw.setdefault("type", self.message_type)
        message = envelope(self.payload(n), recipient=self.agency_code, **kw)
        return message, adapter.deliver(message)

    # --- the contract ---------------------------------------------------------------------------
    def test_delivers_and_recipient_sees_message_id(
        self, adapter: Adapter, recipient: Recipient
    ) -> None:
        message, result = self.deliver(adapter, correlation_id="000.00.12.H02-261126-0007")
        assert isinstance(result, DeliveryResult)
        assert recipient.received_ids() == [self.received_key(message)]

    def test_redelivery_is_deduplicated_by_recipient(
        self, adapter: Adapter, recipient: Recipient
    ) -> None:
        message, _ = self.deliver(adapter)
        adapter.deliver(message)  # a retry after a lost acknowledgement
        assert recipient.received_ids() == [self.received_key(message)]

    def test_recipient_failure_is_retriable(self, adapter: Adapter, recipient: Recipient) -> None:
        recipient.fail_next()
        with pytest.raises(RetriableError) as caught:
            self.deliver(adapter)
        assert caught.value.retriable
        assert recipient.received_ids() == []

    def test_recipient_rejection_is_permanent(self, adapter: Adapter, recipient: Recipient) -> None:
        recipient.reject_next()
        with pytest.raises(PermanentError) as caught:
            self.deliver(adapter)
        assert not caught.value.retriable
        assert recipient.received_ids() == []

    def test_timeout_is_upstream_timeout(self, adapter: Adapter, recipient: Recipient) -> None:
        recipient.stall_next(STALL)
        with pytest.raises(UpstreamTimeout):
            self.deliver(adapter)

    def test_connection_refused_is_retriable(
        self,
        make_adapter: Callable[[dict[str, Any]], Adapter],
        unreachable_settings: dict[str, Any],
    ) -> None:
        adapter = make_adapter(unreachable_settings)
        with pytest.raises(RetriableError) as caught:
            self.deliver(adapter)
        assert not isinstance(caught.value, PermanentError)

    def test_keeps_working_after_failures(self, adapter: Adapter, recipient: Recipient) -> None:
        recipient.fail_next()
        first = envelope(self.payload(1), recipient=self.agency_code, type=self.message_type)
        with pytest.raises(RetriableError):
            adapter.deliver(first)
        recipient.reject_next()
        with pytest.raises(PermanentError):
            self.deliver(adapter, 2)
        adapter.deliver(first)  # the retry of the first message now succeeds
        assert recipient.received_ids() == [self.received_key(first)]

    def test_concurrent_deliveries_all_arrive(self, adapter: Adapter, recipient: Recipient) -> None:
        sent: list[str] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def worker(thread: int) -> None:
            for i in range(20):
                try:
                    message, _ = self.deliver(adapter, thread * 100 + i)
                except BaseException as exc:  # noqa: BLE001 (reported to the main thread)
                    with lock:
                        errors.append(exc)
                    return
                with lock:
                    sent.append(self.received_key(message))

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(sent) == 160
        assert sorted(recipient.received_ids()) == sorted(sent)

    def test_valid_settings_accepted(self, settings: dict[str, Any]) -> None:
        validated = registry.validate_settings(self.adapter_name, settings)
        assert isinstance(validated, registry.adapter_class(self.adapter_name).Settings)

    def test_bad_settings_rejected_with_field_path(self) -> None:
        assert self.bad_settings, "every adapter declares settings it must refuse"
        for bad, fragment in self.bad_settings:
            with pytest.raises(AdapterConfigError) as caught:
                registry.validate_settings(self.adapter_name, bad)
            assert fragment in caught.value.reason, (bad, caught.value.reason)
