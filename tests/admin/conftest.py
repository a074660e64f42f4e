"""A platform with its embedded delivery workers running, whose Department of Justice and SMS
gateway are one real HTTP recipient started by the test. The recipient refuses poison messages
(a marker in the payload) for good, or fails everything for a while, on the test's word."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from lgsp_testkit.servers import serve_wsgi
from sqlalchemy import select

from lgsp.deliveries.models import Delivery
from lgsp.messagelog.models import LogEntry
from tests.dvcqg.samples import sample_dossier
from tests.mediation.province import JUSTICE, SMS_GATEWAY, Province
from tests.support.platform import ONE_STOP, PORTAL, LivePlatform, live_platform

POISON = "[POISON]"
ADMIN_AGENCY = "000.00.13.H56"  # Information and Communications runs the platform
JUSTICE_PROCEDURE = "2.000488"  # criminal record certificate: routed to Justice
# Long enough for a few retries at the test's backoff (0.05 s doubling up to 0.5 s).
RETRY_WINDOW = 1


@dataclass
class Recipient:
    """Accepts JSON messages at any path; deduplication is left to the assertions, so every
    accepted copy is recorded."""

    reject_poison: bool = True
    failing: bool = False
    accepted: list[tuple[str, str]] = field(default_factory=list)  # (path, message id)
    refused: list[tuple[str, str, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        path = environ["PATH_INFO"]
        message_id = environ.get("HTTP_IDEMPOTENCY_KEY", "")
        with self._lock:
            if self.failing:
                status, reply = 503, {"detail": "down for maintenance"}
            elif self.reject_poison and POISON.encode() in body:
                status, reply = 422, {"detail": "nội dung không hợp lệ (poison)"}
            else:
                status, reply = 201, {"id": message_id}
            if status == 201:
                self.accepted.append((path, message_id))
            else:
                self.refused.append((path, message_id, status))
        reason = {201: "Created", 422: "Unprocessable Entity", 503: "Service Unavailable"}[status]
        start_response(f"{status} {reason}", [("Content-Type", "application/json")])
        return [orjson.dumps(reply)]

    def accepted_ids(self, path: str) -> list[str]:
        with self._lock:
            return [m for p, m in self.accepted if p == path]


@dataclass
class World:
    live: LivePlatform
    recipient: Recipient
    sequence: int = 0

    # --- sending ------------------------------------------------------------------------------
    def _send(self, body: dict[str, Any]) -> str:
        with self.live.http() as http:
            r = http.post("/v1/messages", json=body, headers=self.live.auth(ONE_STOP))
        assert r.status_code == 202, r.text
        message_id: str = r.json()["id"]
        return message_id

    def dossier(self, key: int, *, poison: bool = False) -> str:
        """A dossier to Justice (and its copy to the portal); ``key`` makes its MaHoSo."""
        payload = sample_dossier(f"{ONE_STOP}-261126-{key:04d}", JUSTICE_PROCEDURE)
        if poison:
            payload["TrichYeuHoSo"] = POISON + " " + payload["TrichYeuHoSo"]
        return self._send({"type": "dossier", "payload": payload})

    def sms(self, key: int, *, poison: bool = False) -> str:
        content = "Ho so da co ket qua" + (" " + POISON if poison else "")
        payload = {
            "phone": "0912345678",
            "content": content,
            "MaHoSo": f"{ONE_STOP}-261126-{key:04d}",
        }
        return self._send({"type": "sms-notification", "payload": payload})

    # --- reading ------------------------------------------------------------------------------
    def admin(self) -> dict[str, str]:
        return self.live.auth(ADMIN_AGENCY, "admin")

    def get(self, path: str, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        with self.live.http() as http:
            return http.get(path, headers=headers or self.admin(), **kw)

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        with self.live.http() as http:
            return http.post(path, json=body, headers=headers or self.admin())

    def delivery(self, message_id: str, recipient: str) -> Delivery:
        with self.live.platform.sessions() as session:
            found = session.scalars(
                select(Delivery).where(
                    Delivery.message_id == message_id, Delivery.recipient == recipient
                )
            ).one()
            return found

    def state(self, message_id: str, recipient: str) -> str:
        return self.delivery(message_id, recipient).state

    def wait_state(self, message_id: str, recipient: str, state: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while (now := self.state(message_id, recipient)) != state:
            assert time.monotonic() < deadline, f"{message_id} to {recipient} stayed {now}"
            time.sleep(0.05)

    def log(self, message_id: str, recipient: str) -> list[LogEntry]:
        """The delivery entries of one message to one recipient, in log order."""
        with self.live.platform.sessions() as session:
            return list(
                session.scalars(
                    select(LogEntry)
                    .where(
                        LogEntry.message_id == message_id,
                        LogEntry.agency == recipient,
                        LogEntry.kind.startswith("delivery."),
                    )
                    .order_by(LogEntry.id)
                )
            )


def dead_letter_province(tmp_path: Path, base_url: str) -> Path:
    province = Province(tmp_path)
    for agency, path in ((JUSTICE, "/tuphap"), (SMS_GATEWAY, "/sms")):
        endpoint = province.endpoint(agency)
        endpoint["settings"]["url"] = base_url + path
        endpoint["retry_window_seconds"] = RETRY_WINDOW
    # The portal's copies of the dossiers are accepted without a portal simulator.
    portal = province.endpoint(PORTAL)
    portal["adapter"], portal["settings"] = "memory", {}
    return province.save()


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    recipient = Recipient()
    with (
        serve_wsgi(recipient.app) as base_url,
        live_platform(
            database_url,
            config_dir=dead_letter_province(tmp_path, base_url),
            inprocess_workers=True,
        ) as live,
    ):
        yield World(live, recipient)
