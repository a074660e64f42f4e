"""A real platform for tests: migrated database, applied province configuration, the API served
by uvicorn on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from lgsp_testkit.servers import free_port, serve_asgi

from lgsp.admin.clients import create_client
from lgsp.admin.province import apply as apply_config
from lgsp.app import create_app
from lgsp.directory.config import load_config
from lgsp.kit import migrate
from lgsp.kit.db import make_engine, make_sessionmaker
from lgsp.platform import Platform
from lgsp.settings import PROJECT_ROOT, Settings

SAMPLE_CONFIG = PROJECT_ROOT / "config"
TEST_SECRET = "test-secret-key-0123456789abcdef0123456789"

# Agency codes of the sample province (config/agencies.yaml).
ONE_STOP = "000.00.01.H56"
TNMT = "000.00.12.H56"  # Natural Resources and Environment (pull)
TUPHAP = "000.00.16.H56"  # Justice
KHDT = "000.00.07.H56"  # Planning and Investment (pull)
PORTAL = "000.00.00.G22"
IOC = "000.01.13.H56"


def make_settings(database_url: str, base_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "secret_key": TEST_SECRET,
        "database_url": database_url,
        "issuer": base_url,
        "config_dir": SAMPLE_CONFIG,
        "seal_interval_seconds": 0.2,
        "relay_poll_seconds": 0.02,
        "retry_base_seconds": 0.05,
        "retry_max_seconds": 0.5,
        "lease_seconds": 5.0,
    }
    values.update(overrides)
    return Settings(**values)


def prepare_database(settings: Settings, config_dir: Path | None = None) -> None:
    migrate.upgrade(settings.database_url)
    engine = make_engine(settings.database_url, pool_size=1)
    apply_config(
        make_sessionmaker(engine), load_config(config_dir or settings.config_dir), actor="test"
    )
    engine.dispose()


@dataclass
class LivePlatform:
    url: str
    settings: Settings
    app: FastAPI
    clients: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def platform(self) -> Platform:
        platform: Platform = self.app.state.platform
        return platform

    def http(self, **kw: Any) -> httpx.Client:
        kw.setdefault("timeout", 30)
        return httpx.Client(base_url=self.url, **kw)

    def new_client(self, agency: str, scopes: str) -> tuple[str, str]:
        client, secret = create_client(self.platform.sessions, agency, scopes.split(), name="test")
        return client.client_id, secret

    def token(
        self,
        agency: str,
        scopes: str = "messages:send messages:read inbox:read services:call schemas:validate",
    ) -> str:
        key = f"{agency} {scopes}"
        if key not in self.clients:
            self.clients[key] = self.new_client(agency, scopes)
        client_id, secret = self.clients[key]
        with self.http() as http:
            r = http.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
            )
        assert r.status_code == 200, r.text
        token: str = r.json()["access_token"]
        return token

    def auth(self, agency: str, scopes: str | None = None) -> dict[str, str]:
        token = self.token(agency) if scopes is None else self.token(agency, scopes)
        return {"Authorization": f"Bearer {token}"}


@contextmanager
def live_platform(
    database_url: str, *, config_dir: Path | None = None, **overrides: Any
) -> Iterator[LivePlatform]:
    overrides.setdefault("inprocess_workers", False)
    # Tests make many requests from one address; tests of the limits turn them on.
    overrides.setdefault("rate_limits_enabled", False)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = make_settings(database_url, base, **overrides)
    if config_dir is not None:
        settings = settings.model_copy(update={"config_dir": config_dir})
    prepare_database(settings)
    app = create_app(settings)
    with serve_asgi(app, port=port):
        yield LivePlatform(base, settings, app)
