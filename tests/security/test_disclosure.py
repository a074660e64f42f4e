"""Low-severity leaks: problem responses name no internal address and carry at most a capped
upstream reply; a recipient sees only its own delivery's error; /metrics needs a scope."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from lgsp_testkit.rest_recipient import RestRecipient, serve_rest_recipient
from lgsp_testkit.soap_service import serve_land_registry

from lgsp.kit.redact import MAX_UPSTREAM_REPLY, public_problem
from tests.admin.conftest import JUSTICE, World
from tests.api.test_accept import assert_problem
from tests.mediation.conftest import mediation_province
from tests.support.platform import ONE_STOP, PORTAL, LivePlatform, live_platform

INTERNAL = "http://127.0.0.1:9/internal/registry"  # nothing listens on port 9


@pytest.fixture
def unreachable(database_url: str, tmp_path: Path) -> Iterator[LivePlatform]:
    """The mediation province, its Justice register moved to an internal address that refuses
    connections."""
    with serve_land_registry() as land, serve_rest_recipient(RestRecipient()) as justice:
        config = mediation_province(tmp_path, land, justice)
        agencies = yaml.safe_load((config / "agencies.yaml").read_text("utf-8"))
        [entry] = [a for a in agencies["agencies"] if a["code"] == JUSTICE]
        entry["endpoint"]["settings"] = {**entry["endpoint"]["settings"], "url": INTERNAL}
        (config / "agencies.yaml").write_text(yaml.safe_dump(agencies, allow_unicode=True), "utf-8")
        with live_platform(database_url, config_dir=config) as live:
            yield live


def test_a_failed_call_does_not_name_the_providers_address(unreachable: LivePlatform) -> None:
    live = unreachable
    with live.http() as http:
        r = http.post(
            f"/v1/services/{JUSTICE}/TraCuuGCN",
            json={"SoPhatHanh": "CS 123456"},
            headers=live.auth(ONE_STOP),
        )
    assert r.status_code in (502, 503, 504), r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert (
        "127.0.0.1" not in r.text and "/internal/" not in r.text and "://" not in r.json()["detail"]
    )
    assert JUSTICE in r.json()["detail"]  # which service failed is still said


def test_upstream_replies_are_cut_and_addresses_withheld() -> None:
    problem = public_problem(
        {
            "detail": "POST http://10.2.0.7:8080/api/records failed (10.2.0.7:8080 said no)",
            "upstream_reply": "x" * 5000 + " see https://intranet.example/trace/1",
            "upstream_status": 400,
        }
    )
    assert "10.2.0.7" not in problem["detail"] and "://" not in problem["detail"]
    assert len(problem["upstream_reply"]) <= MAX_UPSTREAM_REPLY + len(" [cut]")
    assert problem["upstream_status"] == 400
    # Agency codes, procedure codes and dossier codes are not addresses.
    codes = "000.00.12.H56 1.003560.000.00.00.H56 000.00.01.H56-261126-0007 2.002492"
    assert public_problem({"detail": codes})["detail"] == codes


def test_metrics_need_the_metrics_scope(database_url: str) -> None:
    with live_platform(database_url) as live, live.http() as http:
        assert_problem(http.get("/metrics"), 401, "unauthorized")
        assert_problem(http.get("/metrics", headers=live.auth(ONE_STOP)), 403, "insufficient-scope")
        scraped = http.get("/metrics", headers=live.auth(ONE_STOP, "metrics"))
        assert scraped.status_code == 200 and "lgsp_messages_accepted_total" in scraped.text


def test_a_recipient_sees_only_its_own_deliverys_error(world: World) -> None:
    message_id = world.dossier(5, poison=True)
    world.wait_state(message_id, JUSTICE, "dead")
    world.wait_state(message_id, PORTAL, "delivered")
    path = f"/v1/messages/{message_id}"

    def errors(agency: str) -> dict[str, str | None]:
        r = world.get(path, headers=world.live.auth(agency))
        assert r.status_code == 200, r.text
        return {x["agency"]: x["last_error"] for x in r.json()["recipients"]}

    assert errors(ONE_STOP)[JUSTICE]  # the sender sees why its message died at Justice
    assert errors(JUSTICE)[JUSTICE]  # Justice sees its own
    assert errors(PORTAL)[JUSTICE] is None  # the portal does not see Justice's answer
