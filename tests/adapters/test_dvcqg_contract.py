"""The national-portal adapter held to the adapter contract, against the portal simulator.

One rule is read through the portal's own terms: the portal carries no message id, it knows a
dossier by its MaHoSo, so the recipient's "received ids" are the dossiers it holds and a
message's key is its MaHoSo (``received_key``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lgsp_adapters.base import Envelope
from lgsp_sims.dvcqg.portal_state import DEFAULT_AGENCY, DEFAULT_PASSWORD, DEFAULT_USERNAME
from lgsp_sims.dvcqg.samples import sample_dossier
from lgsp_sims.dvcqg.simulator import PortalState, create_app
from lgsp_testkit import free_port, serve_asgi
from lgsp_testkit.contract import AdapterContract


class PortalRecipient:
    def __init__(self, state: PortalState, url: str) -> None:
        self.state, self.url = state, url

    def received_ids(self) -> list[str]:
        return [d["MaHoSo"] for d in self.state.dossier_summaries()]

    def fail_next(self, times: int = 1) -> None:
        self.state.fail_next(times, "http500")

    def reject_next(self, times: int = 1) -> None:
        # The portal refuses the dossier's content when it is written.
        self.state.fail_next(times, "refuse", service="DongBoHoSoMC")

    def stall_next(self, seconds: float) -> None:
        self.state.timeout_delay = seconds
        self.state.fail_next(1, "timeout")


def portal_settings(base_url: str) -> dict[str, Any]:
    return {
        "base_url": base_url,
        "username": DEFAULT_USERNAME,
        "password": DEFAULT_PASSWORD,
        "agency_code": DEFAULT_AGENCY,
    }


class TestDvcqgAdapter(AdapterContract):
    adapter_name = "dvcqg"
    agency_code = "000.00.00.G22"
    message_type = "dossier"
    bad_settings = [
        ({}, "base_url: Field required"),
        ({**portal_settings("ftp://portal"), "username": "u"}, "base_url"),
        (portal_settings("http://127.0.0.1:1") | {"username": ""}, "username"),
        (portal_settings("http://127.0.0.1:1") | {"auth_path": "auth"}, "auth_path"),
        (portal_settings("http://127.0.0.1:1") | {"pasword": "x"}, "pasword"),
    ]

    def payload(self, n: int) -> dict[str, Any]:
        return sample_dossier(f"000.00.01.H56-261202-{n:04d}")

    def received_key(self, message: Envelope) -> str:
        key: str = message.payload["MaHoSo"]
        return key

    @pytest.fixture
    def recipient(self) -> Iterator[PortalRecipient]:
        state = PortalState()
        with serve_asgi(create_app(state)) as url:
            yield PortalRecipient(state, url)

    @pytest.fixture
    def settings(self, recipient: PortalRecipient) -> dict[str, Any]:
        return portal_settings(recipient.url)

    @pytest.fixture
    def unreachable_settings(self) -> dict[str, Any]:
        return portal_settings(f"http://127.0.0.1:{free_port()}")
