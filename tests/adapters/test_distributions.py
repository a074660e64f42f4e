"""The three distributions under adapters/ keep their boundaries: the core never names a
simulator or the test kit, simulators never import the adapters, and simulators and demo samples
are found through entry points."""

from __future__ import annotations

import ast
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from lgsp_adapters.dvcqg import codes as adapter_codes
from lgsp_sims.dvcqg import codes as simulator_codes

from lgsp.devsetup import SIMULATOR_GROUP, registered_simulators
from lgsp.settings import PROJECT_ROOT

CORE = PROJECT_ROOT / "lgsp"
SIMS = PROJECT_ROOT / "adapters" / "sims" / "lgsp_sims"


def imported_modules(root: Path) -> dict[str, set[str]]:
    """Top-level package of every import in every module under ``root``, by file."""
    found: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(PROJECT_ROOT))] = names
    return found


def test_the_core_never_names_the_simulators_or_the_kit() -> None:
    imports = {
        path: sorted(names & {"lgsp_sims", "lgsp_testkit"})
        for path, names in imported_modules(CORE).items()
    }
    assert {path: names for path, names in imports.items() if names} == {}
    mentions = [
        str(path.relative_to(PROJECT_ROOT))
        for path in CORE.rglob("*.py")
        if "lgsp_sims" in path.read_text() or "lgsp_testkit" in path.read_text()
    ]
    assert mentions == []


def test_simulators_never_import_the_adapters() -> None:
    imports = {
        path: sorted(names & {"lgsp_adapters"}) for path, names in imported_modules(SIMS).items()
    }
    assert {path: names for path, names in imports.items() if names} == {}


def test_simulators_register_through_the_entry_point_group() -> None:
    names = {point.name for point in entry_points(group=SIMULATOR_GROUP)}
    assert names >= {"dvcqg", "onestop", "land-registry", "department", "justice", "sms"}
    specs = registered_simulators()
    assert set(specs) == names
    offsets = [spec.port_offset for spec in specs.values()]
    assert len(set(offsets)) == len(offsets) and 0 not in offsets
    variables = [v for spec in specs.values() for v in spec.environment]
    assert len(set(variables)) == len(variables)
    assert {"LGSP_DVCQG_URL", "LGSP_TNMT_WSDL", "LGSP_MOTCUA_URL"} <= set(variables)
    # Every entry builds a fresh app of its own.
    assert specs["dvcqg"].create_app() is not specs["dvcqg"].create_app()


def test_demo_samples_come_through_an_entry_point() -> None:
    points = {point.name: point for point in entry_points(group="lgsp.demo")}
    dossier = points["dossier"].load()("000.00.01.H56-261202-0001")
    assert dossier["MaHoSo"] == "000.00.01.H56-261202-0001"
    assert dossier["TrangThaiHoSo"] == "2"


@pytest.mark.parametrize(
    "name",
    ["PortalCode", "STATUS_NAMES", "STAGE", "FINAL_STAGE", "DATE_FORMAT"],
)
def test_the_simulators_reading_of_the_portal_rules_matches_the_adapters(name: str) -> None:
    ours, theirs = getattr(simulator_codes, name), getattr(adapter_codes, name)
    if isinstance(ours, type):
        assert {m.name: m.value for m in ours} == {m.name: m.value for m in theirs}
    else:
        assert ours == theirs


def test_the_simulators_portal_helpers_agree_with_the_adapters() -> None:
    values: list[object] = ["20261202093000", "20261302093000", "2026120209300", 4, "4", "11"]
    values += [True, None, "x"]
    for value in values:
        assert simulator_codes.is_portal_date(value) == adapter_codes.is_portal_date(value)
        assert simulator_codes.parse_status(value) == adapter_codes.parse_status(value)
    for current in adapter_codes.STATUS_NAMES:
        for new in adapter_codes.STATUS_NAMES:
            assert simulator_codes.is_regression(current, new) == adapter_codes.is_regression(
                current, new
            )
