"""Realistic DVCQG-shaped payloads: a dossier of the sample province (H56) and the status updates
that follow it, used by `lgsp demo` and the tests. Every value is a string, as on the wire."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from lgsp_sims.dvcqg.catalogue import PROCEDURES
from lgsp_sims.dvcqg.codes import STATUS_NAMES, format_portal_date

_PROCEDURES = {p["MaTTHC"]: p for p in PROCEDURES}


def sample_dossier(ma_ho_so: str, ma_tthc: str = "1.004227") -> dict[str, Any]:
    """A dossier as the one-stop office sends it, status 2 (received)."""
    procedure = _PROCEDURES.get(
        ma_tthc,
        {"TenTTHC": "Thủ tục không có trong danh mục", "MaLinhVuc": "G09-XX", "TenLinhVuc": "Khác"},
    )
    return {
        "MaHoSo": ma_ho_so,
        "MaTTHC": ma_tthc,
        "TenTTHC": procedure["TenTTHC"],
        "MaLinhVuc": procedure["MaLinhVuc"],
        "TenLinhVuc": procedure["TenLinhVuc"],
        "KenhThucHien": "2",
        "SoBienNhan": "BN-H56-" + ma_ho_so.rsplit("-", 1)[-1],
        "ChuHoSo": "Lê Thị Hoa",
        "SoGiayToChuHoSo": "056185004321",
        "LoaiDoiTuong": "1",
        "MaDoiTuong": "",
        "ThongTinKhac": "",
        "Email": "lethihoa@example.vn",
        "Fax": "",
        "SoDienThoai": "0905123456",
        "TrichYeuHoSo": f"{procedure['TenTTHC']} - thửa đất số 112, tờ bản đồ số 7",
        "NgayNopHoSo": "20261126081502",
        "NgayTiepNhan": "20261126083000",
        "NgayHenTra": "20261210170000",
        "TrangThaiHoSo": "2",
        "NgayTra": "",
        "ThongTinTra": "",
        "HinhThuc": "0",
        "NgayKetThucXuLy": "",
        "NgayTuChoi": "",
        "DonViXuLy": "000.00.12.H56",
        "GhiChu": "",
        "NoiNopHoSo": "2",
        "DuocThanhToanTrucTuyen": "1",
        "DinhDanhCHS": [{"LoaiDinhDanh": "1", "SoDinhDanh": "056185004321"}],
        "TaiLieuNop": [
            {
                "TepDinhKemId": "7d1f0c7e-2b43-4f0e-9a51-3c6e5d2b8a10",
                "TenTepDinhKem": "don-dang-ky-bien-dong.pdf",
                "IsDeleted": "False",
                "MaThanhPhanHoSo": "TP-DD-01",
                "DuongDanTaiTepTin": "https://motcua.h56.example/files/7d1f0c7e.pdf",
                "DuocSoHoa": "1",
                "DuocTaiSuDung": "0",
                "DuocLayTuKhoDMQG": "0",
                "MaKetQuaThayThe": "",
            }
        ],
        "DanhSachLePhi": [
            {
                "TenPhiLePhi": "Lệ phí cấp giấy chứng nhận",
                "MaPhiLePhi": "LP-GCN",
                "HinhThucThu": "2",
                "Gia": "50000",
                "LoaiPhiLePhi": "2",
            }
        ],
        "DanhSachTepDinhKemKhac": [],
        "DanhSachHoSoBoSung": [],
        "DanhSachGiayToKetQua": [],
    }


def sample_status(ma_ho_so: str, status: int, at: datetime) -> dict[str, Any]:
    """A dossier-status message (schemas/dossier-status/1.json): the dossier moved to
    ``status`` at local time ``at``."""
    when = format_portal_date(at)
    update: dict[str, Any] = {
        "MaHoSo": ma_ho_so,
        "TrangThaiHoSo": str(status),
        "NgayHenTra": "",
        "GhiChu": "",
        "QuaTrinhXuLy": {
            "MaHoSo": ma_ho_so,
            "NguoiXuLy": "Phạm Văn Minh",
            "ChucDanh": "Chuyên viên",
            "ThoiDiemXuLy": when,
            "PhongBanXuLy": "Văn phòng đăng ký đất đai",
            "NoiDungXuLy": STATUS_NAMES[status],
            "TrangThai": str(status),
            "NgayBatDau": when,
            "NgayKetThucTheoQuyDinh": format_portal_date(at + timedelta(days=3)),
        },
    }
    if status == 3:
        update["NgayTuChoi"] = when
    if status == 9:
        update["NgayKetThucXuLy"] = when
    if status == 10:
        update["NgayTra"] = when
        update["ThongTinTra"] = "Đã trả kết quả tại Bộ phận một cửa"
    return update
