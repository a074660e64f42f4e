"""Rate limits against a flood: per caller address, per client, per agency (its quota in the
province configuration) and on the token endpoint, answered 429 problem+json with Retry-After,
logged, and nothing stored for a refused request. With Redis configured, two API processes draw
on one budget.

Buckets here refill slowly (one request per 1000 s) so a test never races the refill.
"""

from __future__ import annotations

import logging
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import func, select

from lgsp.exchange.models import Message
from lgsp.kit.ratelimit import Rate
from tests.support.platform import KHDT, SAMPLE_CONFIG, TNMT, LivePlatform, live_platform
from tests.support.services import require

REDIS_URL = "redis://127.0.0.1:6379/0"
SLOW = 0.001  # per second: no refill within a test
PLENTY = Rate(per_second=1000, burst=1000)


def limited(**rates: Rate) -> dict[str, Any]:
    values: dict[str, Any] = {
        "rate_limits_enabled": True,
        "rate_limit_address": PLENTY,
        "rate_limit_client": PLENTY,
        "rate_limit_token_address": PLENTY,
        "rate_limit_token_client": PLENTY,
    }
    values.update({f"rate_limit_{name}": rate for name, rate in rates.items()})
    return values


def assert_rate_limited(r: httpx.Response) -> None:
    assert r.status_code == 429, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/rate-limited")
    assert int(r.headers["retry-after"]) >= 1
    assert r.headers.get("x-request-id")


def stored_messages(live: LivePlatform) -> int:
    with live.platform.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Message)) or 0)


def inbox(live: LivePlatform, headers: dict[str, str]) -> httpx.Response:
    with live.http() as http:
        return http.get("/v1/inbox", headers=headers)


def send(live: LivePlatform, headers: dict[str, str]) -> httpx.Response:
    with live.http() as http:
        return http.post(
            "/v1/messages",
            headers=headers,
            json={"type": "field-report", "payload": {"anything": 1}},
        )


def test_an_address_over_its_budget_gets_429_and_nothing_is_stored(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="lgsp.ratelimit")
    settings = limited(address=Rate(per_second=SLOW, burst=4))
    with live_platform(database_url, **settings) as live, live.http() as http:
        for _ in range(4):
            assert http.get("/v1/schemas").status_code != 429
        before = stored_messages(live)
        assert_rate_limited(http.get("/v1/schemas"))
        refused = http.post("/v1/messages", json={"type": "field-report", "payload": {"a": 1}})
        assert_rate_limited(refused)
        assert stored_messages(live) == before
        assert http.get("/healthz").status_code == 200  # probes are never limited
    assert any("rate limited: addr:127.0.0.1" in r.getMessage() for r in caplog.records)


def test_a_client_over_its_budget_gets_429_others_do_not(database_url: str) -> None:
    with live_platform(database_url, **limited(client=Rate(per_second=SLOW, burst=3))) as live:
        mine = live.auth(KHDT, "messages:send inbox:read")
        theirs = live.auth(TNMT, "messages:send inbox:read")
        for _ in range(3):
            assert inbox(live, mine).status_code == 200
        before = stored_messages(live)
        assert_rate_limited(inbox(live, mine))
        assert_rate_limited(send(live, mine))
        assert stored_messages(live) == before
        assert inbox(live, theirs).status_code == 200


@pytest.fixture
def quota_config(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(SAMPLE_CONFIG, target)
    path = target / "agencies.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for agency in data["agencies"]:
        if agency["code"] == KHDT:
            agency["quota"] = {"per_second": SLOW, "burst": 3}
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    return target


def test_an_agency_quota_is_shared_by_its_clients(database_url: str, quota_config: Path) -> None:
    with live_platform(database_url, config_dir=quota_config, **limited()) as live:
        first = live.auth(KHDT, "inbox:read")
        second = live.auth(KHDT, "inbox:read messages:send")
        other_agency = live.auth(TNMT, "inbox:read")
        assert inbox(live, first).status_code == 200
        assert inbox(live, first).status_code == 200
        assert inbox(live, second).status_code == 200
        assert_rate_limited(inbox(live, second))
        assert_rate_limited(inbox(live, first))
        assert inbox(live, other_agency).status_code == 200


def token_request(live: LivePlatform, client_id: str, secret: str) -> httpx.Response:
    with live.http() as http:
        return http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )


def test_the_token_endpoint_limits_each_client_id_before_hashing(database_url: str) -> None:
    settings = limited(token_client=Rate(per_second=SLOW, burst=3))
    with live_platform(database_url, **settings) as live:
        client_id, secret = live.new_client(KHDT, "inbox:read")
        other_id, other_secret = live.new_client(TNMT, "inbox:read")
        for _ in range(3):  # a guessing run
            assert token_request(live, client_id, "wrong").status_code == 401
        # The budget is spent: even the right secret waits, and is not checked.
        assert_rate_limited(token_request(live, client_id, secret))
        with live.http() as http:  # client_secret_post names the client in the form
            posted = http.post(
                "/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": client_id,
                    "client_secret": secret,
                },
            )
        assert_rate_limited(posted)
        assert token_request(live, other_id, other_secret).status_code == 200


def test_the_token_endpoint_limits_each_address(database_url: str) -> None:
    settings = limited(token_address=Rate(per_second=SLOW, burst=3))
    with live_platform(database_url, **settings) as live:
        clients = [live.new_client(KHDT, "inbox:read") for _ in range(3)]
        for client_id, _ in clients:
            assert token_request(live, client_id, "wrong").status_code == 401
        client_id, secret = clients[0]
        assert_rate_limited(token_request(live, client_id, secret))
        assert_rate_limited(token_request(live, "never-seen", "x"))


@pytest.fixture
def shared_pair(pg_url: str) -> Iterator[tuple[LivePlatform, LivePlatform]]:
    require("redis")  # skipped on a machine without Redis, a failure in CI
    # A prefix of this run's own, so earlier runs' buckets cannot interfere.
    common = limited(client=Rate(per_second=SLOW, burst=4))
    common.update(
        redis_url=REDIS_URL, redis_prefix=f"lgsp-test-{secrets.token_hex(6)}", issuer="https://h"
    )
    with live_platform(pg_url, **common) as a, live_platform(pg_url, **common) as b:
        yield a, b


def test_two_api_processes_share_a_client_budget_through_redis(
    shared_pair: tuple[LivePlatform, LivePlatform],
) -> None:
    a, b = shared_pair
    headers = a.auth(KHDT, "inbox:read")
    assert inbox(a, headers).status_code == 200
    assert inbox(b, headers).status_code == 200
    assert inbox(a, headers).status_code == 200
    assert inbox(b, headers).status_code == 200
    # Four spent across the two processes: each alone would still have allowed more.
    assert_rate_limited(inbox(a, headers))
    assert_rate_limited(inbox(b, headers))
