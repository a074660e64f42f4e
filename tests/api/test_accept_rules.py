"""Accept-path rules that a province's grants rely on, in a province whose grants leave gaps on
purpose: every recipient of a message is grant-checked (copies included), and an idempotency key
covers the whole request, recipient included."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from lgsp_sims.dvcqg.samples import sample_dossier, sample_status

from tests.api.test_accept import assert_problem, counts
from tests.support.platform import ONE_STOP, PORTAL, TNMT, LivePlatform, live_platform

COMMUNE = "000.00.41.H56"
DOSSIER = f"{ONE_STOP}-261126-0001"


@pytest.fixture
def live(database_url: str, tmp_path: Path) -> Iterator[LivePlatform]:
    config = tmp_path / "config"
    shutil.copytree(Path(__file__).parents[2] / "config", config)
    grants = yaml.safe_load((config / "grants.yaml").read_text(encoding="utf-8"))
    for grant in grants["grants"]:
        if grant.get("send") == ["dossier-status"] and "@departments" in grant["agency"]:
            # Every department but Natural Resources and Environment keeps its grant ...
            grant["agency"] = ["000.00.07.H56", "000.00.16.H56", "@land-branches"]
    # ... which may report to reception points, but not to the national portal.
    grants["grants"].append({"agency": TNMT, "send": ["dossier-status"], "to": ["@reception"]})
    (config / "grants.yaml").write_text(yaml.safe_dump(grants, allow_unicode=True), "utf-8")
    with live_platform(database_url, config_dir=config) as live:
        yield live


def status(to: str) -> dict[str, Any]:
    return {
        "type": "dossier-status",
        "to": to,
        "payload": sample_status(DOSSIER, 2, datetime(2026, 11, 26, 9, 0)),
    }


def test_a_copy_recipient_is_grant_checked_when_the_sender_names_one(live: LivePlatform) -> None:
    with live.http() as http:
        r = http.post("/v1/messages", json=status(ONE_STOP), headers=live.auth(TNMT))
    problem = assert_problem(r, 403, "not-granted")
    # The named recipient is granted; the portal, added by the copy route, is not.
    assert problem["recipients"] == [PORTAL]
    assert counts(live) == (0, 0, 0)


@pytest.fixture
def sample(database_url: str) -> Iterator[LivePlatform]:
    with live_platform(database_url) as live:
        yield live


def test_an_idempotency_key_covers_the_recipient(sample: LivePlatform) -> None:
    """The same key and payload sent to another office is another request, not a repeat: it
    must not be answered with the first message (which went elsewhere)."""
    headers = {**sample.auth(TNMT), "Idempotency-Key": "status-2"}
    with sample.http() as http:
        # The office opens the dossier (land procedure: to TNMT), so TNMT is one of its parties.
        opened = http.post(
            "/v1/messages",
            json={"type": "dossier", "payload": sample_dossier(DOSSIER, "1.004227")},
            headers=sample.auth(ONE_STOP),
        )
        assert opened.status_code == 202, opened.text
        first = http.post("/v1/messages", json=status(ONE_STOP), headers=headers)
        assert first.status_code == 202, first.text
        assert sorted(first.json()["recipients"]) == sorted([ONE_STOP, PORTAL])
        again = http.post("/v1/messages", json=status(ONE_STOP), headers=headers)
        assert again.status_code == 202 and again.json()["id"] == first.json()["id"]
        other = http.post("/v1/messages", json=status(COMMUNE), headers=headers)
    assert_problem(other, 409, "idempotency-key-reused")
    assert counts(sample) == (2, 4, 2)
