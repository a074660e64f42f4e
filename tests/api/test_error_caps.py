"""Validation answers stay small however many errors a payload holds: the first 100 errors by
pointer, and a count of the rest; the validator stops counting after 10,000."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lgsp.exchange.models import Message
from lgsp.validation.catalogue import COUNTED_ERRORS, REPORTED_ERRORS
from tests.support.platform import ONE_STOP, LivePlatform, live_platform


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LivePlatform]:
    with live_platform(f"sqlite:///{tmp_path / 'lgsp.db'}") as live:
        yield live


def test_error_lists_are_capped_with_a_count_of_the_rest(live: LivePlatform) -> None:
    assert (REPORTED_ERRORS, COUNTED_ERRORS) == (100, 10_000)
    many = {"TaiLieuNop": [1] * 500}  # one error per element, and the missing fields
    with live.http() as http:
        headers = live.auth(ONE_STOP)
        r = http.post("/v1/schemas/dossier/validate", json=many, headers=headers)
        assert r.status_code == 422, r.text
        problem = r.json()
        total = int(problem["detail"].split()[0])
        assert total > 500
        assert len(problem["errors"]) == REPORTED_ERRORS
        assert problem["errors_omitted"] == total - REPORTED_ERRORS
        everything = live.platform.schemas.errors("dossier", many)
        assert len(everything) == total
        assert problem["errors"] == [dict(e) for e in everything[:REPORTED_ERRORS]]

        flood = {"TaiLieuNop": [1] * (COUNTED_ERRORS * 2)}
        sent = http.post(
            "/v1/messages", json={"type": "dossier", "payload": flood}, headers=headers
        )
        assert sent.status_code == 422, sent.text
        problem = sent.json()
        assert problem["detail"].startswith(f"more than {COUNTED_ERRORS} validation errors")
        assert len(problem["errors"]) == REPORTED_ERRORS
        assert problem["errors_omitted"] == COUNTED_ERRORS - REPORTED_ERRORS

        few = http.post("/v1/schemas/dossier/validate", json={"TaiLieuNop": [1]}, headers=headers)
        assert few.status_code == 422
        assert "errors_omitted" not in few.json()
    with live.platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 0
