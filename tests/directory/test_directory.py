"""DirectoryCache snapshots and the directory endpoints, over a database holding the sample."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

import lgsp.models  # noqa: F401 - every table in the metadata
from lgsp.admin.province import apply as apply_config
from lgsp.directory.config import load_config
from lgsp.directory.models import Route
from lgsp.directory.repository import Directory, DirectoryCache
from lgsp.kit.db import Base, make_engine, make_sessionmaker, transaction
from tests.directory.conftest import SAMPLE
from tests.support.platform import LivePlatform, live_platform

OFFICE, TNMT, JUSTICE, PORTAL = "000.00.01.H56", "000.00.12.H56", "000.00.16.H56", "000.00.00.G22"
LAND_REGISTRY, BEN_NGU, IOC = "000.01.12.H56", "000.00.41.H56", "000.01.13.H56"


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'lgsp.db'}", pool_size=4)
    Base.metadata.create_all(engine)
    factory = make_sessionmaker(engine)
    apply_config(factory, load_config(SAMPLE), actor="test")
    yield factory
    engine.dispose()


def test_snapshot_answers_the_request_path(factory: sessionmaker[Session]) -> None:
    d = DirectoryCache(factory, ttl=60).snapshot()
    assert d.agency(OFFICE) is not None and d.agency(OFFICE).delivery == "push"  # type: ignore[union-attr]
    assert d.agencies[TNMT].delivery == "push"  # its SOAP processing system
    assert d.agencies["000.00.07.H56"].delivery == "pull"
    assert d.agencies["000.00.00.H56"].delivery is None  # sends, never receives
    endpoint = d.endpoint(PORTAL)
    assert endpoint is not None and endpoint.adapter == "dvcqg" and endpoint.concurrency == 4
    assert d.endpoint("000.00.99.H56") is None
    assert d.message_types["land-intake"].correlation_pointer == "/MaHoSoMotCua"
    assert [r.name for r in d.routes_for("dossier-status")] == ["dossier-status-to-portal"]
    assert d.routes_for("nothing") == ()
    service = d.service(LAND_REGISTRY, "LookupCertificate")
    assert service is not None and service.operation == {"operation": "LookupCertificate"}

    land_dossier = {"MaHoSo": "000.00.01.H56-261126-0007", "MaTTHC": "1.004227.000.00.00.H56"}
    assert d.recipients(message_type="dossier", sender=OFFICE, to=None, payload=land_dossier) == [
        TNMT,
        PORTAL,
    ]
    status = {"MaHoSo": "000.00.01.H56-261126-0007", "TrangThai": "4"}
    assert d.recipients(message_type="dossier-status", sender=TNMT, to=OFFICE, payload=status) == [
        OFFICE,
        PORTAL,
    ]
    report = {"id": "PA-7", "location": {"MaXa": "25501", "lat": 20.0, "lon": 105.0}}
    assert d.recipients(message_type="field-report", sender=IOC, to=None, payload=report) == [
        BEN_NGU
    ]
    answered = {**report, "result": {"text": "đã xử lý"}}
    assert d.recipients(message_type="field-report", sender=BEN_NGU, to=None, payload=answered) == [
        IOC
    ]
    intake = {"MaHoSoMotCua": "x", "XaId": "25505"}
    assert d.recipients(message_type="land-intake", sender=OFFICE, to=None, payload=intake) == [
        "002.01.12.H56"
    ]

    # Every recipient the sample routes a flow to is granted to its sender.
    assert d.is_granted(OFFICE, "send", "dossier", TNMT)
    assert d.is_granted(OFFICE, "send", "dossier", PORTAL)
    assert d.is_granted(TNMT, "send", "dossier-status", OFFICE)
    assert d.is_granted(TNMT, "send", "dossier-status", PORTAL)
    assert d.is_granted(IOC, "send", "field-report", BEN_NGU)
    assert d.is_granted(BEN_NGU, "send", "field-report", IOC)
    assert d.is_granted(OFFICE, "call", f"{LAND_REGISTRY}/LookupCertificate")
    # ... and nothing more.
    assert not d.is_granted(TNMT, "send", "dossier", JUSTICE)
    assert not d.is_granted(IOC, "send", "dossier", TNMT)
    assert not d.is_granted(PORTAL, "send", "dossier-status", OFFICE)
    assert not d.is_granted(IOC, "call", f"{LAND_REGISTRY}/LookupCertificate")
    assert {g.agency_code for g in d.grants_for(OFFICE)} == {OFFICE}

    with pytest.raises(dataclasses.FrozenInstanceError):
        d.agencies[OFFICE].kind = "x"  # type: ignore[misc]


def test_cache_reloads_only_when_asked_or_stale(factory: sessionmaker[Session]) -> None:
    cache = DirectoryCache(factory, ttl=3600)
    first = cache.snapshot()
    with transaction(factory) as session:
        session.execute(delete(Route).where(Route.name == "dossier-to-portal"))
    assert cache.snapshot() is first  # fresh enough: no query
    assert len(first.routes_for("dossier")) == 4
    assert cache.refresh_if_older_than(3600) is first
    second = cache.refresh_if_older_than(0)
    assert second is not first
    assert [r.name for r in second.routes_for("dossier")] == [
        "dossier-to-khdt",
        "dossier-to-tnmt",
        "dossier-to-tuphap",
    ]
    cache.invalidate()
    assert cache.snapshot() is not second
    assert cache.refresh() is not second


def test_snapshot_shared_by_threads(factory: sessionmaker[Session]) -> None:
    cache = DirectoryCache(factory, ttl=3600)
    seen: list[Directory] = []
    lock = threading.Lock()

    def worker() -> None:
        snap = cache.snapshot()
        with lock:
            seen.append(snap)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # One thread loaded; the others waited and got the same snapshot.
    assert len({id(s) for s in seen}) == 1 and len(seen) == 8


@pytest.fixture
def live(sqlite_url: str) -> Iterator[LivePlatform]:
    with live_platform(sqlite_url) as platform:
        yield platform


def test_agency_directory_endpoint(live: LivePlatform) -> None:
    with live.http() as http:
        assert http.get("/v1/agencies").status_code == 401  # authenticated clients only
        auth = live.auth(IOC, "messages:read")
        listing = http.get("/v1/agencies", headers=auth)
        assert listing.status_code == 200
        agencies: list[dict[str, Any]] = listing.json()
        by_code = {a["code"]: a for a in agencies}
        assert len(agencies) == 16
        assert by_code[TNMT] == {
            "code": TNMT,
            "name_vi": "Sở Tài nguyên và Môi trường",
            "name_en": "Department of Natural Resources and Environment",
            "kind": "department",
            "parent": "000.00.00.H56",
            "delivery": "push",
        }
        assert by_code[PORTAL]["delivery"] == "push"
        # Adapter settings (addresses, the portal password) never leave the platform.
        assert "h56-portal-secret" not in listing.text and "8181" not in listing.text

        one = http.get(f"/v1/agencies/{OFFICE}", headers=auth)
        assert one.status_code == 200 and one.json()["kind"] == "one_stop_office"
        missing = http.get("/v1/agencies/000.00.99.H56", headers=auth)
        assert missing.status_code == 404
        assert missing.json()["type"].endswith("/not-found")

        catalogue = http.get("/v1/services", headers=auth)
        assert catalogue.status_code == 200
        services = catalogue.json()
        assert [(s["provider"], s["name"]) for s in services] == [
            (PORTAL, "TraCuuHoSo"),
            (LAND_REGISTRY, "LookupCertificate"),
        ]
        lookup = services[1]
        # The registry answers in its own shape, not a land-certificate/1 record.
        assert lookup["response_schema"] == "land-certificate-lookup-reply/1"
        assert lookup["path"] == f"/v1/services/{LAND_REGISTRY}/LookupCertificate"
        assert "operation" not in lookup
