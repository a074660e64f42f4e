"""The exchange end to end: one message fanned out to REST, SOAP, pull and the national portal;
the one-stop dossier flow with its status sequence; faults at the portal; refusals."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from lgsp_sims.dvcqg.samples import sample_dossier, sample_status

from tests.e2e.conftest import JUSTICE, KHDT, OFFICE, PORTAL, TNMT, Flow, wait_for
from tests.support.cli import run_cli

VN = ZoneInfo("Asia/Ho_Chi_Minh")
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=VN)


def new_dossier(seq: int, status: str = "1", procedure: str = "1.004227") -> dict[str, Any]:
    d = sample_dossier(f"{OFFICE}-261126-{seq:04d}", procedure)
    d["TrangThaiHoSo"] = status
    return d


def delivered(flow: Flow, agency: str, message_id: str) -> dict[str, Any] | None:
    view = flow.message(agency, message_id)
    states = {r["state"] for r in view["recipients"]}
    return view if states <= {"delivered", "acked", "inbox"} and "delivered" in states else None


def log_kinds(flow: Flow, message_id: str) -> list[tuple[str, str | None]]:
    from sqlalchemy import select

    from lgsp.messagelog.models import LogEntry

    with flow.live.platform.sessions() as s:
        rows = s.execute(
            select(LogEntry.kind, LogEntry.agency)
            .where(LogEntry.message_id == message_id)
            .order_by(LogEntry.id)
        ).all()
    return [(k, a) for k, a in rows]


def test_one_message_reaches_rest_soap_pull_and_the_portal(flow: Flow) -> None:
    dossier = new_dossier(1)
    sent = flow.send(OFFICE, {"type": "dossier", "payload": dossier})
    assert set(sent["recipients"]) == {TNMT, JUSTICE, KHDT, PORTAL}
    view = wait_for(lambda: delivered(flow, OFFICE, sent["id"]), what="deliveries")
    states = {r["agency"]: r["state"] for r in view["recipients"]}
    assert states == {TNMT: "delivered", JUSTICE: "delivered", KHDT: "inbox", PORTAL: "delivered"}

    # REST: the justice system got the payload with the platform's headers, once.
    got = flow.sim_get("justice", f"/_sim/messages/{sent['id']}")
    assert got["body"]["MaHoSo"] == dossier["MaHoSo"] and got["receive_count"] == 1
    # SOAP: the department's NhanHoSo received the dossier fields and the message id.
    soap = flow.sim_get("department", "/_sim/messages")
    assert [m for m in soap if m["message_id"] == sent["id"]]
    # Pull: it waits in the inbox of Planning and Investment.
    with flow.live.http() as http:
        inbox = http.get("/v1/inbox", headers=flow.live.auth(KHDT)).json()
    assert [i["id"] for i in inbox["items"]] == [sent["id"]]
    # The portal has the dossier.
    assert flow.sim_get("dvcqg", f"/_sim/dossiers/{dossier['MaHoSo']}")["TrangThaiHoSo"] == "1"

    kinds = log_kinds(flow, sent["id"])
    assert kinds[0] == ("message.accepted", OFFICE)
    assert sorted(a for k, a in kinds if k == "delivery.delivered") == sorted(
        [TNMT, JUSTICE, PORTAL]
    )
    # The SOAP exchange is captured in the log.
    from sqlalchemy import select

    from lgsp.messagelog.models import LogEntry

    with flow.live.platform.sessions() as s:
        detail = s.scalar(
            select(LogEntry.detail).where(
                LogEntry.message_id == sent["id"],
                LogEntry.agency == TNMT,
                LogEntry.kind == "delivery.delivered",
            )
        )
    assert any("NhanHoSo" in (c["body"] or "") for c in detail["captures"])

    from lgsp.messagelog.sealer import seal_pending

    seal_pending(
        flow.live.platform.sessions, flow.live.platform.seal_keys.sign_compact, settle_seconds=0.0
    )
    verify = run_cli(flow.live.settings, "log", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def run_status_sequence(flow: Flow, seq: int, statuses: list[int]) -> tuple[str, list[str]]:
    dossier = new_dossier(seq)
    first = flow.send(OFFICE, {"type": "dossier", "payload": dossier})
    ids = [first["id"]]
    for i, status in enumerate(statuses):
        update = sample_status(dossier["MaHoSo"], status, T0 + timedelta(minutes=10 * (i + 1)))
        ids.append(
            flow.send(TNMT, {"type": "dossier-status", "to": OFFICE, "payload": update})["id"]
        )
    return dossier["MaHoSo"], ids


def portal_final(flow: Flow, ma_ho_so: str, status: str, entries: int) -> Any:
    def check() -> Any:
        view = flow.sim_get("dvcqg", f"/_sim/dossiers/{ma_ho_so}")
        if view and view["TrangThaiHoSo"] == status and len(view["QuaTrinhXuLy"]) >= entries:
            return view
        return None

    return wait_for(check, what=f"portal at status {status}")


def test_dossier_flow_reaches_department_and_portal_in_order(flow: Flow) -> None:
    ma_ho_so, ids = run_status_sequence(flow, 2, [2, 4, 9, 10])
    for message_id in ids:
        wait_for(
            lambda m=message_id: delivered(flow, OFFICE if m == ids[0] else TNMT, m),
            what=f"delivery of {message_id}",
        )
    view = portal_final(flow, ma_ho_so, "10", 4)
    assert [h["TrangThai"] for h in view["QuaTrinhXuLy"]] == ["2", "4", "9", "10"]
    # The department received the dossier; the office received the statuses in order.
    assert [m for m in flow.sim_get("department", "/_sim/messages") if m["message_id"] == ids[0]]
    office = [
        m for m in flow.sim_get("onestop", "/_sim/messages") if m["body"].get("MaHoSo") == ma_ho_so
    ]
    assert [m["body"]["TrangThaiHoSo"] for m in office] == ["2", "4", "9", "10"]
    assert all(m["receive_count"] == 1 for m in office)


def test_portal_faults_lose_nothing_and_keep_the_history_whole(flow: Flow) -> None:
    # Sessions expire mid-run, the portal errs for a while, and one update times out at the
    # platform although the portal applied it (the retry then races its own earlier attempt).
    flow.control(
        "dvcqg",
        fail_next=1,
        fail_kind="timeout",
        fail_service="CapNhatTienDoHoSoMC",
        timeout_delay=2.5,
    )
    ma_ho_so, ids = run_status_sequence(flow, 3, [2, 4])
    wait_for(lambda: delivered(flow, TNMT, ids[-1]), what="status 4")
    flow.control("dvcqg", expire_sessions=True)
    flow.control("dvcqg", fail_for=1.0, fail_kind="http500")
    for i, status in enumerate([9, 10], start=3):
        update = sample_status(ma_ho_so, status, T0 + timedelta(minutes=10 * i))
        ids.append(
            flow.send(TNMT, {"type": "dossier-status", "to": OFFICE, "payload": update})["id"]
        )
    for message_id in ids[1:]:
        wait_for(lambda m=message_id: delivered(flow, TNMT, m), what="status delivery")
    view = portal_final(flow, ma_ho_so, "10", 4)
    assert [h["TrangThai"] for h in view["QuaTrinhXuLy"]] == ["2", "4", "9", "10"]


def test_refusals_at_the_platform_and_at_the_portal(flow: Flow) -> None:
    bad = new_dossier(4)
    bad.update(
        MaHoSo="HS-4",
        TrangThaiHoSo="12",
        NgayNopHoSo="2026-11-26 08:15",
        SoGiayToChuHoSo="05618500432",
    )
    with flow.live.http() as http:
        r = http.post(
            "/v1/messages", json={"type": "dossier", "payload": bad}, headers=flow.live.auth(OFFICE)
        )
    assert r.status_code == 422
    pointers = {e["pointer"] for e in r.json()["errors"]}
    assert {"/MaHoSo", "/TrangThaiHoSo", "/NgayNopHoSo", "/SoGiayToChuHoSo"} <= pointers

    # A procedure the portal does not know: valid for the platform, refused by the portal.
    unknown = new_dossier(5, procedure="9.999999")
    sent = flow.send(OFFICE, {"type": "dossier", "payload": unknown})

    def portal_dead() -> Any:
        view = flow.message(OFFICE, sent["id"])
        portal = next(x for x in view["recipients"] if x["agency"] == PORTAL)
        return portal if portal["state"] == "dead" else None

    portal = wait_for(portal_dead, what="portal dead letter")
    assert "9.999999" in portal["last_error"] or "thủ tục" in portal["last_error"].lower()
    listed = run_cli(flow.live.settings, "dead-letters", "list", "--json", check=True)
    assert sent["id"] in listed.stdout


def test_cli_replay_after_fix(flow: Flow) -> None:
    # Not a portal refusal this time: the office's system rejects one status permanently, then
    # is fixed; the admin replays and the office gets it once.
    flow.control("onestop", fail_next=1, fail_kind="reject")
    _, ids = run_status_sequence(flow, 6, [2])

    def office_dead() -> Any:
        view = flow.message(TNMT, ids[1])
        office = next(x for x in view["recipients"] if x["agency"] == OFFICE)
        return office if office["state"] == "dead" else None

    wait_for(office_dead, what="office dead letter")
    result = run_cli(flow.live.settings, "dead-letters", "replay", "--message", ids[1])
    assert result.returncode == 0, result.stderr
    flow.live.platform.outbox_signal.set()
    wait_for(lambda: delivered(flow, TNMT, ids[1]), what="replayed delivery")
    office = flow.sim_get("onestop", f"/_sim/messages/{ids[1]}")
    assert office["receive_count"] == 1
    assert [k for k, _ in log_kinds(flow, ids[1]) if k.startswith("delivery.")].count(
        "delivery.replayed"
    ) == 1
