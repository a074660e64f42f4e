"""Retention: finished messages lose their bodies; metadata, hashes and the log stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from lgsp.exchange.models import Message
from lgsp.kit.db import transaction
from lgsp.kit.timeutil import utcnow
from tests.dvcqg.samples import sample_dossier
from tests.support.cli import run_cli
from tests.support.platform import KHDT, ONE_STOP, live_platform


def test_purge_keeps_hashes_and_skips_unfinished_messages(database_url: str) -> None:
    with live_platform(database_url) as live, live.http() as http:
        ids = []
        for seq in (1, 2):
            payload = sample_dossier(f"{ONE_STOP}-261126-{seq:04d}", "2.001610")
            r = http.post(
                "/v1/messages",
                json={"type": "dossier", "to": KHDT, "payload": payload},
                headers=live.auth(ONE_STOP),
            )
            assert r.status_code == 202
            ids.append(r.json()["id"])
        # Both are old; only the first is finished (its recipients acknowledged or delivered).
        with transaction(live.platform.sessions) as s:
            s.execute(update(Message).values(accepted_at=utcnow() - timedelta(days=400)))
            from lgsp.deliveries.models import Delivery

            s.execute(
                update(Delivery)
                .where(Delivery.message_id == ids[0])
                .values(state="delivered", finished_at=utcnow())
            )
        result = run_cli(live.settings, "messages", "purge", "--older-than-days", "365", check=True)
        assert "1 message(s)" in result.stdout
        with live.platform.sessions() as s:
            rows = {m.id: m for m in s.scalars(select(Message))}
        assert rows[ids[0]].payload is None and len(rows[ids[0]].payload_sha256) == 64
        assert rows[ids[1]].payload is not None
        view = http.get(f"/v1/messages/{ids[0]}", headers=live.auth(ONE_STOP)).json()
        assert view["payload"] is None and view["payload_sha256"] == rows[ids[0]].payload_sha256
        log = http.get(
            "/v1/audit/log",
            params={"kind": "admin.payloads_purged"},
            headers=live.auth(ONE_STOP, "audit"),
        ).json()["items"]
        assert log[0]["detail"]["messages"] == 1
