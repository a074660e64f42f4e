"""DvcqgAdapter against the portal simulator served over real HTTP."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from lgsp_adapters import registry
from lgsp_adapters.base import (
    AdapterConfigError,
    CallRequest,
    PermanentError,
    RetriableError,
    UpstreamTimeout,
)
from lgsp_adapters.dvcqg import DvcqgAdapter
from lgsp_sims.dvcqg.simulator import PortalState

from lgsp.validation.catalogue import SchemaCatalogue
from tests.dvcqg.conftest import AdapterFactory, envelope, services_called
from tests.dvcqg.samples import sample_dossier, sample_status

MA = "000.00.12.H56-261126-0001"
T0 = datetime(2026, 11, 26, 8, 30, 0)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def statuses(portal: PortalState, ma: str = MA) -> list[tuple[str, str]]:
    return [(h["TrangThai"], h["ThoiDiemXuLy"]) for h in portal.history(ma)]


def current_status(portal: PortalState, ma: str = MA) -> str:
    view = portal.dossier_view(ma)
    assert view is not None
    return str(view["TrangThaiHoSo"])


def test_dossier_is_created_then_updated(adapter: DvcqgAdapter, portal: PortalState) -> None:
    dossier = sample_dossier(MA)
    result = adapter.deliver(envelope("dossier", dossier))
    assert result.status_code == 200
    assert current_status(portal) == "2"

    dossier["SoDienThoai"] = "0987654321"
    adapter.deliver(envelope("dossier", dossier))

    view = portal.dossier_view(MA)
    assert view is not None and view["SoDienThoai"] == "0987654321"
    assert services_called(portal) == ["TraCuuHoSo", "DongBoHoSoMC"] * 2
    assert [c.error_code for c in portal.calls if c.service == "DongBoHoSoMC"] == [0, 0]


def test_status_sequence_ends_returned_with_full_history(
    adapter: DvcqgAdapter, portal: PortalState
) -> None:
    dossier = dict(sample_dossier(MA), TrangThaiHoSo="1")
    adapter.deliver(envelope("dossier", dossier))
    for minute, status in enumerate([1, 2, 4, 9, 10]):
        adapter.deliver(envelope("dossier-status", sample_status(MA, status, at(minute))))

    view = portal.dossier_view(MA)
    assert view is not None
    assert view["TrangThaiHoSo"] == "10"
    assert view["NgayTra"] == "20261126083400"
    assert view["NgayKetThucXuLy"] == "20261126083300"
    assert [s for s, _ in statuses(portal)] == ["1", "2", "4", "9", "10"]


def test_supplement_request_goes_back_to_processing(
    adapter: DvcqgAdapter, portal: PortalState
) -> None:
    adapter.deliver(envelope("dossier", sample_dossier(MA)))
    for minute, status in [(1, 4), (2, 5), (3, 4)]:
        adapter.deliver(envelope("dossier-status", sample_status(MA, status, at(minute))))
    assert current_status(portal) == "4"
    assert [s for s, _ in statuses(portal)] == ["4", "5", "4"]


def test_session_expiry_is_renewed_transparently(
    adapter: DvcqgAdapter, portal: PortalState
) -> None:
    adapter.deliver(envelope("dossier", sample_dossier(MA)))
    portal.expire_sessions()
    adapter.deliver(envelope("dossier-status", sample_status(MA, 4, at(1))))

    assert current_status(portal) == "4"
    logins = [c for c in portal.calls if c.path.endswith("/auth")]
    assert len(logins) == 2
    assert [c.error_code for c in portal.calls if c.error_code == -1] == [-1]


def test_portal_failures_are_retriable_then_succeed(
    adapter: DvcqgAdapter, portal: PortalState
) -> None:
    message = envelope("dossier", sample_dossier(MA))
    portal.fail_next(1, "http500")
    with pytest.raises(RetriableError) as http500:
        adapter.deliver(message)
    assert http500.value.status_code == 500
    assert http500.value.captures  # the exchange is kept for the message log

    portal.fail_next(1, "error_code")
    with pytest.raises(RetriableError, match="Hệ thống đang bận"):
        adapter.deliver(message)

    portal.fail_for(3600)
    for _ in range(3):
        with pytest.raises(RetriableError) as unavailable:
            adapter.deliver(message)
        assert unavailable.value.status_code == 503
    portal.reset_faults()

    adapter.deliver(message)
    assert current_status(portal) == "2"


def test_timeout_that_took_effect_is_not_repeated(
    make_adapter: AdapterFactory, portal: PortalState
) -> None:
    adapter = make_adapter(timeout=0.3)
    adapter.deliver(envelope("dossier", sample_dossier(MA)))
    message = envelope("dossier-status", sample_status(MA, 4, at(1)))

    # The portal appends the history entry but answers too late.
    portal.fail_next(1, "timeout", service="CapNhatTienDoHoSoMC")
    with pytest.raises(UpstreamTimeout):
        adapter.deliver(message)
    deadline = time.monotonic() + 10
    while not portal.history(MA) and time.monotonic() < deadline:
        time.sleep(0.02)  # the late call lands once the simulator wakes up
    adapter.deliver(message)

    assert statuses(portal) == [("4", "20261126083100")]


def test_older_retry_never_regresses_the_newest_status(
    adapter: DvcqgAdapter, portal: PortalState
) -> None:
    adapter.deliver(envelope("dossier", sample_dossier(MA)))
    processing = envelope("dossier-status", sample_status(MA, 4, at(1)))
    done = envelope("dossier-status", sample_status(MA, 9, at(5)))

    adapter.deliver(done)
    adapter.deliver(processing)  # the older update, retried late

    assert current_status(portal) == "9"
    assert sorted(statuses(portal)) == [("4", "20261126083100"), ("9", "20261126083500")]


def test_concurrent_racing_updates_keep_newest_and_no_duplicates(
    adapter: DvcqgAdapter, portal: PortalState
) -> None:
    adapter.deliver(envelope("dossier", sample_dossier(MA)))
    updates = [sample_status(MA, s, at(m)) for m, s in [(1, 4), (2, 5), (3, 4), (6, 9)]]
    # Each update delivered three times (retries and redeliveries) from eight threads.
    messages = [envelope("dossier-status", u) for u in updates for _ in range(3)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(adapter.deliver, messages))

    assert current_status(portal) == "9"
    assert sorted(statuses(portal)) == sorted(
        (u["TrangThaiHoSo"], u["QuaTrinhXuLy"]["ThoiDiemXuLy"]) for u in updates
    )


def test_duplicate_delivery_is_idempotent(adapter: DvcqgAdapter, portal: PortalState) -> None:
    adapter.deliver(envelope("dossier", sample_dossier(MA)))
    message = envelope("dossier-status", sample_status(MA, 4, at(1)))
    for attempt in range(3):
        adapter.deliver(message if attempt == 0 else envelope(message.type, message.payload))

    assert statuses(portal) == [("4", "20261126083100")]
    assert services_called(portal).count("CapNhatTienDoHoSoMC") == 1
    assert services_called(portal).count("DongBoHoSoMC") == 2  # create, then one status change


def test_unknown_procedure_is_permanent_with_the_portals_message(
    adapter: DvcqgAdapter, portal: PortalState
) -> None:
    with pytest.raises(PermanentError) as refused:
        adapter.deliver(envelope("dossier", sample_dossier(MA, ma_tthc="9.999999")))
    assert "9.999999" in refused.value.reason
    assert "không có trong danh mục TTHC" in refused.value.reason
    assert refused.value.reply is not None and '"error_code":3' in refused.value.reply
    assert portal.dossier_view(MA) is None


def test_local_procedure_code_is_sent_in_national_form(
    adapter: DvcqgAdapter, portal: PortalState
) -> None:
    adapter.deliver(envelope("dossier", sample_dossier(MA, ma_tthc="1.003560.000.00.00.H56")))
    view = portal.dossier_view(MA)
    assert view is not None and view["MaTTHC"] == "1.003560"


def test_status_before_dossier_waits(adapter: DvcqgAdapter, portal: PortalState) -> None:
    with pytest.raises(RetriableError, match="not on the national portal yet"):
        adapter.deliver(envelope("dossier-status", sample_status(MA, 4, at(1))))


def test_dossier_update_keeps_a_later_portal_stage(
    adapter: DvcqgAdapter, portal: PortalState
) -> None:
    adapter.deliver(envelope("dossier", sample_dossier(MA)))
    adapter.deliver(envelope("dossier-status", sample_status(MA, 9, at(5))))
    stale = dict(sample_dossier(MA), SoDienThoai="0987654321")  # still says status 2
    adapter.deliver(envelope("dossier", stale))
    view = portal.dossier_view(MA)
    assert view is not None
    assert (view["TrangThaiHoSo"], view["SoDienThoai"]) == ("9", "0987654321")


def test_wrong_password_is_retriable_and_does_not_hammer_the_login(
    make_adapter: AdapterFactory, portal: PortalState
) -> None:
    adapter = make_adapter(password="wrong")
    for _ in range(3):
        with pytest.raises(RetriableError, match="mật khẩu"):
            adapter.deliver(envelope("dossier", sample_dossier(MA)))
    assert len([c for c in portal.calls if c.path.endswith("/auth")]) == 1


def test_captures_hide_session_and_password(adapter: DvcqgAdapter) -> None:
    result = adapter.deliver(envelope("dossier", sample_dossier(MA)))
    bodies = [c.body or "" for c in result.captures]
    assert bodies and all("h56-portal-secret" not in b for b in bodies)
    session = adapter.portal._session
    assert session and all(session not in b for b in bodies)


def test_unsupported_message_type_is_permanent(adapter: DvcqgAdapter) -> None:
    with pytest.raises(PermanentError, match="field-report"):
        adapter.deliver(envelope("field-report", {"MaHoSo": MA}))


def _call(service: str, payload: object = None, **query: str) -> CallRequest:
    return CallRequest(
        service=service,
        operation={},
        payload=payload,
        caller="000.00.01.H56",
        request_id="req-1",
        query=query,
    )


def test_synchronous_services(adapter: DvcqgAdapter) -> None:
    adapter.deliver(envelope("dossier", sample_dossier(MA)))

    found = adapter.call(_call("TraCuuHoSo", {"MaHoSo": MA}))
    assert found.status_code == 200 and found.body["MaHoSo"] == MA

    by_query = adapter.call(_call("TraCuuHoSo", MaHoSo=MA))
    assert by_query.body["TrangThaiHoSo"] == "2"

    missing = adapter.call(_call("TraCuuHoSo", {"MaHoSo": "000.00.12.H56-261126-9999"}))
    assert missing.status_code == 404 and missing.body["error_code"] == 5

    procedures = adapter.call(_call("LayDanhSachTTHC"))
    assert "1.004227" in {p["MaTTHC"] for p in procedures.body}
    agencies = adapter.call(_call("LayDanhMucCoQuan"))
    assert "000.00.12.H56" in {a["MaCoQuan"] for a in agencies.body}
    fields = adapter.call(_call("LayDanhMucLinhVuc"))
    assert fields.status_code == 200 and fields.body
    one = adapter.call(
        CallRequest("thu-tuc", {"service": "LayThuTuc"}, {"MaTTHC": "2.002492"}, "x", "r")
    )
    assert one.body["TenTTHC"] == "Đăng ký khai sinh"

    with pytest.raises(PermanentError, match="no synchronous service"):
        adapter.call(_call("DongBoHoSoMC", {}))


def test_registry_builds_it_and_refuses_bad_settings(
    portal_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = {
        "base_url": portal_url + "/",
        "username": "lgsp.h56",
        "password": "${DVCQG_TEST_PASSWORD}",
        "agency_code": "000.00.00.H56",
    }
    monkeypatch.setenv("DVCQG_TEST_PASSWORD", "h56-portal-secret")
    built = registry.build("dvcqg", settings, agency_code="DVCQG", timeout=5)
    try:
        assert isinstance(built, DvcqgAdapter)
        assert built.call(_call("LayDanhMucCoQuan")).status_code == 200
    finally:
        built.close()
    with pytest.raises(AdapterConfigError, match="base_url"):
        registry.build(
            "dvcqg", dict(settings, base_url="ftp://portal"), agency_code="DVCQG", timeout=5
        )
    with pytest.raises(AdapterConfigError, match="agency_code"):
        registry.build(
            "dvcqg",
            {k: v for k, v in settings.items() if k != "agency_code"},
            agency_code="DVCQG",
            timeout=5,
        )


def test_older_update_in_the_same_stage_is_decided_by_time(
    adapter: DvcqgAdapter, portal: PortalState
) -> None:
    # 4 and 5 are the same stage, so only the processing time tells which one is newer.
    adapter.deliver(envelope("dossier", sample_dossier(MA)))
    adapter.deliver(envelope("dossier-status", sample_status(MA, 5, at(2))))
    adapter.deliver(envelope("dossier-status", sample_status(MA, 4, at(1))))  # retried late

    assert current_status(portal) == "5"
    assert sorted(statuses(portal)) == [("4", "20261126083100"), ("5", "20261126083200")]
    assert services_called(portal).count("DongBoHoSoMC") == 2  # create, then 5 only


def test_samples_are_valid_platform_messages() -> None:
    schemas = SchemaCatalogue(Path(__file__).resolve().parents[2] / "schemas")
    assert schemas.errors(schemas.latest("dossier"), sample_dossier(MA)) == []
    for status in range(1, 11):
        update = sample_status(MA, status, at(status))
        assert schemas.errors(schemas.latest("dossier-status"), update) == [], status
