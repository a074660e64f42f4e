"""The portal simulator on its own: it refuses what the portal refuses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from lgsp_sims.dvcqg.portal_state import DEFAULT_AGENCY, DEFAULT_PASSWORD, DEFAULT_USERNAME
from lgsp_sims.dvcqg.simulator import PortalState

from tests.dvcqg.samples import sample_dossier

MA = "000.00.12.H56-261126-0002"
HEADERS = {"dstcode": DEFAULT_AGENCY}


# One client for the module: a fresh httpx.Client per request rebuilds its TLS context each time.
http_ = httpx.Client(timeout=10)


@pytest.fixture(scope="module", autouse=True)
def _close_http() -> Iterator[None]:
    yield
    http_.close()


@pytest.fixture
def http(portal_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=portal_url, headers=HEADERS, timeout=10) as client:
        yield client


@pytest.fixture
def session(http: httpx.Client) -> str:
    reply = http.post("/auth", json={"username": DEFAULT_USERNAME, "password": DEFAULT_PASSWORD})
    body = reply.json()
    assert body["error_code"] == 0
    return str(body["session"])


def call(http: httpx.Client, session: str, service: str, **fields: Any) -> dict[str, Any]:
    body = {"session": session, "madonvi": DEFAULT_AGENCY, "service": service, **fields}
    reply = http.post("/integration", json=body)
    assert reply.status_code == 200
    result: dict[str, Any] = reply.json()
    return result


def sync(http: httpx.Client, session: str, dossier: dict[str, Any], updating: bool) -> Any:
    return call(
        http,
        session,
        "DongBoHoSoMC",
        isUpdating="True" if updating else "False",
        data=[dossier],
    )


def test_login_is_checked(http: httpx.Client) -> None:
    wrong = http.post("/auth", json={"username": DEFAULT_USERNAME, "password": "nope"}).json()
    assert wrong["error_code"] == -2 and wrong["session"] is None and wrong["message"]
    no_code = http.post(
        "/auth",
        json={"username": DEFAULT_USERNAME, "password": DEFAULT_PASSWORD},
        headers={"dstcode": "000.00.00.H99"},
    ).json()
    assert no_code["error_code"] == -3


def test_session_is_checked(http: httpx.Client, session: str, portal: PortalState) -> None:
    assert call(http, "forged", "LayDanhMucCoQuan")["error_code"] == -1
    assert call(http, session, "LayDanhMucCoQuan")["error_code"] == 0
    other_agency = http.post(
        "/integration",
        json={"session": session, "madonvi": "000.00.00.H99", "service": "LayDanhMucCoQuan"},
    ).json()
    assert other_agency["error_code"] == -3
    portal.expire_sessions()
    assert call(http, session, "LayDanhMucCoQuan")["error_code"] == -1


def test_session_lapses_after_its_ttl(http: httpx.Client, portal: PortalState) -> None:
    portal.session_ttl = 0  # issued already expired
    reply = http.post("/auth", json={"username": DEFAULT_USERNAME, "password": DEFAULT_PASSWORD})
    assert call(http, reply.json()["session"], "LayDanhMucCoQuan")["error_code"] == -1


def test_malformed_requests(http: httpx.Client, session: str) -> None:
    not_json = http.post("/integration", content=b"{nope")
    assert not_json.status_code == 400 and not_json.json()["error_code"] == -5
    assert call(http, session, "XoaHoSo")["error_code"] == -4


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ({"NgayTiepNhan": "2026-11-26 08:30"}, 2, "NgayTiepNhan"),
        ({"NgayHenTra": "20261131170000"}, 2, "NgayHenTra"),  # 31 November
        ({"TrangThaiHoSo": "11"}, 2, "TrangThaiHoSo"),
        ({"TrangThaiHoSo": "0"}, 2, "TrangThaiHoSo"),
        ({"TrangThaiHoSo": 2}, 2, "TrangThaiHoSo"),  # a number, not a string
        ({"KenhThucHien": "9"}, 2, "KenhThucHien"),
        ({"MaTTHC": "1.999999"}, 3, "1.999999"),
        ({"TenTTHC": ""}, 1, "TenTTHC"),
        ({"TaiLieuNop": "x"}, 2, "TaiLieuNop"),
    ],
)
def test_dossier_validation(
    http: httpx.Client, session: str, change: dict[str, Any], code: int, words: str
) -> None:
    reply = sync(http, session, dict(sample_dossier(MA), **change), updating=False)
    assert reply["error_code"] == code
    assert words in reply["message"]


def test_required_field_absent(http: httpx.Client, session: str) -> None:
    dossier = sample_dossier(MA)
    del dossier["NgayTuChoi"]  # may be empty, but must be there
    reply = sync(http, session, dossier, updating=False)
    assert (reply["error_code"], "NgayTuChoi" in reply["message"]) == (1, True)


def test_create_update_and_status_order(
    http: httpx.Client, session: str, portal: PortalState
) -> None:
    dossier = sample_dossier(MA)
    assert sync(http, session, dossier, updating=True)["error_code"] == 5  # update of nothing
    assert sync(http, session, dossier, updating=False)["error_code"] == 0
    assert sync(http, session, dossier, updating=False)["error_code"] == 4  # created twice

    for status, code in [("4", 0), ("5", 0), ("4", 0), ("9", 0), ("4", 6), ("2", 6), ("10", 0)]:
        reply = sync(http, session, dict(dossier, TrangThaiHoSo=status), updating=True)
        assert reply["error_code"] == code, (status, reply)
    assert call(http, session, "TraCuuHoSo", MaHoSo=MA)["result"]["TrangThaiHoSo"] == "10"
    # once the result is returned, the dossier is closed
    reply = sync(http, session, dict(dossier, TrangThaiHoSo="9"), updating=True)
    assert reply["error_code"] == 6


def test_history_is_checked_and_kept_in_order(
    http: httpx.Client, session: str, portal_url: str
) -> None:
    entry = {
        "MaHoSo": MA,
        "NguoiXuLy": "Phạm Văn Minh",
        "ChucDanh": "",
        "ThoiDiemXuLy": "20261126090000",
        "PhongBanXuLy": "",
        "NoiDungXuLy": "Tiếp nhận",
        "TrangThai": "2",
        "NgayBatDau": "",
        "NgayKetThucTheoQuyDinh": "",
    }
    assert call(http, session, "CapNhatTienDoHoSoMC", data=[entry])["error_code"] == 5
    sync(http, session, sample_dossier(MA), updating=False)
    bad_time = dict(entry, ThoiDiemXuLy="26/11/2026")
    assert call(http, session, "CapNhatTienDoHoSoMC", data=[bad_time])["error_code"] == 2
    bad_status = dict(entry, TrangThai="12")
    assert call(http, session, "CapNhatTienDoHoSoMC", data=[bad_status])["error_code"] == 2
    no_handler = {k: v for k, v in entry.items() if k != "NguoiXuLy"}
    assert call(http, session, "CapNhatTienDoHoSoMC", data=[no_handler])["error_code"] == 1
    second = dict(entry, ThoiDiemXuLy="20261126100000", TrangThai="4")
    reply = call(http, session, "CapNhatTienDoHoSoMC", data=[entry, second])
    assert reply["error_code"] == 0

    view = http_.get(f"{portal_url}/_sim/dossiers/{MA}").json()
    assert [h["TrangThai"] for h in view["QuaTrinhXuLy"]] == ["2", "4"]
    listing = http_.get(f"{portal_url}/_sim/dossiers").json()
    assert listing == [
        {"MaHoSo": MA, "MaTTHC": "1.004227", "TrangThaiHoSo": "2", "history_entries": 2}
    ]
    assert http_.get(f"{portal_url}/_sim/dossiers/nope").status_code == 404


def test_catalogue_services(http: httpx.Client, session: str) -> None:
    one = call(http, session, "LayThuTuc", MaTTHC="1.004227")["result"]
    assert one["TenLinhVuc"] == "Đất đai"
    assert call(http, session, "LayThuTuc", MaTTHC="1.000000")["error_code"] == 3
    land = call(http, session, "LayDanhSachTTHC", MaLinhVuc="G09-TN01")["result"]
    assert {p["MaTTHC"] for p in land} == {"1.004227", "1.003560"}


def test_control_endpoint_drives_faults(http: httpx.Client, portal_url: str, session: str) -> None:
    control = http_.post(
        f"{portal_url}/_sim/control", json={"fail_next": 2, "fail_kind": "error_code"}
    )
    assert control.json()["fail_next"] == 2
    assert call(http, session, "LayDanhMucCoQuan")["error_code"] == -9
    assert call(http, session, "LayDanhMucCoQuan")["error_code"] == -9
    assert call(http, session, "LayDanhMucCoQuan")["error_code"] == 0

    http_.post(f"{portal_url}/_sim/control", json={"fail_next": 1})
    assert http.post("/integration", json={"service": "x"}).status_code == 500

    http_.post(f"{portal_url}/_sim/control", json={"fail_for": 3600})
    assert http.post("/auth", json={}).status_code == 503
    http_.post(f"{portal_url}/_sim/control", json={"reset": True, "expire_sessions": True})
    assert call(http, session, "LayDanhMucCoQuan")["error_code"] == -1

    bad = http_.post(f"{portal_url}/_sim/control", json={"fail_nxt": 1})
    assert bad.status_code == 400
    calls = http_.get(f"{portal_url}/_sim/calls").json()
    assert {c["fault"] for c in calls} >= {"error_code", "http500", "http503"}
