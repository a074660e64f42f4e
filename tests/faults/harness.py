"""Fault-injection harness: a one-sender, one-recipient province, a REST recipient that counts
what it receives, `lgsp worker` processes that can be killed, and bulk sending."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from lgsp_testkit.rest_recipient import RestRecipient
from sqlalchemy import func, select

from lgsp.deliveries.models import Delivery
from lgsp.settings import PROJECT_ROOT, Settings
from tests.support.cli import LGSP, cli_env
from tests.support.platform import LivePlatform

SENDER = "000.00.01.H56"
RECIPIENT = "000.00.16.H56"

PROVINCE = {
    "province.yaml": """
province: {code: H56, name_vi: "Hà Lam", name_en: "Ha Lam", timezone: Asia/Ho_Chi_Minh}
""",
    "agencies.yaml": """
agencies:
  - code: "000.00.01.H56"
    name_vi: "Trung tâm Phục vụ hành chính công"
    name_en: "One-stop office"
    kind: one_stop_office
  - code: "000.00.16.H56"
    name_vi: "Sở Tư pháp"
    name_en: "Department of Justice"
    kind: department
    endpoint:
      mode: push
      adapter: rest
      settings: {url: "${FAULT_RECIPIENT_URL:-http://127.0.0.1:9}"}
      timeout_seconds: 5
      retry_window_seconds: 86400
""",
    "message-types.yaml": """
message_types:
  sms-notification:
    {schema_id: sms-notification/1, description: "SMS", correlation_pointer: /MaHoSo}
""",
    "grants.yaml": """
grants:
  - {agency: "000.00.01.H56", send: [sms-notification], to: ["000.00.16.H56"]}
""",
}


def write_province(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in PROVINCE.items():
        (directory / name).write_text(text.lstrip())
    return directory


def sms(i: int, key: str | None = None) -> dict[str, Any]:
    return {
        "phone": "0912345678",
        "content": f"Tin nhắn kiểm thử số {i}",
        "template_id": "",
        "MaHoSo": key or f"{SENDER}-261126-{i % 10000:04d}",
    }


def send_many(live: LivePlatform, payloads: list[dict[str, Any]], *, threads: int = 8) -> list[str]:
    headers = live.auth(SENDER)

    def one(http: httpx.Client, payload: dict[str, Any]) -> str:
        for _ in range(50):
            r = http.post(
                "/v1/messages",
                json={"type": "sms-notification", "to": RECIPIENT, "payload": payload},
                headers=headers,
            )
            if r.status_code == 202:
                return str(r.json()["id"])
            assert r.status_code == 503, r.text
            time.sleep(0.2)
        raise AssertionError("could not send")

    with live.http() as http, ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda p: one(http, p), payloads))


def delivery_counts(live: LivePlatform) -> dict[str, int]:
    with live.platform.sessions() as s:
        rows = s.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all()
    return {str(state): int(n) for state, n in rows}


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


@contextmanager
def worker_process(
    settings: Settings, log: Path, **extra_env: str
) -> Iterator[subprocess.Popen[bytes]]:
    env = cli_env(settings, **extra_env)
    if settings.broker_url:
        env["LGSP_BROKER_URL"] = settings.broker_url
    for key in (
        "amqp_prefix",
        "lease_seconds",
        "retry_base_seconds",
        "retry_max_seconds",
        "relay_poll_seconds",
        "worker_concurrency",
    ):
        value = getattr(settings, key, None)
        if value is not None:
            env[f"LGSP_{key.upper()}"] = str(value)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [LGSP, "worker", "--log-level", "warning"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def recipient_ids(recipient: RestRecipient) -> set[str]:
    return set(recipient.received_ids())
