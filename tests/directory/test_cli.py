"""`lgsp config check` and `lgsp config apply` as a user runs them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

import lgsp.models  # noqa: F401 - every table in the metadata
from lgsp.cli.config import app
from lgsp.directory.models import Agency
from lgsp.kit.db import Base, make_engine
from lgsp.settings import get_settings
from tests.directory.conftest import SAMPLE, Editor


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url, pool_size=1)
    Base.metadata.create_all(engine)
    engine.dispose()
    monkeypatch.setenv("LGSP_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_check_sample() -> None:
    result = run("check", str(SAMPLE))
    assert result.exit_code == 0, result.output
    assert "ok (H56): 16 agencies, 8 message types" in result.output


def test_check_broken_prints_file_key_reason(config_copy: Path, edit: Editor) -> None:
    def change(data: Any) -> None:
        data["routes"]["dossier-to-tnmt"]["recipient"] = "000.00.99.H56"
        data["routes"]["dossier-to-portal"]["condition"] = {"pointer": "/MaHoSo"}

    edit("routes.yaml", change)
    result = run("check", str(config_copy))
    assert result.exit_code == 1
    assert "routes.yaml: routes.dossier-to-tnmt.recipient: unknown agency 000.00.99.H56" in (
        result.output
    )
    assert "routes.yaml: routes.dossier-to-portal.condition: needs exactly one test" in (
        result.output
    )
    assert "2 problem(s)" in result.output


def test_apply_twice(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LGSP_CLIENT_SECRET_MOTCUA", "motcua-secret-0123456789abcdef")
    dry = run("apply", "--dry-run", str(SAMPLE))
    assert dry.exit_code == 0, dry.output
    assert "row(s) would change" in dry.output
    assert _agencies(database) == 0

    first = run("apply", str(SAMPLE))
    assert first.exit_code == 0, first.output
    assert "agencies: 16 created, 0 updated, 0 removed" in first.output
    assert "warning: client h56-tnmt skipped" in first.output
    assert _agencies(database) == 16

    second = run("apply", str(SAMPLE))
    assert second.exit_code == 0, second.output
    assert "0 row(s) changed" in second.output


def test_apply_refuses_a_broken_configuration(
    database: str, config_copy: Path, edit: Editor
) -> None:
    edit("agencies.yaml", lambda d: d["agencies"][1].update(code="1.H56"))
    result = run("apply", str(config_copy))
    assert result.exit_code == 1
    assert "agencies.yaml: agencies[1].code:" in result.output
    assert "nothing applied" in result.output
    assert _agencies(database) == 0


def _agencies(url: str) -> int:
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(Agency)) or 0
    finally:
        engine.dispose()
