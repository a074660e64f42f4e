"""The platform's wheel ships the platform and its built-in adapters, and nothing of the test lab:
no simulator, no test kit, no test double."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lgsp.settings import PROJECT_ROOT

# Names only the simulators and test doubles define.
TEST_LAB_NAMES = ("xml_bomb", "RestRecipient", "LandRegistryService", "PortalState", "run_simul")
TEST_LAB_PATHS = re.compile(
    r"(^|/)(lgsp_sims|lgsp_testkit)(/|$)|_sim\.py$|simulator|recipient|bomb"
)


def build_wheel(tmp_path: Path) -> Path:
    """Build from a copy of the sources, so no build/ or egg-info is left in the tree and none
    from an earlier build leaks in."""
    source = tmp_path / "src"
    source.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "*.pyc")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT_ROOT / name, source / name)
    for folder in ("lgsp", "adapters"):  # adapters/ with the kit and the simulators beside
        shutil.copytree(PROJECT_ROOT / folder, source / folder, ignore=skip)
    out = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(source), "-w", str(out)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    [wheel] = out.glob("lgsp-*.whl")
    return wheel


@pytest.mark.slow
def test_the_wheel_holds_the_platform_and_adapters_but_no_test_lab(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        sources = {n: archive.read(n).decode() for n in names if n.endswith(".py")}
        entry_points = next(
            (archive.read(n).decode() for n in names if n.endswith("entry_points.txt")), ""
        )
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"lgsp", "lgsp_adapters"}
    for package in ("lgsp/app.py", "lgsp_adapters/registry.py", "lgsp_adapters/dvcqg/adapter.py"):
        assert package in names
    assert [n for n in names if TEST_LAB_PATHS.search(n)] == []
    assert {n: w for n, text in sources.items() for w in TEST_LAB_NAMES if w in text} == {}
    assert "lgsp.simulators" not in entry_points and "pytest11" not in entry_points
