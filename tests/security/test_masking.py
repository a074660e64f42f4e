"""Personal data read by auditors and administrators: masked by default wherever they read a
payload (a message, a dead letter, the log through the API and the CLI, a log export); unmasked
only with a reason, logged with the reader before anything is shown. Auditors and
administrators are different roles."""

from __future__ import annotations

import getpass
import json
import shutil
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select

from lgsp.kit.db import transaction
from lgsp.messagelog.models import LogEntry
from lgsp.messagelog.sealer import seal_pending
from lgsp.messagelog.service import append
from lgsp.settings import PROJECT_ROOT
from tests.admin.conftest import ADMIN_AGENCY, JUSTICE, World
from tests.api.test_accept import assert_problem
from tests.support.cli import run_cli
from tests.support.platform import IOC, ONE_STOP, PORTAL

DEAD_LETTERS = "/v1/admin/dead-letters"
# Personal data of lgsp_sims.dvcqg.samples.sample_dossier: the owner's name, id and phone.
OWNER, OWNER_ID, OWNER_PHONE = "Lê Thị Hoa", "056185004321", "0905123456"


def last_entry(world: World) -> int:
    with world.live.platform.sessions() as s:
        return s.scalar(select(func.max(LogEntry.id))) or 0


def entries_after(world: World, entry_id: int) -> list[LogEntry]:
    with world.live.platform.sessions() as s:
        return list(s.scalars(select(LogEntry).where(LogEntry.id > entry_id)))


def clear(value: Any) -> bool:
    text = json.dumps(value, ensure_ascii=False)
    return OWNER in text or OWNER_ID in text or OWNER_PHONE in text


def dead_dossier(world: World, key: int) -> tuple[str, int]:
    message_id = world.dossier(key, poison=True)
    world.wait_state(message_id, JUSTICE, "dead")
    world.wait_state(message_id, PORTAL, "delivered")
    return message_id, world.delivery(message_id, JUSTICE).id


def test_an_auditor_reads_a_message_masked_unless_it_unmasks_with_a_reason(world: World) -> None:
    message_id, _ = dead_dossier(world, 1)
    auditor = world.live.auth(IOC, "audit")  # IOC is no party to this dossier
    path = f"/v1/messages/{message_id}"
    mark = last_entry(world)

    masked = world.get(path, headers=auditor)
    assert masked.status_code == 200, masked.text
    payload = masked.json()["payload"]
    assert payload["SoGiayToChuHoSo"] == "*********321" and not clear(masked.json())
    assert payload["MaHoSo"] == f"{ONE_STOP}-261126-0001"  # codes stay readable
    # Asking without a reason is refused, and nothing is shown or logged.
    no_reason = world.get(path, headers=auditor, params={"unmask": "true"})
    assert_problem(no_reason, 400, "bad-request")
    assert not clear(no_reason.json())
    assert entries_after(world, mark) == []

    shown = world.get(path, headers=auditor, params={"unmask": "true", "reason": "complaint 7"})
    assert shown.status_code == 200 and shown.json()["payload"]["ChuHoSo"] == OWNER
    [entry] = entries_after(world, mark)
    assert (entry.kind, entry.message_id) == ("audit.unmask", message_id)
    assert entry.actor == world.live.clients[f"{IOC} audit"][0]
    assert entry.detail["reason"] == "complaint 7" and entry.detail["what"] == "message"

    # The sender reads its own message as it sent it, with no unmask entry.
    mark = last_entry(world)
    own = world.get(path, headers=world.live.auth(ONE_STOP))
    assert own.json()["payload"]["ChuHoSo"] == OWNER
    assert entries_after(world, mark) == []


def test_an_admin_reads_dead_letters_masked_unless_it_unmasks_with_a_reason(
    world: World,
) -> None:
    _, delivery_id = dead_dossier(world, 2)
    world.admin()  # the admin client exists before the mark
    mark = last_entry(world)
    listing = world.get(DEAD_LETTERS)
    assert listing.status_code == 200 and listing.json()["items"]
    masked = world.get(f"{DEAD_LETTERS}/{delivery_id}")
    assert masked.status_code == 200 and masked.json()["payload"]["SoDienThoai"] == "*******456"
    assert not clear(masked.json())
    assert_problem(
        world.get(f"{DEAD_LETTERS}/{delivery_id}", params={"unmask": "true"}), 400, "bad-request"
    )
    assert entries_after(world, mark) == []

    shown = world.get(
        f"{DEAD_LETTERS}/{delivery_id}", params={"unmask": "true", "reason": "replay check"}
    )
    assert shown.json()["payload"]["SoDienThoai"] == OWNER_PHONE
    [entry] = entries_after(world, mark)
    assert entry.kind == "audit.unmask" and entry.agency == ADMIN_AGENCY
    assert entry.detail["what"] == "dead-letter" and entry.detail["delivery_id"] == delivery_id

    # The same from the command line: masked; --unmask needs --reason; logged with the OS user.
    settings = world.live.settings
    mark = last_entry(world)
    cli = run_cli(settings, "dead-letters", "show", str(delivery_id), check=True)
    assert not clear(cli.stdout)
    refused = run_cli(settings, "dead-letters", "show", str(delivery_id), "--unmask")
    assert refused.returncode != 0 and not clear(refused.stdout)
    assert entries_after(world, mark) == []
    cli = run_cli(
        settings, "dead-letters", "show", str(delivery_id), "--unmask", "--reason", "ticket 9"
    )
    assert cli.returncode == 0 and OWNER_PHONE in cli.stdout
    [entry] = entries_after(world, mark)
    assert entry.detail["os_user"] == getpass.getuser() and entry.detail["reason"] == "ticket 9"


def test_a_log_export_is_masked_unless_unmasked_with_a_reason(world: World, tmp_path: Path) -> None:
    dead_dossier(world, 3)
    platform = world.live.platform
    with transaction(platform.sessions) as session:  # as a captured exchange would carry it
        append(session, "delivery.attempt", detail={"ChuHoSo": OWNER, "SoDienThoai": OWNER_PHONE})
    seal_pending(platform.sessions, platform.seal_keys.sign_compact, settle_seconds=0.0)
    settings = world.live.settings
    out = tmp_path / "log.jsonl"
    mark = last_entry(world)
    run_cli(settings, "log", "export", str(out), check=True)
    assert not clear(out.read_text("utf-8"))
    verified = run_cli(settings, "log", "verify-export", str(out), "--json")
    assert verified.returncode == 0 and json.loads(verified.stdout)["ok"] is True
    assert entries_after(world, mark) == []

    refused = run_cli(settings, "log", "export", str(tmp_path / "clear.jsonl"), "--unmask")
    assert refused.returncode != 0 and not (tmp_path / "clear.jsonl").exists()
    assert entries_after(world, mark) == []

    args = ["--unmask", "--reason", "court order 5", "--actor", "auditor-3"]
    run_cli(settings, "log", "export", str(tmp_path / "clear.jsonl"), *args, check=True)
    assert clear((tmp_path / "clear.jsonl").read_text("utf-8"))
    [entry] = entries_after(world, mark)
    assert (entry.kind, entry.actor) == ("audit.unmask", f"auditor-3 (os user {getpass.getuser()})")
    assert entry.detail["os_user"] == getpass.getuser() and entry.detail["what"] == "export"
    verified = run_cli(settings, "log", "verify-export", str(tmp_path / "clear.jsonl"))
    assert verified.returncode == 0


def test_auditors_and_admins_are_different_roles(world: World, tmp_path: Path) -> None:
    message_id, _ = dead_dossier(world, 4)
    admin = world.admin()
    mark = last_entry(world)
    for r in (
        world.get("/v1/audit/log", headers=admin),
        world.get(f"/v1/messages/{message_id}", headers=admin),
        world.post("/v1/audit/log/verify", {}, headers=admin),
    ):
        assert_problem(r, 403, "insufficient-scope")
    assert entries_after(world, mark) == []
    auditor = world.live.auth(IOC, "audit")
    assert_problem(world.get(DEAD_LETTERS, headers=auditor), 403, "insufficient-scope")
    # The sample province gives no client both roles ...
    clients = yaml.safe_load((PROJECT_ROOT / "config" / "clients.yaml").read_text("utf-8"))
    for client in clients["clients"]:
        assert not {"admin", "audit"} <= set(client["scopes"]), client["client_id"]
    # ... and no client can be made with both, from the CLI or the configuration.
    settings = world.live.settings
    mark = last_entry(world)
    both = run_cli(settings, "clients", "create", ADMIN_AGENCY, "--scope", "admin audit")
    assert both.returncode != 0 and "not both" in both.stdout + both.stderr
    assert entries_after(world, mark) == []
    config = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "config", config)
    clients["clients"][0]["scopes"] = ["admin", "audit"]
    (config / "clients.yaml").write_text(yaml.safe_dump(clients, allow_unicode=True), "utf-8")
    checked = run_cli(settings, "config", "check", str(config))
    assert checked.returncode != 0 and "not both" in checked.stdout + checked.stderr
