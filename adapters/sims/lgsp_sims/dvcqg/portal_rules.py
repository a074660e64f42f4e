"""The simulator's checks on what it receives, as strict as the portal: required fields, string
values, yyyyMMddHHmmss dates, code lists. A refusal carries the portal's code and message."""

from __future__ import annotations

from typing import Any

from lgsp_sims.dvcqg.codes import PortalCode, is_portal_date, parse_status


class PortalRefusal(Exception):
    """The portal says no: becomes ``{"error_code": code, "message": message}``."""

    def __init__(self, code: PortalCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# Dossier fields that must be present and non-empty.
DOSSIER_REQUIRED = (
    "MaHoSo",  # dossier code
    "MaTTHC",  # procedure code
    "TenTTHC",  # procedure name
    "MaLinhVuc",  # field of administration code
    "TenLinhVuc",  # field of administration name
    "KenhThucHien",  # channel: 1 in person, 2 online, 3 postal
    "SoGiayToChuHoSo",  # applicant's ID document number
    "LoaiDoiTuong",  # applicant kind: 1 citizen, 2 enterprise, 3 agency, 4 other
    "TrichYeuHoSo",  # summary
    "NgayNopHoSo",  # filed at
    "NgayTiepNhan",  # received at
    "NgayHenTra",  # result promised for
    "TrangThaiHoSo",  # status 1..10
    "HinhThuc",  # result returned: 0 at the office, 1 by post
    "DonViXuLy",  # handling agency
    "NoiNopHoSo",  # where it was filed
    "DuocThanhToanTrucTuyen",  # fees payable online
)
# Present, but may be the empty string (the portal wants the key).
DOSSIER_PRESENT = ("Email", "SoDienThoai", "NgayTuChoi")
DOSSIER_DATES = (
    "NgayNopHoSo",
    "NgayTiepNhan",
    "NgayHenTra",
    "NgayTra",  # result returned at
    "NgayKetThucXuLy",  # processing finished at
    "NgayTuChoi",  # refused at
)
DOSSIER_ARRAYS = (
    "DinhDanhCHS",  # applicant identifiers [{LoaiDinhDanh, SoDinhDanh}]
    "TaiLieuNop",  # documents filed
    "DanhSachLePhi",  # fees
    "DanhSachTepDinhKemKhac",  # other attachments
    "DanhSachHoSoBoSung",  # supplements
    "DanhSachGiayToKetQua",  # result documents
)
ENUMS: dict[str, frozenset[str]] = {
    "KenhThucHien": frozenset({"1", "2", "3"}),
    "LoaiDoiTuong": frozenset({"1", "2", "3", "4"}),
    "HinhThuc": frozenset({"0", "1"}),
    # 0 not paid online, 1 paid on the national portal, 2 on the provincial payment portal
    "DuocThanhToanTrucTuyen": frozenset({"0", "1", "2"}),
}

# Processing history entry (QuaTrinhXuLy) fields.
HISTORY_REQUIRED = (
    "MaHoSo",
    "NguoiXuLy",  # who handled it
    "ThoiDiemXuLy",  # when
    "NoiDungXuLy",  # what was done
    "TrangThai",  # the dossier status this step led to
)
HISTORY_PRESENT = (
    "ChucDanh",  # handler's title
    "PhongBanXuLy",  # handler's department
    "NgayBatDau",  # step started at
    "NgayKetThucTheoQuyDinh",  # step due by
)
HISTORY_DATES = ("ThoiDiemXuLy", "NgayBatDau", "NgayKetThucTheoQuyDinh")


def _where(ma_ho_so: object) -> str:
    return f"Hồ sơ {ma_ho_so}" if isinstance(ma_ho_so, str) and ma_ho_so else "Hồ sơ"


def _check_strings(obj: dict[str, Any], where: str) -> None:
    for key, value in obj.items():
        if key in DOSSIER_ARRAYS or key == "QuaTrinhXuLy":
            continue
        if not isinstance(value, str):
            raise PortalRefusal(
                PortalCode.INVALID_FIELD, f"{where}: trường {key} phải là chuỗi ký tự"
            )


def _check_fields(
    obj: dict[str, Any],
    where: str,
    required: tuple[str, ...],
    present: tuple[str, ...],
    dates: tuple[str, ...],
) -> None:
    for key in required:
        if not obj.get(key):
            raise PortalRefusal(PortalCode.MISSING_FIELD, f"{where}: thiếu trường bắt buộc {key}")
    for key in present:
        if key not in obj:
            raise PortalRefusal(PortalCode.MISSING_FIELD, f"{where}: thiếu trường bắt buộc {key}")
    _check_strings(obj, where)
    for key in dates:
        value = obj.get(key)
        if value and not is_portal_date(value):
            raise PortalRefusal(
                PortalCode.INVALID_FIELD,
                f"{where}: trường {key} không đúng định dạng yyyyMMddHHmmss ({value!r})",
            )


def check_dossier(dossier: object, procedures: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One dossier of a DongBoHoSoMC call, checked; returns it without any history list."""
    if not isinstance(dossier, dict):
        raise PortalRefusal(PortalCode.INVALID_FIELD, "Mỗi phần tử của data phải là một hồ sơ")
    where = _where(dossier.get("MaHoSo"))
    _check_fields(dossier, where, DOSSIER_REQUIRED, DOSSIER_PRESENT, DOSSIER_DATES)
    if parse_status(dossier["TrangThaiHoSo"]) is None:
        raise PortalRefusal(
            PortalCode.INVALID_FIELD,
            f"{where}: TrangThaiHoSo {dossier['TrangThaiHoSo']!r} không thuộc danh mục 1-10",
        )
    for key, allowed in ENUMS.items():
        if dossier[key] not in allowed:
            raise PortalRefusal(
                PortalCode.INVALID_FIELD,
                f"{where}: {key} {dossier[key]!r} không thuộc danh mục {sorted(allowed)}",
            )
    if dossier["MaTTHC"] not in procedures:
        raise PortalRefusal(
            PortalCode.UNKNOWN_PROCEDURE,
            f"{where}: mã thủ tục {dossier['MaTTHC']} không có trong danh mục TTHC quốc gia",
        )
    for key in DOSSIER_ARRAYS:
        items = dossier.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise PortalRefusal(
                PortalCode.INVALID_FIELD, f"{where}: {key} phải là danh sách đối tượng"
            )
        for item in items:
            _check_strings(item, f"{where}, {key}")
    return {k: v for k, v in dossier.items() if k != "QuaTrinhXuLy"}


def check_history_entry(entry: object) -> dict[str, Any]:
    """One QuaTrinhXuLy entry of a CapNhatTienDoHoSoMC call, checked."""
    if not isinstance(entry, dict):
        raise PortalRefusal(
            PortalCode.INVALID_FIELD, "Mỗi phần tử của data phải là một bước xử lý (QuaTrinhXuLy)"
        )
    where = _where(entry.get("MaHoSo")) + ", QuaTrinhXuLy"
    _check_fields(entry, where, HISTORY_REQUIRED, HISTORY_PRESENT, HISTORY_DATES)
    if parse_status(entry["TrangThai"]) is None:
        raise PortalRefusal(
            PortalCode.INVALID_FIELD,
            f"{where}: TrangThai {entry['TrangThai']!r} không thuộc danh mục 1-10",
        )
    return dict(entry)
