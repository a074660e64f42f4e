"""Auditors read the message log through the API: masked by default, unmasking is itself
logged, and the live log verifies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lgsp.messagelog.sealer import seal_pending
from tests.dvcqg.samples import sample_dossier
from tests.support.platform import IOC, ONE_STOP, LivePlatform, live_platform


@pytest.fixture
def live(database_url: str) -> Iterator[LivePlatform]:
    with live_platform(database_url) as live:
        yield live


def test_auditor_searches_masked_unmasks_with_a_trace_and_verifies(live: LivePlatform) -> None:
    dossier = sample_dossier(f"{ONE_STOP}-261126-0042", "2.001610")
    with live.http() as http:
        sent = http.post(
            "/v1/messages",
            json={"type": "dossier", "payload": dossier},
            headers=live.auth(ONE_STOP),
        )
        assert sent.status_code == 202
        auditor = live.auth(IOC, "audit")
        page = http.get(
            "/v1/audit/log", params={"correlation_key": dossier["MaHoSo"]}, headers=auditor
        ).json()
        [accepted] = [e for e in page["items"] if e["kind"] == "message.accepted"]
        assert accepted["message_id"] == sent.json()["id"]

        # Payloads reach the log through deliveries; the accept entry holds no personal data,
        # so look at what unmasking records instead.
        shown = http.get(
            "/v1/audit/log",
            params={
                "correlation_key": dossier["MaHoSo"],
                "unmask": "true",
                "reason": "complaint 2026/114",
            },
            headers=auditor,
        ).json()
        assert shown["items"]
        trail = http.get("/v1/audit/log", params={"kind": "audit.unmask"}, headers=auditor).json()[
            "items"
        ]
        assert trail and trail[0]["actor"] == live.clients[f"{IOC} audit"][0]
        assert set(trail[0]["detail"]["entry_ids"]) == {e["id"] for e in shown["items"]}
        assert trail[0]["detail"]["reason"] == "complaint 2026/114"

        # Not an auditor: refused.
        assert http.get("/v1/audit/log", headers=live.auth(ONE_STOP)).status_code == 403

        seal_pending(
            live.platform.sessions, live.platform.seal_keys.sign_compact, settle_seconds=0.0
        )
        report = http.post("/v1/audit/log/verify", headers=auditor).json()
        assert report["ok"] is True and report["entries"] >= 3
