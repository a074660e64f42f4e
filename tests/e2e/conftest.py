"""A running platform with the e2e test province (tests/e2e/province) and real simulators:
the national portal, a REST one-stop office, a SOAP processing department, a REST department and
a pull department. Parametrised over the transports."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from lgsp_sims.runner import RunningSimulators, run_simulators

from tests.support.broker import Broker
from tests.support.platform import LivePlatform, live_platform
from tests.support.services import RABBIT_URL, fresh_pg_database, require

PROVINCE = Path(__file__).parent / "province"
OFFICE = "000.00.01.H56"
TNMT = "000.00.12.H56"
JUSTICE = "000.00.16.H56"
KHDT = "000.00.07.H56"
PORTAL = "000.00.00.G22"


@dataclass
class Flow:
    live: LivePlatform
    sims: RunningSimulators

    def sim(self, name: str) -> httpx.Client:
        return httpx.Client(base_url=self.sims.urls[name], timeout=10)

    def sim_get(self, name: str, path: str) -> Any:
        with self.sim(name) as c:
            r = c.get(path)
            return r.json() if r.status_code == 200 else None

    def control(self, name: str, **body: Any) -> None:
        with self.sim(name) as c:
            r = c.post("/_sim/control", json=body)
            assert r.status_code == 200, r.text

    def send(self, agency: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.live.http() as http:
            r = http.post("/v1/messages", json=body, headers=self.live.auth(agency))
        assert r.status_code == 202, r.text
        accepted: dict[str, Any] = r.json()
        return accepted

    def message(self, agency: str, message_id: str) -> dict[str, Any]:
        with self.live.http() as http:
            r = http.get(f"/v1/messages/{message_id}", headers=self.live.auth(agency))
        assert r.status_code == 200, r.text
        view: dict[str, Any] = r.json()
        return view


def wait_for(check: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


TRANSPORTS = [
    pytest.param(("sqlite", "embedded"), id="sqlite-embedded"),
    pytest.param(("postgresql", "embedded"), id="postgresql-embedded"),
    pytest.param(("postgresql", "amqp"), id="postgresql-amqp", marks=pytest.mark.rabbitmq),
]


@pytest.fixture(params=TRANSPORTS)
def flow(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Flow]:
    database, transport = request.param
    overrides: dict[str, Any] = {"inprocess_workers": True, "config_dir": PROVINCE}
    broker: Broker | None = None
    if transport == "amqp":
        require("rabbitmq")
        broker = Broker(RABBIT_URL, f"lgsp-e2e-{secrets.token_hex(4)}")
        overrides["broker_url"] = RABBIT_URL
        overrides["amqp_prefix"] = broker.prefix
        request.addfinalizer(lambda: broker.delete([OFFICE, TNMT, JUSTICE, KHDT, PORTAL]))
    with run_simulators(
        only=["dvcqg", "onestop", "department", "justice"],
        ports={"dvcqg": 0, "onestop": 0, "department": 0, "justice": 0},
    ) as sims:
        monkeypatch.setenv("E2E_OFFICE_URL", sims.urls["onestop"])
        monkeypatch.setenv("E2E_JUSTICE_URL", sims.urls["justice"])
        monkeypatch.setenv("E2E_DEPARTMENT_WSDL", sims.urls["department"] + "/?wsdl")
        monkeypatch.setenv("E2E_DVCQG_URL", sims.urls["dvcqg"])
        if database == "sqlite":
            url = f"sqlite:///{tmp_path / 'lgsp.db'}"
            with live_platform(url, **overrides) as live:
                yield Flow(live, sims)
        else:
            with fresh_pg_database() as url, live_platform(url, **overrides) as live:
                yield Flow(live, sims)
