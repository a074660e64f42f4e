"""Applying a province configuration against real databases (SQLite and PostgreSQL):
idempotent, a changed configuration changes exactly what changed, and each apply is an admin
action in the message log."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

import lgsp.models  # noqa: F401 - every table in the metadata
from lgsp.admin.province import ApplyReport, apply
from lgsp.auth.models import OAuthClient
from lgsp.directory.config import load_config
from lgsp.directory.models import Agency, Endpoint, Grant, MessageType, Route, Service
from lgsp.exchange.models import Message
from lgsp.kit.db import Base, make_engine, make_sessionmaker, transaction
from lgsp.kit.secrets import verify_secret
from lgsp.kit.timeutil import utcnow
from lgsp.messagelog.models import LogEntry
from tests.directory.conftest import SAMPLE, Editor

SECRETS = {
    "LGSP_CLIENT_SECRET_MOTCUA": "motcua-secret-0123456789abcdef",
    "LGSP_CLIENT_SECRET_TANLAP": "tanlap-secret-0123456789abcdef",
}


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=2)
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture(autouse=True)
def client_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "TNMT",
        "TUPHAP",
        "KHDT",
        "VPDKDD_BAC",
        "VPDKDD_NAM",
        "IOC",
        "BENNGU",
        "ADMIN",
    ):
        monkeypatch.delenv(f"LGSP_CLIENT_SECRET_{name}", raising=False)
    for name, value in SECRETS.items():
        if value:
            monkeypatch.setenv(name, value)


def apply_dir(factory: sessionmaker[Session], directory: Path) -> ApplyReport:
    cfg = load_config(directory)
    return apply(factory, cfg, actor="test")


def count(session: Session, model: Any) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_apply_is_idempotent(factory: sessionmaker[Session]) -> None:
    cfg = load_config(SAMPLE)
    first = apply_dir(factory, SAMPLE)
    c = first.counts
    assert c["agencies"].created == len(cfg.agencies) == 16
    assert c["endpoints"].created == sum(1 for a in cfg.agencies if a.endpoint) == 15
    assert c["message_types"].created == 8
    assert c["routes"].created == len(cfg.routes)
    assert c["grants"].created == len(cfg.grant_rows())
    assert c["services"].created == 2
    # The two clients with their secret set; the rest skipped (none is declared by hash).
    assert c["clients"].created == 2
    assert len([w for w in first.warnings if "skipped" in w]) == 8

    second = apply_dir(factory, SAMPLE)
    assert second.changes == 0, second.lines()

    with factory() as session:
        assert count(session, Agency) == 16
        assert count(session, Endpoint) == 15
        assert count(session, MessageType) == 8
        assert count(session, Route) == len(cfg.routes)
        assert count(session, Grant) == len(cfg.grant_rows())
        assert count(session, Service) == 2
        portal_route = session.scalars(select(Route).where(Route.name == "dossier-to-portal")).one()
        assert portal_route.copy is True and portal_route.condition is None
        tnmt = session.scalars(select(Route).where(Route.name == "dossier-to-tnmt")).one()
        assert tnmt.copy is False
        assert tnmt.condition is not None and tnmt.condition["pointer"] == "/MaTTHC"
        dvcqg = session.get(Endpoint, "000.00.00.G22")
        assert dvcqg is not None and dvcqg.adapter == "dvcqg"
        # Stored as written; the adapter registry resolves the reference when it builds.
        assert dvcqg.settings["base_url"] == "${LGSP_DVCQG_URL:-http://127.0.0.1:8181}"
        motcua = session.get(OAuthClient, "h56-motcua")
        assert motcua is not None and motcua.agency_code == "000.00.01.H56"
        assert verify_secret(SECRETS["LGSP_CLIENT_SECRET_MOTCUA"], motcua.secret_hash)
        assert motcua.scopes == "messages:send messages:read services:call schemas:validate"
        # The sample province declares no client by a hash printed in the repository.
        assert session.get(OAuthClient, "h56-audit") is None
        assert session.get(OAuthClient, "h56-tnmt") is None


def test_changed_configuration(
    factory: sessionmaker[Session],
    config_copy: Path,
    edit: Editor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    apply_dir(factory, config_copy)
    motcua_hash_before = _client_hash(factory, "h56-motcua")
    # A message from VNPost makes it history: removing it from the config must only deactivate.
    with transaction(factory) as session:
        session.add(_message(sender="H56.90"))

    def agencies(data: Any) -> None:
        data["agencies"] = [
            a for a in data["agencies"] if a["code"] not in ("H56.91", "H56.90", "000.00.42.H56")
        ]
        data["agencies"][0]["name_en"] = "Ha Lam City People's Committee (UBND)"

    def routes(data: Any) -> None:
        for name in ("sms-to-gateway", "postal-order-to-vnpost", "field-report-tan-lap"):
            del data["routes"][name]
        data["routes"]["land-intake-north"]["condition"]["in"].append("25507")

    def grants(data: Any) -> None:
        data["groups"]["reception"].remove("000.00.42.H56")
        data["groups"]["communes"].remove("000.00.42.H56")
        data["grants"] = [
            g
            for g in data["grants"]
            if "sms-notification" not in (g.get("send") or [])
            and "postal-order" not in (g.get("send") or [])
        ]

    def clients(data: Any) -> None:
        data["clients"] = [c for c in data["clients"] if c["client_id"] != "h56-tanlap"]
        data["clients"][0]["scopes"] = ["messages:send"]

    edit("agencies.yaml", agencies)
    edit("routes.yaml", routes)
    edit("grants.yaml", grants)
    edit("clients.yaml", clients)
    monkeypatch.setenv("LGSP_CLIENT_SECRET_MOTCUA", "a-brand-new-secret-for-motcua-0001")

    report = apply_dir(factory, config_copy)
    c = report.counts
    assert (c["agencies"].updated, c["agencies"].removed, c["agencies"].deactivated) == (1, 1, 2)
    assert c["agencies"].created == 0
    assert c["endpoints"].removed == 3
    assert (c["routes"].removed, c["routes"].updated, c["routes"].created) == (3, 1, 0)
    assert c["grants"].removed > 0 and c["grants"].created == 0
    assert c["clients"].updated == 1  # scopes and secret of h56-motcua

    with factory() as session:
        assert session.get(Agency, "H56.91") is None  # nothing referred to it: removed
        vnpost = session.get(Agency, "H56.90")  # a message came from it: kept, inactive
        assert vnpost is not None and not vnpost.active
        tan_lap = session.get(Agency, "000.00.42.H56")  # its client exists: kept, inactive
        assert tan_lap is not None and not tan_lap.active
        assert session.get(OAuthClient, "h56-tanlap") is not None  # clients are never removed
        assert session.get(Endpoint, "H56.90") is None
        motcua = session.get(OAuthClient, "h56-motcua")
        assert motcua is not None and motcua.scopes == "messages:send"
        assert motcua.secret_hash != motcua_hash_before
        assert motcua.secret_rotated_at is not None
        north = session.scalars(select(Route).where(Route.name == "land-intake-north")).one()
        assert north.condition is not None and "25507" in north.condition["in"]

    assert apply_dir(factory, config_copy).changes == 0

    # Back to the sample: the deactivated agencies come back, the removed one is recreated.
    back = apply_dir(factory, SAMPLE)
    assert back.counts["agencies"].created == 1
    assert back.counts["agencies"].updated == 3
    with factory() as session:
        agency = session.get(Agency, "000.00.42.H56")
        assert agency is not None and agency.active


def test_dry_run_rollback_leaves_database_untouched(factory: sessionmaker[Session]) -> None:
    cfg = load_config(SAMPLE)
    report = apply(factory, cfg, actor="test", dry_run=True)
    assert report.changes > 0
    with factory() as session:
        assert count(session, Agency) == 0


def _client_hash(factory: sessionmaker[Session], client_id: str) -> str:
    with factory() as session:
        client = session.get(OAuthClient, client_id)
        assert client is not None
        return client.secret_hash


def _message(sender: str) -> Message:
    body = b"{}"
    return Message(
        id="01900000-0000-7000-8000-000000000001",
        type="postal-order",
        sender=sender,
        client_id="none",
        payload=body.decode(),
        payload_sha256=hashlib.sha256(body).hexdigest(),
        size=len(body),
        accepted_at=utcnow(),
        request_sha256=hashlib.sha256(body).hexdigest(),
    )


def _applied_entries(factory: sessionmaker[Session]) -> list[LogEntry]:
    with factory() as session:
        return list(
            session.scalars(
                select(LogEntry)
                .where(LogEntry.kind == "admin.config_applied")
                .order_by(LogEntry.id)
            )
        )


def test_each_apply_is_an_admin_action_in_the_message_log(
    factory: sessionmaker[Session], config_copy: Path, edit: Editor
) -> None:
    first = apply(factory, load_config(config_copy), actor="admin-7")

    def grant_postal_orders(data: Any) -> None:
        data["grants"].append(
            {"agency": "000.00.07.H56", "send": ["postal-order"], "to": ["H56.90"]}
        )

    edit("grants.yaml", grant_postal_orders)
    second = apply(factory, load_config(config_copy), actor="admin-8")
    apply(factory, load_config(config_copy), actor="admin-9", dry_run=True)

    entries = _applied_entries(factory)
    # The dry run changed nothing and is not logged.
    assert [e.actor for e in entries] == ["admin-7", "admin-8"]
    assert entries[0].detail["province"] == load_config(config_copy).province.code
    assert entries[0].detail["changes"] == first.changes > 0
    assert entries[0].detail["counts"]["grants"]["created"] == first.counts["grants"].created
    assert entries[0].detail["counts"]["agencies"]["created"] == 16
    assert entries[1].detail["changes"] == second.changes == 1
    assert entries[1].detail["counts"]["grants"] == {
        "created": 1,
        "updated": 0,
        "removed": 0,
        "deactivated": 0,
    }
    assert entries[1].detail["counts"]["agencies"]["updated"] == 0
