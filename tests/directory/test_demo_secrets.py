"""Demo secrets stay in development: outside it, `config check`, `config apply` and the
platform's start refuse demo secrets and their hashes, defaulted secrets and the placeholders
of docker/env.example, and nothing is applied."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

import lgsp.models
from lgsp.admin.province import apply_rows as apply_config
from lgsp.auth.models import OAuthClient
from lgsp.directory.config import check_config, load_config
from lgsp.directory.models import Agency, Endpoint
from lgsp.kit import migrate
from lgsp.kit.db import make_engine, make_sessionmaker, transaction
from lgsp.kit.secrets import hash_secret, verify_secret
from lgsp.kit.timeutil import utcnow
from lgsp.platform import Platform
from lgsp.settings import PROJECT_ROOT, InsecureSettingsError, Settings
from tests.directory.conftest import SAMPLE, Editor
from tests.support.cli import LGSP, cli_env

DEMO_AUDIT_SECRET = "demo-audit-secret-change-me"
# The auditor the sample province shipped until this was fixed: declared by the hash of the
# secret above, scope audit (reads every message).
DEMO_AUDITOR = {
    "client_id": "h56-audit",
    "agency": "000.00.00.H56",
    "scopes": ["audit"],
    "secret_hash": "scrypt$d2400a12588579854946b2ec889ebc3c"
    "$92c0bab34456882879d6af2b261e541b1abe5cfdd808a56c1c90f5d2a7e8abca",
}
PORTAL_PASSWORD_WITH_FALLBACK = "${LGSP_DVCQG_PASSWORD:-h56-portal-secret}"
STRONG_KEY = "k3y-" + "0123456789abcdefghijklmnopqrstuvwxyz"


def _env_example() -> dict[str, str]:
    values = {}
    for line in (PROJECT_ROOT / "docker" / "env.example").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            name, _, value = line.partition("=")
            values[name] = value
    return values


def production(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "production",
        "secret_key": STRONG_KEY,
        "database_url": f"sqlite:///{tmp_path / 'prod.db'}",
        "config_dir": SAMPLE,
    }
    values.update(overrides)
    return Settings(**values)


def lgsp(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LGSP, *args],
        env=cli_env(settings, **env),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def count(url: str, model: Any) -> int:
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(model)) or 0
    finally:
        engine.dispose()


@pytest.fixture
def prod(tmp_path: Path) -> Settings:
    settings = production(tmp_path)
    migrate.upgrade(settings.database_url)
    return settings


def test_the_sample_gives_production_no_login_with_a_printed_secret(prod: Settings) -> None:
    # The deployment of docker/compose.yaml: the image's config/ applied in production.
    result = lgsp(prod, "config", "apply", str(SAMPLE), LGSP_DVCQG_PASSWORD="p0rtal-" + "x" * 20)
    assert result.returncode == 0, result.stderr
    engine = make_engine(prod.database_url, pool_size=1)
    with make_sessionmaker(engine)() as session:
        clients = session.scalars(select(OAuthClient)).all()
    engine.dispose()
    assert not [c.client_id for c in clients if verify_secret(DEMO_AUDIT_SECRET, c.secret_hash)]
    assert count(prod.database_url, Agency) == 16


def test_a_demo_hash_is_refused_and_nothing_applied(
    prod: Settings, config_copy: Path, edit: Editor
) -> None:
    edit("clients.yaml", lambda d: d["clients"].append(DEMO_AUDITOR))
    for command in ("check", "apply"):
        result = lgsp(prod, "config", command, str(config_copy))
        assert result.returncode == 1, result.stdout
        assert "clients.yaml: clients[10].secret_hash: this is the hash of a demo secret" in (
            result.stdout
        )
        assert result.stderr.startswith("error: 1 configuration problem(s)")
    assert count(prod.database_url, Agency) == 0
    assert count(prod.database_url, OAuthClient) == 0


def test_the_demo_secret_rehashed_is_refused(config_copy: Path, edit: Editor) -> None:
    auditor = {**DEMO_AUDITOR, "secret_hash": hash_secret(DEMO_AUDIT_SECRET)}
    edit("clients.yaml", lambda d: d["clients"].append(auditor))
    problems = [str(p) for p in check_config(config_copy)]
    assert any("clients[10].secret_hash: this is the hash of a demo secret" in p for p in problems)
    assert check_config(config_copy, development=True) == []


def test_a_placeholder_or_demo_client_secret_is_refused(
    config_copy: Path, edit: Editor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LGSP_CLIENT_SECRET_ADMIN", _env_example()["LGSP_CLIENT_SECRET_ADMIN"])
    monkeypatch.setenv("LGSP_CLIENT_SECRET_TNMT", DEMO_AUDIT_SECRET)
    problems = [str(p) for p in check_config(config_copy)]
    assert any("clients[9].secret: the secret is a placeholder" in p for p in problems)
    assert any("clients[1].secret: the secret is a demo secret" in p for p in problems)


def test_a_defaulted_client_secret_is_refused(config_copy: Path, edit: Editor) -> None:
    def defaulted(data: Any) -> None:
        data["clients"][0]["secret"] = "${LGSP_CLIENT_SECRET_MOTCUA:-motcua-secret-0123456789}"

    edit("clients.yaml", defaulted)
    problems = [str(p) for p in check_config(config_copy)]
    assert any(
        "clients[0].secret: gives a secret a default (${LGSP_CLIENT_SECRET_MOTCUA:-...})" in p
        for p in problems
    ), problems
    assert check_config(config_copy, development=True) == []


def test_the_portal_password_fallback_is_refused_and_nothing_applied(
    prod: Settings, config_copy: Path, edit: Editor
) -> None:
    def fallback(data: Any) -> None:
        portal = next(a for a in data["agencies"] if a["code"] == "000.00.00.G22")
        portal["endpoint"]["settings"]["password"] = PORTAL_PASSWORD_WITH_FALLBACK

    edit("agencies.yaml", fallback)
    # The variable is unset: before, the literal in the file became the portal password.
    result = lgsp(prod, "config", "apply", str(config_copy), LGSP_DVCQG_PASSWORD="")
    assert result.returncode == 1
    assert (
        "agencies.yaml: agencies[12].endpoint.settings.password: gives a secret a default "
        "(${LGSP_DVCQG_PASSWORD:-...})"
    ) in result.stdout
    assert "nothing applied" in result.stdout
    assert count(prod.database_url, Endpoint) == 0
    # Set or not, the fallback stays refused outside development (a forgotten variable later
    # would silently bring it back); development takes it.
    assert check_config(config_copy) != []
    assert check_config(config_copy, development=True) == []


def test_env_example_placeholders_are_refused(
    prod: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = _env_example()
    # LGSP_SECRET_KEY: long enough for the length check, still the example's placeholder.
    assert len(example["LGSP_SECRET_KEY"]) >= 32
    with pytest.raises(InsecureSettingsError, match="LGSP_SECRET_KEY is a placeholder"):
        production(tmp_path, secret_key=example["LGSP_SECRET_KEY"])
    url = f"postgresql+psycopg://lgsp:{example['POSTGRES_PASSWORD']}@postgres:5432/lgsp"
    with pytest.raises(InsecureSettingsError, match="password in LGSP_DATABASE_URL"):
        production(tmp_path, database_url=url)
    broker = f"amqp://lgsp:{example['RABBITMQ_PASSWORD']}@rabbitmq:5672/%2F"
    with pytest.raises(InsecureSettingsError, match="password in LGSP_BROKER_URL"):
        production(tmp_path, broker_url=broker)
    redis = f"redis://:{example['REDIS_PASSWORD']}@redis:6379/0"
    with pytest.raises(InsecureSettingsError, match="password in LGSP_REDIS_URL"):
        production(tmp_path, redis_url=redis)
    # The portal password of the example reaches config check as a placeholder.
    monkeypatch.setenv("LGSP_DVCQG_PASSWORD", example["LGSP_DVCQG_PASSWORD"])
    problems = [str(p) for p in check_config(SAMPLE)]
    assert any("settings.password: the secret is a placeholder" in p for p in problems)
    # The command line refuses to work with it, and applies nothing.
    result = lgsp(prod, "config", "apply", str(SAMPLE), LGSP_SECRET_KEY=example["LGSP_SECRET_KEY"])
    assert result.returncode != 0
    assert "LGSP_SECRET_KEY is a placeholder" in result.stderr
    assert count(prod.database_url, Agency) == 0


def test_start_refuses_a_database_holding_the_demo_auditor(tmp_path: Path) -> None:
    # A database a former release configured: the demo auditor is in it.
    dev = production(tmp_path, env="development")
    migrate.upgrade(dev.database_url)
    engine = make_engine(dev.database_url, pool_size=1)
    with transaction(make_sessionmaker(engine)) as session:
        apply_config(session, load_config(SAMPLE))
        session.add(
            OAuthClient(
                client_id="h56-audit",
                agency_code="000.00.00.H56",
                name="",
                scopes="audit",
                secret_hash=DEMO_AUDITOR["secret_hash"],
                created_at=utcnow(),
            )
        )
    engine.dispose()

    platform = Platform.build(production(tmp_path))
    try:
        with pytest.raises(InsecureSettingsError, match="client h56-audit logs in with the hash"):
            platform.start()
    finally:
        platform.close()
    # Development starts with it.
    platform = Platform.build(dev)
    try:
        platform.start()
    finally:
        platform.close()
