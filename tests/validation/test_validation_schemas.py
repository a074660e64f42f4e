"""The shipped schemas against realistic payloads: examples, blanks, cross-field rules."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from lgsp.settings import PROJECT_ROOT
from lgsp.validation.catalogue import ID_BASE, SchemaCatalogue

SCHEMAS = PROJECT_ROOT / "schemas"
EXAMPLES = sorted(SCHEMAS.glob("*/examples/*.json"))
MESSAGE_TYPES = [
    "dossier",
    "dossier-status",
    "field-report",
    "land-certificate",
    "land-intake",
    "payment-request",
    "postal-order",
    "sms-notification",
]


@pytest.fixture(scope="module")
def registry() -> SchemaCatalogue:
    return SchemaCatalogue(SCHEMAS)


def example(name: str, label: str = "1") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCHEMAS / name / "examples" / f"{label}.json").read_text())
    return data


def pointers(registry: SchemaCatalogue, schema_id: str, payload: Any) -> list[tuple[str, str]]:
    return [(e["pointer"], e["keyword"]) for e in registry.errors(schema_id, payload)]


def test_the_message_types(registry: SchemaCatalogue) -> None:
    assert registry.names() == MESSAGE_TYPES
    assert registry.ids() == [f"{name}/1" for name in MESSAGE_TYPES]


@pytest.mark.parametrize("name", MESSAGE_TYPES)
def test_schema_metadata_and_an_example(registry: SchemaCatalogue, name: str) -> None:
    schema = registry.get(name)
    assert schema["$id"] == ID_BASE + f"{name}/1"
    assert schema["title"] and schema["description"]
    assert (SCHEMAS / name / "examples" / "1.json").is_file()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_examples_are_valid(registry: SchemaCatalogue, path: Path) -> None:
    name = path.parent.parent.name
    version = path.stem.split("-")[0]
    assert registry.errors(f"{name}/{version}", json.loads(path.read_text())) == []


# -- dossier ---------------------------------------------------------------------------------

DOSSIER_OPTIONAL = {
    "SoBienNhan", "ChuHoSo", "MaDoiTuong", "ThongTinKhac", "Fax", "NgayTra", "ThongTinTra",
    "NgayKetThucXuLy", "GhiChu", "DinhDanhCHS", "TaiLieuNop", "DanhSachLePhi",
    "DanhSachTepDinhKemKhac", "DanhSachHoSoBoSung", "DanhSachGiayToKetQua",
}  # fmt: skip


def test_dossier_required_fields_follow_the_portal(registry: SchemaCatalogue) -> None:
    schema = registry.get("dossier/1")
    assert set(schema["required"]) == set(schema["properties"]) - DOSSIER_OPTIONAL
    # Leaving out every optional field is fine.
    payload = {k: v for k, v in example("dossier").items() if k not in DOSSIER_OPTIONAL}
    assert registry.errors("dossier/1", payload) == []


def test_dossier_optional_fields_may_be_blank(registry: SchemaCatalogue) -> None:
    payload = example("dossier")
    for key in DOSSIER_OPTIONAL | {"Email", "NgayTuChoi"}:
        if isinstance(payload.get(key, ""), str):
            payload[key] = ""
    for item in payload["TaiLieuNop"]:
        item.update(IsDeleted="", DuocSoHoa="", MaThanhPhanHoSo="", MaKetQuaThayThe="")
    assert registry.errors("dossier/1", payload) == []


@pytest.mark.parametrize(
    ("field", "keyword"),
    [
        ("MaHoSo", "format"),
        ("MaTTHC", "format"),
        ("TenTTHC", "pattern"),
        ("SoDienThoai", "format"),
        ("NgayNopHoSo", "format"),
        ("TrangThaiHoSo", "enum"),
        ("KenhThucHien", "enum"),
        ("HinhThuc", "enum"),
        ("DonViXuLy", "pattern"),
        ("SoGiayToChuHoSo", "pattern"),
    ],
)
def test_dossier_required_fields_may_not_be_blank(
    registry: SchemaCatalogue, field: str, keyword: str
) -> None:
    payload = example("dossier")
    payload[field] = ""
    assert (f"/{field}", keyword) in pointers(registry, "dossier/1", payload)
    payload[field] = "   "
    assert pointers(registry, "dossier/1", payload)


def test_dossier_strings_only(registry: SchemaCatalogue) -> None:
    payload = example("dossier")
    payload["TrangThaiHoSo"] = 2
    assert ("/TrangThaiHoSo", "type") in pointers(registry, "dossier/1", payload)


def test_dossier_keeps_unknown_portal_fields(registry: SchemaCatalogue) -> None:
    payload = example("dossier") | {"TaiKhoanDuocXacThucVoiVNeID": "1"}
    assert registry.errors("dossier/1", payload) == []


@pytest.mark.parametrize(
    ("kind", "identifier", "ok"),
    [
        ("1", "002090012345", True),
        ("1", "0100109106", False),
        ("2", "0100109106", True),
        ("2", "0100109106-001", True),
        ("2", "0100109107", False),
        ("2", "002090012345", False),
        ("3", "QD-123/UBND", True),
        ("4", "any organisation id", True),
    ],
)
def test_owner_identifier_follows_owner_kind(
    registry: SchemaCatalogue, kind: str, identifier: str, ok: bool
) -> None:
    payload = example("dossier")
    payload["LoaiDoiTuong"] = kind
    payload["SoGiayToChuHoSo"] = identifier
    payload["DinhDanhCHS"] = [{"LoaiDinhDanh": kind, "SoDinhDanh": identifier}]
    found = pointers(registry, "dossier/1", payload)
    if ok:
        assert found == []
    else:
        assert found == [("/DinhDanhCHS/0/SoDinhDanh", "format"), ("/SoGiayToChuHoSo", "format")]


def test_refused_dossier_needs_refusal_date(registry: SchemaCatalogue) -> None:
    payload = example("dossier") | {"TrangThaiHoSo": "3"}
    assert pointers(registry, "dossier/1", payload) == [("/NgayTuChoi", "format")]
    payload["NgayTuChoi"] = "20261126100000"
    assert registry.errors("dossier/1", payload) == []


def test_returned_dossier_needs_return_date(registry: SchemaCatalogue) -> None:
    payload = example("dossier") | {"TrangThaiHoSo": "10"}
    assert pointers(registry, "dossier/1", payload) == [("/NgayTra", "format")]
    del payload["NgayTra"]
    assert pointers(registry, "dossier/1", payload) == [("/NgayTra", "required")]
    payload["NgayTra"] = "20261127160000"
    assert registry.errors("dossier/1", payload) == []


def test_many_errors_are_all_reported_with_pointers(registry: SchemaCatalogue) -> None:
    payload = example("dossier")
    del payload["MaHoSo"]
    del payload["NgayTiepNhan"]
    payload["SoDienThoai"] = "12345"
    payload["NgayHenTra"] = "20260231170000"
    payload["DanhSachLePhi"][0]["Gia"] = "50.000đ"
    payload["TaiLieuNop"][1]["DuongDanTaiTepTin"] = " "
    payload["DinhDanhCHS"][0]["SoDinhDanh"] = "002090012346x"
    payload["Email"] = "not-an-email"
    assert pointers(registry, "dossier/1", payload) == [
        ("/DanhSachLePhi/0/Gia", "pattern"),
        ("/DinhDanhCHS/0/SoDinhDanh", "format"),
        ("/Email", "format"),
        ("/MaHoSo", "required"),
        ("/NgayHenTra", "format"),
        ("/NgayTiepNhan", "required"),
        ("/SoDienThoai", "format"),
        ("/TaiLieuNop/1/DuongDanTaiTepTin", "pattern"),
    ]


def test_messages_do_not_repeat_personal_data(registry: SchemaCatalogue) -> None:
    payload = example("dossier") | {"SoGiayToChuHoSo": "002090012399x", "SoDienThoai": "0912x"}
    found = registry.errors("dossier/1", payload)
    assert found and all("002090012399" not in e["message"] for e in found)
    assert all("0912x" not in e["message"] for e in found)


# -- dossier-status ----------------------------------------------------------------------------


def test_status_history_entry_must_be_for_the_same_dossier(registry: SchemaCatalogue) -> None:
    payload = example("dossier-status")
    payload["QuaTrinhXuLy"]["MaHoSo"] = "000.00.12.H02-261126-0008"
    assert registry.errors("dossier-status/1", payload) == [
        {
            "pointer": "/QuaTrinhXuLy/MaHoSo",
            "keyword": "x-lgsp-equal",
            "message": "must equal /MaHoSo",
        }
    ]


def test_status_rules(registry: SchemaCatalogue) -> None:
    payload = example("dossier-status")
    payload["TrangThaiHoSo"] = "11"
    del payload["QuaTrinhXuLy"]["NguoiXuLy"]
    payload["QuaTrinhXuLy"]["ThoiDiemXuLy"] = "20261126250000"
    payload["QuaTrinhXuLy"]["NgayBatDau"] = ""
    assert pointers(registry, "dossier-status/1", payload) == [
        ("/QuaTrinhXuLy/NguoiXuLy", "required"),
        ("/QuaTrinhXuLy/ThoiDiemXuLy", "format"),
        ("/TrangThaiHoSo", "enum"),
    ]
    assert pointers(registry, "dossier-status/1", {"MaHoSo": payload["MaHoSo"]}) == [
        ("/QuaTrinhXuLy", "required"),
        ("/TrangThaiHoSo", "required"),
    ]


def test_status_returned_needs_return_date(registry: SchemaCatalogue) -> None:
    payload = example("dossier-status") | {"TrangThaiHoSo": "10"}
    assert pointers(registry, "dossier-status/1", payload) == [("/NgayTra", "required")]


# -- land --------------------------------------------------------------------------------------


def test_land_certificate_rules(registry: SchemaCatalogue) -> None:
    payload = example("land-certificate")
    payload["DienTich"] = 0
    payload["MaXa"] = "688"
    payload["NguoiSuDung"][0]["SoGiayTo"] = "0100109106"  # no kind given: a citizen, so a CCCD
    assert pointers(registry, "land-certificate/1", payload) == [
        ("/DienTich", "exclusiveMinimum"),
        ("/MaXa", "format"),
        ("/NguoiSuDung/0/SoGiayTo", "format"),
    ]
    payload = example("land-certificate")
    payload["NguoiSuDung"][0].update(LoaiDoiTuong="2", SoGiayTo="0100109106")
    assert registry.errors("land-certificate/1", payload) == []
    payload["NguoiSuDung"] = []
    assert pointers(registry, "land-certificate/1", payload) == [("/NguoiSuDung", "minItems")]


def test_land_intake_rules(registry: SchemaCatalogue) -> None:
    payload = example("land-intake")
    payload["DanhSachGiayToDinhKem"][0]["TapTin"]["data"] = "not base64!"
    payload["ThongTinNguoiNopDon"]["SoChungMinh"] = ""
    payload["ThongTinThuaDat"][0]["DienTich"] = "126.5"
    payload["HuyenId"] = "24"
    assert pointers(registry, "land-intake/1", payload) == [
        ("/DanhSachGiayToDinhKem/0/TapTin/data", "pattern"),
        ("/HuyenId", "pattern"),
        ("/ThongTinNguoiNopDon/SoChungMinh", "format"),
        ("/ThongTinThuaDat/0/DienTich", "type"),
    ]


# -- field report, SMS, post, payment ----------------------------------------------------------


def test_field_report_rules(registry: SchemaCatalogue) -> None:
    payload = example("field-report")
    del payload["assigned_agency"]
    del payload["result"]
    payload["media"][0]["mime"] = "video/mp4"
    del payload["media"][1]["sha256"]
    payload["location"]["lon"] = 120.0
    payload["severity"] = "high"
    payload["reported_at"] = "2026-11-25 19:42"
    assert pointers(registry, "field-report/1", payload) == [
        ("/assigned_agency", "required"),
        ("/location/lon", "maximum"),
        ("/media/0/mime", "pattern"),
        ("/media/1/sha256", "required"),
        ("/reported_at", "format"),
        ("/result", "required"),
        ("/severity", "additionalProperties"),
    ]
    received = example("field-report") | {"status": "received"}
    del received["assigned_agency"], received["result"], received["reporter"]
    assert registry.errors("field-report/1", received) == []


def test_sms_rules(registry: SchemaCatalogue) -> None:
    payload = example("sms-notification")
    assert registry.errors("sms-notification/1", payload | {"content": "x" * 612}) == []
    payload.update(content="x" * 613, phone="091234", MaHoSo="", brand="LGSP")
    assert pointers(registry, "sms-notification/1", payload) == [
        ("/brand", "additionalProperties"),
        ("/content", "maxLength"),
        ("/phone", "format"),
    ]


def test_postal_order_rules(registry: SchemaCatalogue) -> None:
    payload = example("postal-order")
    payload.update(OrderNumber="HS-1", CODAmount=-1, ReceiverTel="", SenderEmail="x")
    assert pointers(registry, "postal-order/1", payload) == [
        ("/CODAmount", "minimum"),
        ("/OrderNumber", "format"),
        ("/ReceiverTel", "format"),
        ("/SenderEmail", "format"),
    ]


def test_payment_request_rules(registry: SchemaCatalogue) -> None:
    payload = example("payment-request")
    payload.update(MaTienTe="USD", MaXacThuc="abc", SoTien="0", Ip="10.0.0")
    payload["ThongTinBienLai"]["MaDVC"] = "2.002492"
    assert pointers(registry, "payment-request/1", payload) == [
        ("/Ip", "anyOf"),
        ("/MaTienTe", "const"),
        ("/MaXacThuc", "pattern"),
        ("/SoTien", "pattern"),
        ("/ThongTinBienLai/MaDVC", "pattern"),
    ]
    assert (
        registry.errors("payment-request/1", example("payment-request") | {"Ip": "2001:db8::1"})
        == []
    )


def test_examples_are_not_mutated_by_validation(registry: SchemaCatalogue) -> None:
    payload = example("dossier")
    before = copy.deepcopy(payload)
    registry.errors("dossier/1", payload)
    assert payload == before
