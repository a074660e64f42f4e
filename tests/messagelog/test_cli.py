"""`lgsp log` end to end on a SQLite platform database, with the platform's own key store."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

import lgsp.models  # noqa: F401 - every table, for the key store
from lgsp.cli.log import app
from lgsp.kit.db import Base, make_engine, make_sessionmaker, transaction
from lgsp.messagelog.models import LogEntry
from lgsp.messagelog.service import append
from lgsp.settings import get_settings

DOSSIER = "000.00.12.H02-261126-0007"


@pytest.fixture
def platform_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / 'lgsp.db'}"
    monkeypatch.setenv("LGSP_DATABASE_URL", url)
    get_settings.cache_clear()
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as session:
        for n in range(3):
            append(
                session,
                "message.accepted",
                actor="c_motcua",
                agency="000.00.12.H02",
                message_id=f"m{n}",
                correlation_key=DOSSIER,
                detail={"ChuHoSo": "Nguyễn Văn An", "SoDienThoai": "0912345678", "n": n},
            )
    yield sessions
    engine.dispose()
    get_settings.cache_clear()


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_seal_verify_show_export(platform_db: sessionmaker[Session], tmp_path: Path) -> None:
    code, out = _run("seal", "--settle-seconds", "0")
    assert code == 0 and "sealed 3 entries" in out

    code, out = _run("verify")
    assert code == 0 and "log intact" in out and "3 entries verified" in out

    code, out = _run("show", "--correlation", DOSSIER, "--json")
    assert code == 0
    shown = json.loads(out)
    assert [e["message_id"] for e in shown] == ["m2", "m1", "m0"]
    assert shown[0]["detail"]["ChuHoSo"] == "N*** V*** A***"
    assert shown[0]["detail"]["SoDienThoai"] == "*******678"
    assert "Nguyễn" not in out

    export = tmp_path / "log.jsonl"
    code, out = _run("export", str(export))
    assert code == 0 and "3 entries (masked)" in out
    assert "Nguyễn" not in export.read_text("utf-8")  # masked by default
    code, out = _run("verify-export", str(export))
    assert code == 0 and "log intact" in out
    trusted = tmp_path / "jwks.json"
    trusted.write_text(json.dumps(json.loads(export.read_text().splitlines()[0])["jwks"]))
    result = CliRunner().invoke(
        app, ["verify-export", str(export), "--jwks", str(trusted), "--json"]
    )
    assert result.exit_code == 0 and json.loads(result.stdout)["ok"] is True
    assert "3 masked entries checked by their sealed digests only" in result.stderr


def test_unmask_is_itself_logged(platform_db: sessionmaker[Session]) -> None:
    unmask = ["--unmask", "--reason", "complaint 12", "--actor", "auditor-7"]
    code, out = _run("show", "--message-id", "m1", *unmask, "--json")
    assert code == 0
    assert json.loads(out)[0]["detail"]["ChuHoSo"] == "Nguyễn Văn An"
    with platform_db() as session:
        audit = session.scalars(select(LogEntry).where(LogEntry.kind == "audit.unmask")).one()
    assert audit.actor == f"auditor-7 (os user {getpass.getuser()})"
    assert audit.detail["reason"] == "complaint 12"
    assert audit.detail["os_user"] == getpass.getuser()  # the typed name is not the only record
    assert audit.detail["filters"] == {"message_id": "m1"}
    assert audit.detail["entry_ids"] == [json.loads(out)[0]["id"]]
    # Without --unmask nothing is logged.
    _run("show", "--message-id", "m1")
    with platform_db() as session:
        kinds = session.scalars(select(LogEntry.kind)).all()
    assert kinds.count("audit.unmask") == 1


def test_verify_fails_naming_the_entry(platform_db: sessionmaker[Session]) -> None:
    assert _run("seal", "--settle-seconds", "0")[0] == 0
    with transaction(platform_db) as session:
        victim = session.scalars(select(LogEntry.id).where(LogEntry.message_id == "m1")).one()
        session.execute(update(LogEntry).where(LogEntry.id == victim).values(agency="forged"))
    code, out = _run("verify")
    assert code == 1
    assert f"entry {victim}" in out and "altered" in out
