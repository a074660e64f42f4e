"""Faults on both transports: a worker killed with SIGKILL mid-run, a recipient that fails
for a while, a PostgreSQL outage. Nothing accepted is lost; each message reaches the recipient
(once, after deduplication on its message id)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lgsp_testkit.rest_recipient import RestRecipient
from lgsp_testkit.servers import serve_asgi

from tests.faults.harness import (
    RECIPIENT,
    delivery_counts,
    recipient_ids,
    send_many,
    sms,
    wait_for,
    worker_process,
    write_province,
)
from tests.support.broker import Broker
from tests.support.platform import LivePlatform, live_platform
from tests.support.services import RABBIT_URL, fresh_pg_database, require

pytestmark = [pytest.mark.fault, pytest.mark.slow]


@pytest.fixture
def recipient() -> Iterator[tuple[RestRecipient, str]]:
    rec = RestRecipient()
    with serve_asgi(rec.asgi_app()) as url:
        yield rec, url


@pytest.fixture(params=["sqlite-embedded", "postgresql-embedded", "postgresql-amqp"])
def live(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    recipient: tuple[RestRecipient, str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[LivePlatform]:
    monkeypatch.setenv("FAULT_RECIPIENT_URL", recipient[1] + "/messages")
    overrides: dict[str, Any] = {
        "config_dir": write_province(tmp_path / "province"),
        "lease_seconds": 3.0,
    }
    if request.param.endswith("amqp"):
        require("rabbitmq")
        broker = Broker(RABBIT_URL, f"lgsp-fault-{secrets.token_hex(4)}")
        request.addfinalizer(lambda: broker.delete([RECIPIENT]))
        # The API relays its own outbox rows to the broker; `lgsp worker` consumes.
        overrides.update(broker_url=RABBIT_URL, amqp_prefix=broker.prefix)
    if request.param.startswith("sqlite"):
        with live_platform(f"sqlite:///{tmp_path / 'lgsp.db'}", **overrides) as live:
            yield live
    else:
        with fresh_pg_database() as url, live_platform(url, **overrides) as live:
            yield live


def test_worker_killed_mid_run_loses_nothing(
    live: LivePlatform, recipient: tuple[RestRecipient, str], tmp_path: Path
) -> None:
    rec, _ = recipient
    ids = send_many(live, [sms(i) for i in range(1200)])
    assert len(set(ids)) == 1200
    log = tmp_path / "worker.log"
    with worker_process(live.settings, log) as first:
        wait_for(lambda: len(recipient_ids(rec)) >= 300, 120, "first deliveries")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
    partial = len(recipient_ids(rec))
    assert partial < 1200, "the worker finished before it could be killed"
    with worker_process(live.settings, log):
        wait_for(
            lambda: delivery_counts(live).get("delivered") == 1200,
            240,
            f"all delivered (log: {log})",
        )
    assert recipient_ids(rec) == set(ids)
    assert delivery_counts(live) == {"delivered": 1200}


def test_recipient_down_for_a_while_then_back(
    live: LivePlatform, recipient: tuple[RestRecipient, str], tmp_path: Path
) -> None:
    rec, _ = recipient
    rec.script("unavailable", times=60)
    ids = send_many(live, [sms(i) for i in range(100)])
    with worker_process(live.settings, tmp_path / "worker.log"):
        wait_for(lambda: delivery_counts(live).get("delivered") == 100, 120, "all delivered")
    assert recipient_ids(rec) == set(ids)
    # The failures were retried, not lost: more requests than messages reached the recipient.
    assert len(rec.requests) >= 160


def pg_ctl(action: str) -> None:
    version = sorted(os.listdir("/etc/postgresql"))[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
        check=True,
        capture_output=True,
        timeout=120,
    )


def test_database_outage_answers_503_and_loses_nothing(
    tmp_path: Path, recipient: tuple[RestRecipient, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not os.path.isdir("/etc/postgresql"):
        pytest.skip("no local PostgreSQL cluster to stop")
    rec, url = recipient
    monkeypatch.setenv("FAULT_RECIPIENT_URL", url + "/messages")
    province = write_province(tmp_path / "province")
    with (
        fresh_pg_database() as db,
        live_platform(db, config_dir=province, lease_seconds=3.0, inprocess_workers=True) as live,
    ):
        headers = live.auth("000.00.01.H56")
        accepted: list[str] = []
        refused: list[int] = []
        stop = threading.Event()

        def sender() -> None:
            i = 0
            with live.http(timeout=15) as http:
                while not stop.is_set():
                    i += 1
                    try:
                        r = http.post(
                            "/v1/messages",
                            headers=headers,
                            json={
                                "type": "sms-notification",
                                "to": "000.00.16.H56",
                                "payload": sms(i),
                            },
                        )
                    except httpx.HTTPError:
                        continue
                    if r.status_code == 202:
                        accepted.append(r.json()["id"])
                    else:
                        assert r.status_code == 503, r.text
                        assert r.headers["content-type"] == "application/problem+json"
                        refused.append(r.status_code)
                    time.sleep(0.01)

        thread = threading.Thread(target=sender)
        thread.start()
        try:
            wait_for(lambda: len(accepted) >= 50, 60, "traffic before the outage")
            pg_ctl("stop")
            try:
                wait_for(lambda: len(refused) >= 5, 60, "503 answers during the outage")
            finally:
                pg_ctl("start")
            count = len(accepted)
            wait_for(lambda: len(accepted) >= count + 50, 120, "traffic after the outage")
        finally:
            stop.set()
            thread.join(30)
        wait_for(
            lambda: (
                delivery_counts(live).get("delivered") == len(accepted)
                and sum(delivery_counts(live).values()) == len(accepted)
            ),
            180,
            "every accepted message delivered, no stray rows",
        )
        assert recipient_ids(rec) == set(accepted)
