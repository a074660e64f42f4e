"""Service contracts: every service of the sample province declares what it takes and what it
answers; a caller's mistake is a 4xx problem the same way on every service, and a provider's own
refusal comes back inside a problem, never in the provider's raw format."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lgsp_adapters.dvcqg.adapter import portal_string
from lgsp_sims.dvcqg.simulator import PortalState, create_app
from lgsp_testkit.rest_recipient import RestRecipient, serve_rest_recipient
from lgsp_testkit.servers import serve_asgi
from lgsp_testkit.soap_service import serve_land_registry

from lgsp.settings import PROJECT_ROOT
from lgsp.validation.catalogue import SchemaCatalogue
from tests.mediation.conftest import World, assert_problem, mediation_province
from tests.mediation.province import Province
from tests.support.platform import SAMPLE_CONFIG, live_platform

PORTAL = "000.00.00.G22"
SAMPLE_SERVICES: list[dict[str, Any]] = yaml.safe_load(
    (SAMPLE_CONFIG / "services.yaml").read_text("utf-8")
)["services"]


class PortalWorld(World):
    portal: PortalState


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[PortalWorld]:
    portal = PortalState()
    with (
        serve_land_registry() as land,
        serve_rest_recipient(RestRecipient()) as justice,
        serve_asgi(create_app(portal)) as portal_url,
    ):

        def edit(province: Province) -> None:
            province.endpoint(PORTAL)["settings"]["base_url"] = portal_url

        config = mediation_province(tmp_path, land, justice, edit=edit)
        with live_platform(database_url, config_dir=config) as live:
            running = PortalWorld(live, land, justice)
            running.portal = portal
            yield running


def test_every_sample_service_declares_its_contract_with_examples_that_fit() -> None:
    catalogue = SchemaCatalogue(PROJECT_ROOT / "schemas")
    assert SAMPLE_SERVICES
    for service in SAMPLE_SERVICES:
        for field in ("request_schema", "response_schema"):
            schema_id = service.get(field)
            assert schema_id, f"{service['name']} declares no {field}"
            schema = catalogue.get(schema_id)
            assert schema["x-lgsp-kind"] == "service" and schema["description"]
            name = schema_id.split("/")[0]
            examples = sorted((PROJECT_ROOT / "schemas" / name / "examples").glob("*.json"))
            assert examples, f"{schema_id} has no example"
            for example in examples:
                assert catalogue.errors(schema_id, json.loads(example.read_text())) == []
    # Contracts are not message types.
    assert not {s["request_schema"].split("/")[0] for s in SAMPLE_SERVICES} & set(catalogue.names())


def test_a_missing_field_is_the_same_422_on_every_service(world: PortalWorld) -> None:
    for service in SAMPLE_SERVICES:
        path = f"/v1/services/{service['provider']}/{service['name']}"
        problem = assert_problem(world.call(path, {}), 422, "validation-failed")
        assert [e["keyword"] for e in problem["errors"]] == ["required"], problem
        nested = world.call(path, {"SoPhatHanh": {"a": 1}, "MaHoSo": {"a": 1}})
        assert_problem(nested, 422, "validation-failed")
        assert "unexpected" not in nested.text
    assert world.land_hits() == 0 and world.portal.calls == []
    assert world.log("call.request") == []


def test_a_providers_refusal_comes_inside_a_problem(world: PortalWorld) -> None:
    r = world.call(f"/v1/services/{PORTAL}/TraCuuHoSo", {"MaHoSo": "000.00.01.H56-261126-0001"})
    problem = assert_problem(r, 404, "upstream-rejected")
    assert problem["upstream_status"] == 404
    assert problem["upstream_reply"]["error_code"] == 5
    assert "000.00.01.H56-261126-0001" in problem["upstream_reply"]["message"]
    # Told apart from the platform's own 404 by its type, not by guessing at the content type.
    unknown = world.call(f"/v1/services/{PORTAL}/KhongCo", {})
    assert_problem(unknown, 404, "not-found")


def test_a_found_dossier_passes_the_reply_contract(world: PortalWorld) -> None:
    dossier = json.loads((PROJECT_ROOT / "schemas/dossier/examples/1.json").read_text())
    world.portal.sync([portal_string(dossier)], "False")
    r = world.call(f"/v1/services/{PORTAL}/TraCuuHoSo", {"MaHoSo": dossier["MaHoSo"]})
    assert r.status_code == 200, r.text
    assert r.json()["MaHoSo"] == dossier["MaHoSo"] and r.json()["QuaTrinhXuLy"] == []
