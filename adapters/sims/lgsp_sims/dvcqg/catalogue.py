"""The simulator's reference data: procedures (TTHC), fields (lĩnh vực) and agencies (cơ quan).

Procedure codes have the national ``N.NNNNNN`` form; the names are illustrative, chosen so sample
dossiers read naturally, not an extract of the national catalogue.
"""

from __future__ import annotations

from typing import Any

# MaTTHC (procedure code), TenTTHC (procedure name), MaLinhVuc / TenLinhVuc (field of
# administration), MucDo (online service level), CoQuanThucHien (agency that handles it).
PROCEDURES: list[dict[str, str]] = [
    {
        "MaTTHC": "1.004227",
        "TenTTHC": "Đăng ký biến động quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất",
        "MaLinhVuc": "G09-TN01",
        "TenLinhVuc": "Đất đai",
        "MucDo": "4",
        "CoQuanThucHien": "000.00.12.H56",
    },
    {
        "MaTTHC": "2.002492",
        "TenTTHC": "Đăng ký khai sinh",
        "MaLinhVuc": "G09-TP04",
        "TenLinhVuc": "Hộ tịch",
        "MucDo": "4",
        "CoQuanThucHien": "000.00.20.H56",
    },
    {
        "MaTTHC": "1.001193",
        "TenTTHC": "Đăng ký kết hôn",
        "MaLinhVuc": "G09-TP04",
        "TenLinhVuc": "Hộ tịch",
        "MucDo": "3",
        "CoQuanThucHien": "000.00.20.H56",
    },
    {
        "MaTTHC": "1.009972",
        "TenTTHC": "Cấp giấy phép xây dựng nhà ở riêng lẻ",
        "MaLinhVuc": "G09-XD02",
        "TenLinhVuc": "Xây dựng",
        "MucDo": "4",
        "CoQuanThucHien": "000.00.14.H56",
    },
    {
        "MaTTHC": "1.003560",
        "TenTTHC": "Cấp Giấy chứng nhận quyền sử dụng đất lần đầu",
        "MaLinhVuc": "G09-TN01",
        "TenLinhVuc": "Đất đai",
        "MucDo": "3",
        "CoQuanThucHien": "000.00.12.H56",
    },
    {
        "MaTTHC": "2.001612",
        "TenTTHC": "Đăng ký thành lập hộ kinh doanh",
        "MaLinhVuc": "G09-KH03",
        "TenLinhVuc": "Thành lập và hoạt động của hộ kinh doanh",
        "MucDo": "4",
        "CoQuanThucHien": "000.00.15.H56",
    },
]

FIELDS: list[dict[str, str]] = sorted(
    {
        p["MaLinhVuc"]: {"MaLinhVuc": p["MaLinhVuc"], "TenLinhVuc": p["TenLinhVuc"]}
        for p in PROCEDURES
    }.values(),
    key=lambda f: f["MaLinhVuc"],
)

# MaCoQuan (agency identifier), TenCoQuan (name), MaCoQuanCha (parent agency).
AGENCIES: list[dict[str, str]] = [
    {"MaCoQuan": "000.00.00.H56", "TenCoQuan": "UBND tỉnh mẫu", "MaCoQuanCha": ""},
    {
        "MaCoQuan": "000.00.01.H56",
        "TenCoQuan": "Trung tâm Phục vụ hành chính công tỉnh",
        "MaCoQuanCha": "000.00.00.H56",
    },
    {
        "MaCoQuan": "000.00.12.H56",
        "TenCoQuan": "Sở Nông nghiệp và Môi trường",
        "MaCoQuanCha": "000.00.00.H56",
    },
    {"MaCoQuan": "000.00.14.H56", "TenCoQuan": "Sở Xây dựng", "MaCoQuanCha": "000.00.00.H56"},
    {"MaCoQuan": "000.00.15.H56", "TenCoQuan": "Sở Tài chính", "MaCoQuanCha": "000.00.00.H56"},
    {"MaCoQuan": "000.00.20.H56", "TenCoQuan": "Sở Tư pháp", "MaCoQuanCha": "000.00.00.H56"},
]


def procedure_index(procedures: list[dict[str, str]]) -> dict[str, dict[str, Any]]:
    return {p["MaTTHC"]: p for p in procedures}
