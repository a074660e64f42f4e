"""`lgsp adapters new`: the scaffolded plug-in is a package of its own that, installed into a
fresh virtual environment outside the repository beside the platform and the test kit, passes
the adapter contract with its own tests."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from lgsp.settings import PROJECT_ROOT
from tests.support.cli import LGSP

PLACEHOLDER = re.compile(r"__(DIST|PACKAGE|CLASS|ENV|NAME|KIND)__")


def new(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LGSP, "adapters", "new", *args, "--dir", str(tmp)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("kind", ["rest", "soap"])
def test_the_scaffold_is_an_installable_plug_in(tmp_path: Path, kind: str) -> None:
    run = new(tmp_path, "vnpost-sms", "--kind", kind)
    assert run.returncode == 0, run.stderr
    root = tmp_path / "lgsp-vnpost-sms"
    package = root / "src" / "lgsp_vnpost_sms"
    for path in ("settings.py", "adapter.py", "py.typed", "__init__.py"):
        assert (package / path).is_file(), path
    for path in ("tests/fake_recipient.py", "tests/test_contract.py", "config/endpoint.yaml"):
        assert (root / path).is_file(), path
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["name"] == "lgsp-vnpost-sms"
    assert project["project"]["entry-points"]["lgsp.adapters"] == {
        "vnpost-sms": "lgsp_vnpost_sms.adapter:VnpostSmsAdapter"
    }
    assert "lgsp-testkit" in project["project"]["optional-dependencies"]["test"]
    adapter = (package / "adapter.py").read_text()
    base = {"rest": "RestAdapter", "soap": "SoapAdapter"}[kind]
    assert f"class VnpostSmsAdapter({base}):" in adapter and 'name = "vnpost-sms"' in adapter
    assert (
        "from lgsp_testkit.contract import AdapterContract"
        in (root / "tests" / "test_contract.py").read_text()
    )
    assert "adapter: vnpost-sms" in (root / "config" / "endpoint.yaml").read_text()
    # Every file is complete: no placeholder is left.
    assert [p for p in root.rglob("*") if p.is_file() and PLACEHOLDER.search(p.read_text())] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Bad_Name", "--kind", "rest"], "adapter name 'Bad_Name': lower-case letters"),
        (["rest", "--kind", "rest"], "an adapter named 'rest' is already installed"),
        (["sms", "--kind", "grpc"], "--kind must be rest or soap, not 'grpc'"),
    ],
)
def test_a_bad_scaffold_request_is_one_clear_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    run = new(tmp_path, *args)
    assert run.returncode == 1
    assert run.stderr.strip() == f"lgsp adapters new: {message}" or (
        run.stderr.startswith(f"lgsp adapters new: {message}") and run.stderr.count("\n") == 1
    ), run.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "lgsp-sms").mkdir()
    (tmp_path / "lgsp-sms" / "keep.txt").write_text("mine")
    run = new(tmp_path, "sms", "--kind", "rest")
    assert run.returncode == 1 and "already exists" in run.stderr
    assert [p.name for p in (tmp_path / "lgsp-sms").iterdir()] == ["keep.txt"]


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_scaffolds_pass_their_contract_tests_in_a_fresh_environment(tmp_path: Path) -> None:
    assert not tmp_path.resolve().is_relative_to(PROJECT_ROOT)
    for name, kind in (("sms-gateway", "rest"), ("land-office", "soap")):
        assert new(tmp_path, name, "--kind", kind).returncode == 0
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    install = subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "-e",
            str(PROJECT_ROOT),
            "-e",
            str(PROJECT_ROOT / "adapters" / "testkit"),
            f"{tmp_path / 'lgsp-sms-gateway'}[test]",
            str(tmp_path / "lgsp-land-office"),
        ],
        capture_output=True,
        text=True,
        timeout=1000,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    listed = subprocess.run(
        [str(venv / "bin" / "lgsp"), "adapters", "list"], capture_output=True, text=True
    )
    assert {"sms-gateway", "land-office", "rest", "soap"} <= set(listed.stdout.split())
    for project in ("lgsp-sms-gateway", "lgsp-land-office"):
        run = subprocess.run(
            [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
            cwd=tmp_path / project,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
        assert "12 passed" in run.stdout, run.stdout[-2000:]
