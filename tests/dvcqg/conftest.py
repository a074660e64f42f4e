from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from lgsp_adapters.base import Envelope
from lgsp_adapters.dvcqg import DvcqgAdapter, DvcqgSettings
from lgsp_sims.dvcqg.portal_state import DEFAULT_AGENCY, DEFAULT_PASSWORD, DEFAULT_USERNAME
from lgsp_sims.dvcqg.simulator import PortalState, create_app
from lgsp_testkit.servers import serve_asgi


@pytest.fixture
def portal() -> PortalState:
    return PortalState(timeout_delay=1.0)


@pytest.fixture
def portal_url(portal: PortalState) -> Iterator[str]:
    with serve_asgi(create_app(portal)) as url:
        yield url


AdapterFactory = Callable[..., DvcqgAdapter]


@pytest.fixture
def make_adapter(portal_url: str) -> Iterator[AdapterFactory]:
    made: list[DvcqgAdapter] = []

    def make(timeout: float = 5.0, **overrides: Any) -> DvcqgAdapter:
        settings = DvcqgSettings(
            **{
                "base_url": portal_url,
                "username": DEFAULT_USERNAME,
                "password": DEFAULT_PASSWORD,
                "agency_code": DEFAULT_AGENCY,
                **overrides,
            }
        )
        adapter = DvcqgAdapter(settings, agency_code="DVCQG", timeout=timeout)
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        adapter.close()


@pytest.fixture
def adapter(make_adapter: AdapterFactory) -> DvcqgAdapter:
    return make_adapter()


_counter = iter(range(1, 1_000_000))


def envelope(message_type: str, payload: dict[str, Any], attempt: int = 1) -> Envelope:
    return Envelope(
        message_id=f"msg-{next(_counter)}",
        type=message_type,
        sender="000.00.01.H56",
        recipient="DVCQG",
        payload=payload,
        accepted_at=datetime.now(UTC),
        correlation_key=payload.get("MaHoSo"),
        attempt=attempt,
    )


def services_called(portal: PortalState) -> list[str | None]:
    return [c.service for c in portal.calls if c.path.endswith("/integration")]
