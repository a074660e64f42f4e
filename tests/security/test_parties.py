"""Dossier parties: only a dossier's receiving office and its processing recipients may send a
status, a certificate or an update about it (lgsp/exchange/parties.py).

The attack: an agency granted ``dossier-status`` names another office's dossier code. Before
parties were kept, the portal adapter moved that dossier with the province's portal account,
and the foreign code joined the dossier's delivery chain."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from lgsp_sims.dvcqg.samples import sample_dossier, sample_status
from sqlalchemy import delete, func, select

from lgsp.exchange.models import Delivery, Message
from lgsp.exchange.parties import DossierParty
from lgsp.messagelog.models import LogEntry
from tests.api.test_accept import assert_problem
from tests.e2e.conftest import OFFICE, PORTAL, Flow, wait_for
from tests.support.platform import ONE_STOP, TNMT, LivePlatform, live_platform

VN = ZoneInfo("Asia/Ho_Chi_Minh")
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=VN)
COMMUNE = "000.00.41.H56"  # a reception point: granted dossier-status to the portal
LAND_BRANCH = "001.01.12.H56"


@pytest.fixture
def live(database_url: str) -> Iterator[LivePlatform]:
    with live_platform(database_url) as live:
        for agency in (ONE_STOP, TNMT, COMMUNE, LAND_BRANCH):
            live.token(agency)  # clients made now, so their creation is not counted as a change
        yield live


def state(live: LivePlatform) -> dict[str, Any]:
    """Everything a refused message must leave as it was."""
    with live.platform.sessions() as s:
        return {
            "messages": s.scalar(select(func.count()).select_from(Message)),
            "deliveries": s.scalar(select(func.count()).select_from(Delivery)),
            "parties": sorted(
                s.execute(
                    select(DossierParty.dossier_code, DossierParty.agency, DossierParty.role)
                ).all()
            ),
            "log": s.execute(
                select(LogEntry.kind, LogEntry.agency).where(LogEntry.kind != "message.refused")
            ).all(),
        }


def refusals(live: LivePlatform) -> list[tuple[str | None, str | None, dict[str, Any]]]:
    with live.platform.sessions() as s:
        rows = s.execute(
            select(LogEntry.agency, LogEntry.correlation_key, LogEntry.detail)
            .where(LogEntry.kind == "message.refused")
            .order_by(LogEntry.id)
        ).all()
    return [(a, c, d) for a, c, d in rows]


def post(live: LivePlatform, agency: str, body: dict[str, Any]) -> Any:
    with live.http() as http:
        return http.post("/v1/messages", json=body, headers=live.auth(agency))


def open_dossier(live: LivePlatform, seq: int) -> str:
    dossier = sample_dossier(f"{ONE_STOP}-261126-{seq:04d}", "1.004227")  # land: to TNMT
    r = post(live, ONE_STOP, {"type": "dossier", "payload": dossier})
    assert r.status_code == 202, r.text
    assert sorted(r.json()["recipients"]) == sorted([TNMT, PORTAL])
    code: str = dossier["MaHoSo"]
    return code


def status(code: str, value: int, to: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "dossier-status",
        "payload": sample_status(code, value, T0 + timedelta(minutes=value)),
    }
    if to is not None:
        body["to"] = to
    return body


def test_opening_a_dossier_records_its_parties_with_the_message(live: LivePlatform) -> None:
    code = open_dossier(live, 1)
    with live.platform.sessions() as s:
        rows = s.execute(
            select(DossierParty.agency, DossierParty.role, DossierParty.message_id).where(
                DossierParty.dossier_code == code
            )
        ).all()
        accepted = s.scalar(select(Message.id).where(Message.correlation_key == code))
    assert sorted((a, r) for a, r, _ in rows) == sorted(
        [(ONE_STOP, "receiver"), (TNMT, "recipient"), (PORTAL, "recipient")]
    )
    assert {m for _, _, m in rows} == {accepted}


def test_a_commune_cannot_move_another_offices_dossier(live: LivePlatform) -> None:
    code = open_dossier(live, 2)
    before = state(live)
    r = post(live, COMMUNE, status(code, 10))  # routed to the portal by the copy route
    problem = assert_problem(r, 403, "not-a-party")
    assert COMMUNE in problem["detail"] and code in problem["detail"]
    assert state(live) == before
    assert refusals(live) == [
        (COMMUNE, code, {"type": "dossier-status", "reason": "not-a-party", "dossier": code})
    ]


def test_the_parties_themselves_may_act(live: LivePlatform) -> None:
    code = open_dossier(live, 3)
    assert post(live, TNMT, status(code, 4, to=ONE_STOP)).status_code == 202
    assert post(live, ONE_STOP, status(code, 2)).status_code == 202
    assert refusals(live) == []


def test_a_status_for_a_dossier_never_opened_is_refused(live: LivePlatform) -> None:
    before = state(live)
    code = f"{ONE_STOP}-261126-0099"
    assert_problem(post(live, TNMT, status(code, 4, to=ONE_STOP)), 403, "not-a-party")
    assert state(live) == before
    assert [c for _, c, _ in refusals(live)] == [code]


def test_a_foreign_dossier_update_cannot_take_the_dossier_over(live: LivePlatform) -> None:
    code = open_dossier(live, 4)
    before = state(live)
    forged = sample_dossier(code, "1.004227")  # the commune "updates" the office's dossier
    assert_problem(post(live, COMMUNE, {"type": "dossier", "payload": forged}), 403, "not-a-party")
    assert state(live) == before
    # The commune is still no party: its status is refused too.
    assert_problem(post(live, COMMUNE, status(code, 10)), 403, "not-a-party")
    assert len(refusals(live)) == 2


def test_an_update_from_the_receiving_office_adds_new_recipients(live: LivePlatform) -> None:
    code = open_dossier(live, 5)
    moved = sample_dossier(code, "2.000488")  # now a justice procedure: to the Justice dept
    assert post(live, ONE_STOP, {"type": "dossier", "payload": moved}).status_code == 202
    with live.platform.sessions() as s:
        agencies = set(
            s.scalars(select(DossierParty.agency).where(DossierParty.dossier_code == code))
        )
    assert agencies == {ONE_STOP, TNMT, PORTAL, "000.00.16.H56"}


def test_a_certificate_from_a_branch_that_never_had_the_dossier_is_refused(
    live: LivePlatform,
) -> None:
    code = open_dossier(live, 6)
    before = state(live)
    examples = Path(__file__).parents[2] / "schemas" / "land-certificate" / "examples"
    certificate = json.loads((examples / "1.json").read_text(encoding="utf-8"))
    certificate["MaHoSo"] = code
    r = post(
        live, LAND_BRANCH, {"type": "land-certificate", "to": ONE_STOP, "payload": certificate}
    )
    assert_problem(r, 403, "not-a-party")
    assert state(live) == before


def test_a_dossier_opened_before_parties_were_kept_gets_them_from_its_history(
    live: LivePlatform,
) -> None:
    code = open_dossier(live, 7)
    with live.platform.sessions.begin() as s:  # as if accepted by a version without parties
        s.execute(delete(DossierParty))
    before = state(live)
    assert_problem(post(live, COMMUNE, status(code, 10)), 403, "not-a-party")
    assert state(live) == before
    assert post(live, TNMT, status(code, 4, to=ONE_STOP)).status_code == 202
    with live.platform.sessions() as s:
        stored = set(
            s.execute(
                select(DossierParty.agency, DossierParty.role).where(
                    DossierParty.dossier_code == code
                )
            ).all()
        )
    assert stored == {(ONE_STOP, "receiver"), (TNMT, "recipient"), (PORTAL, "recipient")}


# -- end to end: the national portal is not moved -------------------------------------------


def test_a_communes_status_does_not_reach_the_portal(flow: Flow) -> None:
    dossier = sample_dossier(f"{OFFICE}-261126-0901", "1.004227")
    dossier["TrangThaiHoSo"] = "1"
    code = dossier["MaHoSo"]
    flow.send(OFFICE, {"type": "dossier", "payload": dossier})
    flow.send(TNMT, {**status(code, 2), "to": OFFICE})

    def at(value: str, entries: int) -> Any:
        view = flow.sim_get("dvcqg", f"/_sim/dossiers/{code}")
        ok = view and view["TrangThaiHoSo"] == value and len(view["QuaTrinhXuLy"]) == entries
        return view if ok else None

    before = wait_for(lambda: at("2", 1), what="the portal at status 2")
    attacker = flow.live.auth(COMMUNE)

    def snapshot() -> tuple[Any, ...]:
        with flow.live.platform.sessions() as s:
            return (
                s.scalar(select(func.count()).select_from(Message)),
                s.scalar(select(func.count()).select_from(Delivery)),
                s.scalar(select(func.max(LogEntry.id))),
            )

    messages, deliveries, last_entry = snapshot()
    with flow.live.http() as http:
        r = http.post("/v1/messages", json=status(code, 10), headers=attacker)
    assert_problem(r, 403, "not-a-party")
    assert snapshot()[:2] == (messages, deliveries)
    with flow.live.platform.sessions() as s:
        new_entries = s.execute(
            select(LogEntry.kind, LogEntry.agency).where(LogEntry.id > last_entry)
        ).all()
    assert [(k, a) for k, a in new_entries if a == COMMUNE] == [("message.refused", COMMUNE)]
    assert flow.sim_get("dvcqg", f"/_sim/dossiers/{code}") == before
    # The dossier's own chain is not held up, and the portal never saw status 10.
    flow.send(TNMT, {**status(code, 4), "to": OFFICE})
    after = wait_for(lambda: at("4", 2), what="the portal at status 4")
    assert [h["TrangThai"] for h in after["QuaTrinhXuLy"]] == ["2", "4"]
    assert after["QuaTrinhXuLy"][0] == before["QuaTrinhXuLy"][0]
