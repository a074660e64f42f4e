from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lgsp_adapters import registry
from lgsp_adapters.base import CallRequest, PermanentError, RetriableError
from lgsp_adapters.memory import MemoryAdapter, store
from lgsp_testkit.contract import AdapterContract, envelope


class MemoryRecipient:
    def __init__(self, agency_code: str) -> None:
        self.agency_code = agency_code

    def received_ids(self) -> list[str]:
        return store.received_ids(self.agency_code)

    def fail_next(self, times: int = 1) -> None:
        store.script(self.agency_code, "fail", times)

    def reject_next(self, times: int = 1) -> None:
        store.script(self.agency_code, "reject", times)

    def stall_next(self, seconds: float) -> None:
        store.script(self.agency_code, "slow", delay=seconds)


class TestMemoryAdapter(AdapterContract):
    adapter_name = "memory"
    bad_settings = [
        ({"fail_first": -1}, "fail_first"),
        ({"reject": "perhaps"}, "reject"),
        ({"rejcet": True}, "rejcet"),
    ]

    def payload(self, n: int) -> dict[str, Any]:
        return {"MaHoSo": f"000.00.12.H02-261126-{n:04d}"}

    @pytest.fixture
    def recipient(self) -> Iterator[MemoryRecipient]:
        store.clear()
        yield MemoryRecipient(self.agency_code)
        store.clear()

    @pytest.fixture
    def settings(self, recipient: MemoryRecipient) -> dict[str, Any]:
        return {}

    @pytest.fixture
    def unreachable_settings(self) -> dict[str, Any]:
        return {"unreachable": True}


@pytest.fixture(autouse=True)
def _clean_store() -> Iterator[None]:
    store.clear()
    yield
    store.clear()


def build(**settings: Any) -> MemoryAdapter:
    adapter = registry.build("memory", settings, agency_code="H22", timeout=1.0)
    assert isinstance(adapter, MemoryAdapter)
    return adapter


def test_fail_first_then_succeeds() -> None:
    adapter = build(fail_first=2)
    message = envelope({"n": 1}, recipient="H22")
    for _ in range(2):
        with pytest.raises(RetriableError):
            adapter.deliver(message)
    adapter.deliver(message)
    assert store.received_ids("H22") == [message.message_id]
    assert store.attempts("H22") == 3


def test_fail_each_counts_per_message() -> None:
    adapter = build(fail_each=1)
    first, second = envelope({"n": 1}, recipient="H22"), envelope({"n": 2}, recipient="H22")
    for message in (first, second):
        with pytest.raises(RetriableError):
            adapter.deliver(message)
        adapter.deliver(message)
    assert store.received_ids("H22") == [first.message_id, second.message_id]


def test_reject_and_reject_ids() -> None:
    with pytest.raises(PermanentError):
        build(reject=True).deliver(envelope({}, recipient="H22"))
    chosen = envelope({}, recipient="H22")
    adapter = build(reject_ids=[chosen.message_id])
    with pytest.raises(PermanentError):
        adapter.deliver(chosen)
    other = envelope({}, recipient="H22")
    adapter.deliver(other)
    assert store.received_ids("H22") == [other.message_id]


def test_stores_are_per_agency_and_keep_duplicates() -> None:
    adapter = build()
    message = envelope({"x": 1}, recipient="H22")
    adapter.deliver(message)
    adapter.deliver(message)
    assert len(store.delivered("H22")) == 2
    assert store.received("H22") == [message]
    assert store.received("H56") == []


def test_call_echoes_or_answers_configured_body() -> None:
    adapter = build(responses={"TraCuuGCN": {"Found": True}})
    request = CallRequest("TraCuuGCN", {}, {"SoPhatHanh": "CY 1"}, "H02", "r1")
    assert adapter.call(request).body == {"Found": True}
    echoed = adapter.call(CallRequest("other", {}, {"a": 1}, "H02", "r2", path="/x"))
    assert echoed.body == {"service": "other", "path": "/x", "payload": {"a": 1}}
    assert [c.request_id for c in store.calls("H22")] == ["r1", "r2"]
