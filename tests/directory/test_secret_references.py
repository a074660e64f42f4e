"""Endpoint settings keep their `${VAR}` references in the database: `config apply` with the
secrets in environment variables leaves no secret value in the endpoints table, and the
adapter built from the stored row has them."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from lgsp_adapters.rest import RestSettings
from sqlalchemy import text

from lgsp.adapterpool import AdapterPool
from lgsp.directory.repository import DirectoryCache
from lgsp.kit import migrate
from lgsp.kit.db import make_engine, make_sessionmaker
from lgsp.settings import PROJECT_ROOT, Settings
from tests.directory.conftest import Editor
from tests.support.cli import LGSP, cli_env

ONE_STOP, JUSTICE, LAND, PORTAL = "000.00.01.H56", "000.00.16.H56", "000.01.12.H56", "000.00.00.G22"
SECRETS = {
    "LGSP_T_MOTCUA_TOKEN": "bearer-motcua-7f3a9c1e5d",
    "LGSP_T_TUPHAP_PASSWORD": "basic-tuphap-2b8e4d6f0a",
    "LGSP_T_LAND_PASSWORD": "wss-land-9d1c3e5a7b",
    "LGSP_DVCQG_PASSWORD": "portal-pw-4a6c8e0b2d",
}


def _with_secret_references(data: Any) -> None:
    by_code = {a["code"]: a for a in data["agencies"]}
    by_code[ONE_STOP]["endpoint"]["settings"]["auth"] = {
        "type": "bearer",
        "token": "${LGSP_T_MOTCUA_TOKEN}",
    }
    by_code[JUSTICE]["endpoint"]["settings"]["auth"] = {
        "type": "basic",
        "username": "lgsp",
        "password": "${LGSP_T_TUPHAP_PASSWORD}",
    }
    by_code[LAND]["endpoint"]["settings"]["ws_security"] = {
        "username": "lgsp",
        "password": "${LGSP_T_LAND_PASSWORD}",
    }


def test_apply_stores_references_not_secrets(
    database_url: str, config_copy: Path, edit: Editor, monkeypatch: pytest.MonkeyPatch
) -> None:
    edit("agencies.yaml", _with_secret_references)
    migrate.upgrade(database_url)
    settings = Settings(
        env="production",
        secret_key="k3y-0123456789abcdefghijklmnopqrstuvwxyz",
        database_url=database_url,
        config_dir=config_copy,
    )
    result = subprocess.run(
        [LGSP, "config", "apply", str(config_copy)],
        env=cli_env(settings, **SECRETS),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr

    engine = make_engine(database_url, pool_size=1)
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT agency_code, settings FROM endpoints")).all())
    table = repr(rows)
    for value in SECRETS.values():
        assert value not in table
    stored = {code: str(rows[code]) for code in (ONE_STOP, JUSTICE, LAND, PORTAL)}
    assert "${LGSP_T_MOTCUA_TOKEN}" in stored[ONE_STOP]
    assert "${LGSP_T_TUPHAP_PASSWORD}" in stored[JUSTICE]
    assert "${LGSP_T_LAND_PASSWORD}" in stored[LAND]
    assert "${LGSP_DVCQG_PASSWORD}" in stored[PORTAL]

    # The process that builds the adapter resolves the references from its environment.
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    pool = AdapterPool(DirectoryCache(make_sessionmaker(engine)))
    try:
        built = pool.get(ONE_STOP).settings
        assert isinstance(built, RestSettings)
        assert built.auth.token.get_secret_value() == SECRETS["LGSP_T_MOTCUA_TOKEN"]  # type: ignore[union-attr]
        assert str(built.url) == "http://127.0.0.1:8182/"
    finally:
        pool.close()
        engine.dispose()
