"""A platform whose land registry (SOAP) and Department of Justice (REST) are real servers started
by the test, with a few REST services added to the sample province for the calls."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from lgsp_testkit.rest_recipient import RestRecipient, RunningRecipient, serve_rest_recipient
from lgsp_testkit.soap_service import RunningService, serve_land_registry
from sqlalchemy import select

from lgsp.messagelog.models import LogEntry
from tests.mediation.province import JUSTICE, LAND_REGISTRY, Province
from tests.support.platform import ONE_STOP, LivePlatform, live_platform

# Short enough for a timeout test to take about a second, long enough for loopback.
PROVIDER_TIMEOUT = 1.0
BREAKER_THRESHOLD = 3
BREAKER_COOLDOWN = 0.5

LOOKUP = f"/v1/services/{LAND_REGISTRY}/LookupCertificate"


@dataclass
class World:
    live: LivePlatform
    land: RunningService
    justice: RunningRecipient
    # One token per agency for the whole test: a token request per call would make each call
    # pay for a secret hash, enough under load to outlast the breaker's short cooldown.
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)

    def auth(self, agency: str) -> dict[str, str]:
        if agency not in self.tokens:
            self.tokens[agency] = self.live.auth(agency)
        return self.tokens[agency]

    def call(
        self,
        path: str,
        body: Any = None,
        *,
        agency: str = ONE_STOP,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        with self.live.http() as http:
            return http.post(
                path,
                json=body,
                headers=self.auth(agency) if headers is None else headers,
            )

    def log(self, *kinds: str) -> list[LogEntry]:
        with self.live.platform.sessions() as session:
            query = select(LogEntry).order_by(LogEntry.id)
            if kinds:
                query = query.where(LogEntry.kind.in_(kinds))
            return list(session.scalars(query))

    def land_hits(self) -> int:
        """Requests that reached the SOAP service, whatever it answered."""
        return len(self.land.service.attempts)


def mediation_province(
    tmp_path: Path,
    land: RunningService,
    justice: RunningRecipient,
    justice_path: str = "",
    edit: Callable[[Province], None] | None = None,
) -> Path:
    province = Province(tmp_path)
    soap = province.endpoint(LAND_REGISTRY)
    soap["settings"]["wsdl"] = land.wsdl_url
    soap["timeout_seconds"] = PROVIDER_TIMEOUT
    rest = province.endpoint(JUSTICE)
    rest["settings"]["url"] = justice.base_url + justice_path
    rest["timeout_seconds"] = PROVIDER_TIMEOUT
    # The recipient's certificate register, by serial in the path.
    province.add_service(
        JUSTICE,
        "TraCuuGCN",
        operation={"method": "GET", "path": "/land/certificates/{SoPhatHanh}"},
    )
    # The same register, but promised to answer land-certificate/1 records (it does not).
    province.add_service(
        JUSTICE,
        "TraCuuGCNChuan",
        operation={"method": "GET", "path": "/land/certificates/{SoPhatHanh}"},
        response_schema="land-certificate/1",
    )
    # The sample's look-up without its contract: the adapter alone judges the request.
    province.add_service(
        LAND_REGISTRY, "LookupCertificateRaw", operation={"operation": "LookupCertificate"}
    )
    # The recipient echoes GETs: shows what path and query reached it.
    province.add_service(
        JUSTICE, "Echo", operation={"method": "GET", "sub_paths": ["/ho-so/{MaHoSo}"]}
    )
    province.add_service(
        JUSTICE, "GuiTinNhan", operation={"path": "/sms"}, request_schema="sms-notification/1"
    )
    province.add_grant(
        agency="@reception", call=[f"{JUSTICE}/*", f"{LAND_REGISTRY}/LookupCertificateRaw"]
    )
    if edit is not None:
        edit(province)
    return province.save()


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    with (
        serve_land_registry() as land,
        serve_rest_recipient(RestRecipient()) as justice,
        live_platform(
            database_url,
            config_dir=mediation_province(tmp_path, land, justice),
            breaker_threshold=BREAKER_THRESHOLD,
            breaker_cooldown_seconds=BREAKER_COOLDOWN,
        ) as live,
    ):
        yield World(live, land, justice)


def assert_problem(r: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = r.json()
    assert problem["type"].endswith("/" + slug), problem
    assert problem["status"] == status and problem["detail"]
    return problem
