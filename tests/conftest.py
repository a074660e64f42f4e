from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lgsp.directory.config import development_environment
from lgsp.settings import PROJECT_ROOT
from tests.support.services import fresh_pg_database


def pytest_configure(config: pytest.Config) -> None:
    # The sample province names variables for its simulators' demo accounts (the portal's
    # password); tests run it against simulators, as development does.
    for name, value in development_environment(PROJECT_ROOT / "config").items():
        os.environ.setdefault(name, value)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'lgsp.db'}"
    else:
        with fresh_pg_database() as url:
            yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'lgsp.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_pg_database() as url:
        yield url
