"""A service whose request and success are declared in services.yaml (operation.mapping): the
SOAP land registry called with the caller's own field names, and its "not found" made a failure
by the service's success rule."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lgsp_testkit.rest_recipient import RestRecipient, serve_rest_recipient
from lgsp_testkit.soap_service import serve_land_registry

from tests.mediation.conftest import World, assert_problem, mediation_province
from tests.mediation.province import LAND_REGISTRY, Province
from tests.support.platform import live_platform

MAPPED = f"/v1/services/{LAND_REGISTRY}/TraCuuGiayChungNhan"


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    def edit(province: Province) -> None:
        province.add_service(
            LAND_REGISTRY,
            "TraCuuGiayChungNhan",
            operation={
                "operation": "LookupCertificate",
                "mapping": {
                    "fields": {"SoPhatHanh": {"from": "/serial", "transform": ["upper"]}},
                    "success": {"pointer": "/Found", "equals": True},
                },
            },
        )
        province.add_grant(agency="@reception", call=[f"{LAND_REGISTRY}/TraCuuGiayChungNhan"])

    with serve_land_registry() as land, serve_rest_recipient(RestRecipient()) as justice:
        config = mediation_province(tmp_path, land, justice, edit=edit)
        with live_platform(database_url, config_dir=config) as live:
            yield World(live, land, justice)


def test_a_mapped_soap_call(world: World) -> None:
    ok = world.call(MAPPED, {"serial": "cy 000123", "note": "dropped"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["Certificate"]["SoPhatHanh"] == "CY 000123"
    assert world.land.service.received[0].params == {"SoPhatHanh": "CY 000123"}

    missing = world.call(MAPPED, {"serial": "zz 999999"})
    problem = assert_problem(missing, 502, "upstream-error")
    assert "/Found is false" in problem["detail"]
    absent = world.call(MAPPED, {"other": 1})
    assert_problem(absent, 422, "unfit-request")
    assert len(world.land.service.received) == 2
