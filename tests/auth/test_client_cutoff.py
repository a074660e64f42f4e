"""Disabling a client, rotating its secret, changing its scopes or removing it from the province
configuration cuts off the tokens it already holds, on every API process of the platform: each
process learns the client's "valid after" time within its refresh interval.

Two app instances share one PostgreSQL database, as two API processes behind a load balancer do.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import func, select

from lgsp.admin import clients as service
from lgsp.admin.province import ApplyReport
from lgsp.admin.province import apply_rows as apply_config
from lgsp.auth.models import OAuthClient
from lgsp.directory.config import load_config
from lgsp.exchange.models import Message
from lgsp.kit.db import transaction
from lgsp.kit.secrets import hash_secret
from tests.support.platform import KHDT, SAMPLE_CONFIG, LivePlatform, live_platform

CONFIG_CLIENT = "h56-cutoff-test"
CONFIG_SECRET = "cutoff-test-secret-0123456789abcdef"
CONFIG_SECRET_HASH = hash_secret(CONFIG_SECRET)
SCOPES = ["messages:send", "messages:read", "inbox:read"]
# Generous bound for a process to notice a change; the documented staleness is far below it.
NOTICE_WITHIN = 10.0


@dataclass
class Pair:
    """Two API processes of one platform, and the province configuration they were given."""

    a: LivePlatform
    b: LivePlatform
    config_dir: Path

    def apply(self, clients: list[dict[str, object]]) -> ApplyReport:
        (self.config_dir / "clients.yaml").write_text(
            yaml.safe_dump({"clients": clients}, allow_unicode=True), "utf-8"
        )
        with transaction(self.a.platform.sessions) as session:
            return apply_config(session, load_config(self.config_dir))

    def messages(self) -> int:
        with self.a.platform.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(Message)) or 0)


def config_client(scopes: list[str]) -> dict[str, object]:
    return {
        "client_id": CONFIG_CLIENT,
        "agency": KHDT,
        "name": "cut-off test",
        "scopes": scopes,
        "secret_hash": CONFIG_SECRET_HASH,
    }


@pytest.fixture
def pair(pg_url: str, tmp_path: Path) -> Iterator[Pair]:
    config_dir = tmp_path / "config"
    shutil.copytree(SAMPLE_CONFIG, config_dir)
    (config_dir / "clients.yaml").write_text(
        yaml.safe_dump({"clients": [config_client(SCOPES)]}, allow_unicode=True), "utf-8"
    )
    # One platform: one issuer, whichever process a client reaches.
    shared = {"config_dir": config_dir, "issuer": "https://lgsp.test"}
    with live_platform(pg_url, **shared) as a, live_platform(pg_url, **shared) as b:
        yield Pair(a, b, config_dir)


def get_token(live: LivePlatform, client_id: str, secret: str) -> httpx.Response:
    with live.http() as http:
        return http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )


def token_of(live: LivePlatform, client_id: str, secret: str) -> str:
    r = get_token(live, client_id, secret)
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


def inbox_status(live: LivePlatform, token: str) -> httpx.Response:
    with live.http() as http:
        return http.get("/v1/inbox", headers={"Authorization": f"Bearer {token}"})


def assert_accepted_everywhere(pair: Pair, token: str) -> None:
    for live in (pair.a, pair.b):
        r = inbox_status(live, token)
        assert r.status_code == 200, r.text


def assert_cut_off_everywhere(pair: Pair, token: str) -> None:
    """Both processes refuse the token (401 problem+json) and a send with it stores nothing."""
    before = pair.messages()
    for live in (pair.a, pair.b):
        deadline = time.monotonic() + NOTICE_WITHIN
        r = inbox_status(live, token)
        while r.status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.05)
            r = inbox_status(live, token)
        assert r.status_code == 401, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        problem = r.json()
        assert problem["type"].endswith("/unauthorized")
        assert "no longer valid" in problem["detail"]
        assert 'error="invalid_token"' in r.headers["www-authenticate"]
        with live.http() as http:
            sent = http.post(
                "/v1/messages",
                headers={"Authorization": f"Bearer {token}"},
                json={"type": "field-report", "payload": {"anything": 1}},
            )
        assert sent.status_code == 401, sent.text
    assert pair.messages() == before


def new_client(pair: Pair) -> tuple[str, str]:
    client, secret = service.create_client(
        pair.a.platform.sessions, KHDT, SCOPES, name="cut-off test"
    )
    return client.client_id, secret


def test_disabling_a_client_cuts_off_its_tokens_on_every_process(pair: Pair) -> None:
    client_id, secret = new_client(pair)
    token = token_of(pair.a, client_id, secret)
    other_id, other_secret = new_client(pair)
    other = token_of(pair.b, other_id, other_secret)
    assert_accepted_everywhere(pair, token)

    service.set_disabled(pair.a.platform.sessions, client_id, True)

    assert_cut_off_everywhere(pair, token)
    assert get_token(pair.b, client_id, secret).status_code in (400, 401)
    assert_accepted_everywhere(pair, other)  # other clients are untouched

    # Enabling it again does not bring the old token back; a new one works.
    service.set_disabled(pair.a.platform.sessions, client_id, False)
    assert inbox_status(pair.a, token).status_code == 401
    assert_accepted_everywhere(pair, token_of(pair.b, client_id, secret))


def test_rotating_a_secret_cuts_off_tokens_issued_before(pair: Pair) -> None:
    client_id, secret = new_client(pair)
    old = token_of(pair.a, client_id, secret)
    assert_accepted_everywhere(pair, old)

    new_secret = service.rotate_secret(pair.b.platform.sessions, client_id)

    # A token issued right after the rotation, within the same second, is valid at once.
    fresh = token_of(pair.a, client_id, new_secret)
    assert_accepted_everywhere(pair, fresh)
    assert_cut_off_everywhere(pair, old)
    assert_accepted_everywhere(pair, fresh)


def test_a_scope_change_by_config_apply_cuts_off_tokens_issued_before(pair: Pair) -> None:
    old = token_of(pair.a, CONFIG_CLIENT, CONFIG_SECRET)
    assert_accepted_everywhere(pair, old)

    pair.apply([config_client(["messages:send", "inbox:read"])])
    assert_cut_off_everywhere(pair, old)
    fresh = token_of(pair.b, CONFIG_CLIENT, CONFIG_SECRET)
    assert set(json.loads(_claims(fresh))["scope"].split()) == {"messages:send", "inbox:read"}
    assert_accepted_everywhere(pair, fresh)

    # Applying the same configuration again changes nothing and cuts nothing off.
    pair.apply([config_client(["messages:send", "inbox:read"])])
    assert_accepted_everywhere(pair, fresh)


def test_a_client_removed_from_the_configuration_is_disabled(pair: Pair) -> None:
    token = token_of(pair.a, CONFIG_CLIENT, CONFIG_SECRET)
    # A client made with `lgsp clients create` was never in the configuration: apply keeps it.
    cli_id, cli_secret = new_client(pair)
    cli_token = token_of(pair.a, cli_id, cli_secret)

    pair.apply([])

    assert_cut_off_everywhere(pair, token)
    refused = get_token(pair.b, CONFIG_CLIENT, CONFIG_SECRET)
    assert refused.status_code in (400, 401), refused.text
    with pair.a.platform.sessions() as session:
        row = session.get(OAuthClient, CONFIG_CLIENT)
        assert row is not None and row.disabled_at is not None
        assert session.get(OAuthClient, cli_id).disabled_at is None  # type: ignore[union-attr]
    assert_accepted_everywhere(pair, cli_token)

    # Declared again, it stays disabled: apply never undoes a disabling (an admin may have
    # disabled a compromised client that the configuration still declares).
    report = pair.apply([config_client(SCOPES)])
    assert any(CONFIG_CLIENT in w and "disabled" in w for w in report.warnings), report.warnings
    assert get_token(pair.b, CONFIG_CLIENT, CONFIG_SECRET).status_code in (400, 401)


def _claims(token: str) -> str:
    import base64

    part = token.split(".")[1]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode()
