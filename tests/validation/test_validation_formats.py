"""Accept/reject cases for every custom format, called directly."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from lgsp.validation import formats
from lgsp.validation.formats import FORMATS


def _cases(accept: list[str], reject: list[str]) -> list[tuple[str, bool]]:
    return [(v, True) for v in accept] + [(v, False) for v in reject]


CASES: dict[str, list[tuple[str, bool]]] = {
    "agency-code": _cases(
        ["000.00.01.H22", "000.00.12.H02", "000.23.45.G12", "H56.14", "H56.14.05", "H56.14.05.123"],
        [
            "",
            "H56",
            "000.00.12",
            "000.00.12.h02",
            "000.0.12.H02",
            "000.00.12.H022",
            "000.00.12.H02 ",
            "0000.00.12.H02",
            "H56-14",
            "56.14",
        ],
    ),
    "ma-ho-so": _cases(
        ["000.00.12.H02-261126-0007", "H56.14-250101-12345", "000.00.01.H22-240229-0001"],
        [
            "",
            "000.00.12.H02-260230-0007",
            "000.00.12.H02-261326-0007",
            "000.00.12.H02-250229-0001",
            "000.00.12.H02-261126-007",
            "000.00.12.H02-20261126-0007",
            "000.00.12-261126-0007",
            "000.00.12.H02_261126_0007",
            "000.00.12.H02-261126-0007x",
        ],
    ),
    "ma-tthc": _cases(
        ["2.002492", "1.003560.000.00.00.H56", "1.003560.H56.14"],
        ["", "2.00249", "12.002492", "2.0024921", "2.002492.01", "1.003560.H5", "2-002492"],
    ),
    "cccd": _cases(
        ["001090012345", "079301000123", "096199000001", "002192004567", "038200123456"],
        [
            "",
            "00109001234",
            "0010900123456",
            "000090012345",
            "003090012345",
            "097090012345",
            "001490012345",
            "001299000001",
            "00109001234a",
            "001 90012345",
        ],
    ),
    "mst": _cases(
        ["0100109106", "0100109106-001", "0100109106001", "0301234562", "3101234560"],
        [
            "",
            "0100109107",
            "0100109106-000",
            "010010910",
            "01001091061",
            "0100109106 001",
            "01-00109106",
            "0100109106-01",
            "0100000006",
        ],
    ),
    "vn-phone": _cases(
        ["0912345678", "+84912345678", "84912345678", "0389123456", "0241234567"],
        [
            "",
            "091234567",
            "09123456789",
            "+840912345678",
            "0912 345 678",
            "0012345678",
            "+8491234567",
            "+1 912345678",
            "84-912345678",
        ],
    ),
    "dvcqg-datetime": _cases(
        ["20261126081502", "20240229235959", "20260101000000"],
        [
            "",
            "20250229000000",
            "20261126240000",
            "20261126086000",
            "20261126081560",
            "2026112608150",
            "202611260815021",
            "2026-11-26T08:15:02",
            "20261300000000",
        ],
    ),
    "commune-code": _cases(["00688", "26734", "00001"], ["", "0068", "006880", "0068a", " 0688"]),
}


def test_every_format_has_cases() -> None:
    assert set(CASES) == set(FORMATS)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [(name, value, ok) for name, cases in CASES.items() for value, ok in cases],
)
def test_format(name: str, value: str, expected: bool) -> None:
    assert FORMATS[name](value) is expected


def test_cccd_birth_year_cannot_be_in_the_future() -> None:
    # Female born 2026 (digit 3, year 26): plausible in 2026, not in 2025.
    assert formats.is_cccd("001326000001", today=date(2026, 1, 1))
    assert not formats.is_cccd("001326000001", today=date(2025, 12, 31))
    # Century digits 0/1 are the 1900s, 2/3 the 2000s.
    assert formats.is_cccd("001099000001", today=date(2000, 1, 1))
    assert not formats.is_cccd("001200000001", today=date(1999, 12, 31))


def test_mst_check_digit_is_what_decides() -> None:
    base = "010010910"
    valid = [d for d in "0123456789" if formats.is_mst(base + d)]
    assert valid == ["6"]


def test_parse_dvcqg_datetime() -> None:
    assert formats.parse_dvcqg_datetime("20261126081502") == datetime(2026, 11, 26, 8, 15, 2)
    with pytest.raises(ValueError):
        formats.parse_dvcqg_datetime("20261126246000")


# The 63 province codes that open a CCCD (Circular 07/2016/TT-BCA, kept after the 2025 merger),
# written out here independently of the module's own table.
CCCD_PROVINCES = {
    "001": "Hà Nội", "002": "Hà Giang", "004": "Cao Bằng", "006": "Bắc Kạn",
    "008": "Tuyên Quang", "010": "Lào Cai", "011": "Điện Biên", "012": "Lai Châu",
    "014": "Sơn La", "015": "Yên Bái", "017": "Hòa Bình", "019": "Thái Nguyên",
    "020": "Lạng Sơn", "022": "Quảng Ninh", "024": "Bắc Giang", "025": "Phú Thọ",
    "026": "Vĩnh Phúc", "027": "Bắc Ninh", "030": "Hải Dương", "031": "Hải Phòng",
    "033": "Hưng Yên", "034": "Thái Bình", "035": "Hà Nam", "036": "Nam Định",
    "037": "Ninh Bình", "038": "Thanh Hóa", "040": "Nghệ An", "042": "Hà Tĩnh",
    "044": "Quảng Bình", "045": "Quảng Trị", "046": "Thừa Thiên Huế", "048": "Đà Nẵng",
    "049": "Quảng Nam", "051": "Quảng Ngãi", "052": "Bình Định", "054": "Phú Yên",
    "056": "Khánh Hòa", "058": "Ninh Thuận", "060": "Bình Thuận", "062": "Kon Tum",
    "064": "Gia Lai", "066": "Đắk Lắk", "067": "Đắk Nông", "068": "Lâm Đồng",
    "070": "Bình Phước", "072": "Tây Ninh", "074": "Bình Dương", "075": "Đồng Nai",
    "077": "Bà Rịa - Vũng Tàu", "079": "Hồ Chí Minh", "080": "Long An", "082": "Tiền Giang",
    "083": "Bến Tre", "084": "Trà Vinh", "086": "Vĩnh Long", "087": "Đồng Tháp",
    "089": "An Giang", "091": "Kiên Giang", "092": "Cần Thơ", "093": "Hậu Giang",
    "094": "Sóc Trăng", "095": "Bạc Liêu", "096": "Cà Mau",
}  # fmt: skip


def test_cccd_accepts_every_province_code_and_nothing_else() -> None:
    assert len(CCCD_PROVINCES) == 63
    for code in (f"{n:03d}" for n in range(1000)):
        # A man born in 1990 (century digit 0), serial 012345.
        value = f"{code}090012345"
        assert formats.is_cccd(value) is (code in CCCD_PROVINCES), (code, CCCD_PROVINCES.get(code))
