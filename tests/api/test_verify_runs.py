"""A full verification of the live log reads the whole log: only one runs at a time on the
platform. A second request while one is going on gets 409 problem+json with Retry-After."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lgsp.kit.errors import LGSPError
from lgsp.kit.ratelimit import AlreadyRunning, one_at_a_time
from tests.support.platform import ONE_STOP, LivePlatform, live_platform


@pytest.fixture
def live(database_url: str) -> Iterator[LivePlatform]:
    with live_platform(database_url) as live:
        yield live


def test_a_second_verification_waits_for_the_first(live: LivePlatform) -> None:
    headers = live.auth(ONE_STOP, "audit")
    with live.http() as http:
        assert http.post("/v1/audit/log/verify", headers=headers).status_code == 200
        # A run going on elsewhere (on PostgreSQL: another connection, as another process has).
        with one_at_a_time(live.platform.engine, "log-verify", "a verification"):
            busy = http.post("/v1/audit/log/verify", headers=headers)
            assert busy.status_code == 409, busy.text
            assert busy.headers["content-type"].startswith("application/problem+json")
            assert busy.json()["type"].endswith("/already-running")
            assert int(busy.headers["retry-after"]) > 0
            with (
                pytest.raises(AlreadyRunning),
                one_at_a_time(live.platform.engine, "log-verify", "a verification"),
            ):
                pass
        # Over: the next one runs, and so does one after a run that failed.
        assert http.post("/v1/audit/log/verify", headers=headers).status_code == 200
        with (
            pytest.raises(LGSPError),
            one_at_a_time(live.platform.engine, "log-verify", "a verification"),
        ):
            raise LGSPError("a run that failed")
        assert http.post("/v1/audit/log/verify", headers=headers).status_code == 200
