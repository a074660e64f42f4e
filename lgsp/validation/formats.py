"""Vietnamese identifier formats, registered as JSON Schema ``format`` names.

Every checker takes a string and answers whether it is well formed. Schemas assert formats (format
assertion is on), so a ``"format": "cccd"`` in a schema is a hard rule, not an annotation.
Checkers never accept the empty string: optional fields that agency systems send as ``""`` are
allowed by the schema (``$defs/optional-*`` in ``schemas/common/1.json``), not by the format.

    agency-code     mã định danh điện tử (Decision 20/2020/QĐ-TTg): 000.00.12.H02, H56.14
    ma-ho-so        dossier code {agency code}-{yyMMdd}-{NNNN}: 000.00.12.H02-261126-0007
    ma-tthc         procedure code N.NNNNNN, optionally suffixed with an agency code
    cccd            citizen id: 12 digits, known province, plausible century and birth year
    mst             enterprise tax code: 10 digits with check digit, or 13 / 10-3 branch form
    vn-phone        0 + 9 digits, or +84 / 84 + 9 digits
    dvcqg-datetime  yyyyMMddHHmmss, a real local date and time
    commune-code    5-digit statistics-office commune code
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from types import MappingProxyType

from stdnum.vn import mst as stdnum_mst

FormatChecker = Callable[[str], bool]

# Full form: level 4 (3 digits) . level 3 . level 2 (2 digits each) . level 1 (letter + 2 digits,
# e.g. H02 for a province). Short forms start at the level-1 code and add lower levels: H56.14.
_AGENCY_FULL = r"\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}"
_AGENCY_SHORT = r"[A-Z]\d{2}(?:\.\d{2,3}){1,3}"
_AGENCY = rf"(?:{_AGENCY_FULL}|{_AGENCY_SHORT})"
_AGENCY_RE = re.compile(rf"{_AGENCY}")
# The sequence is reset daily; four digits is the norm, busy offices overflow to five or six.
_MA_HO_SO_RE = re.compile(rf"(?P<agency>{_AGENCY})-(?P<date>\d{{6}})-\d{{4,6}}")
_MA_TTHC_RE = re.compile(rf"\d\.\d{{6}}(?:\.{_AGENCY})?")
_PHONE_RE = re.compile(r"(?:0|\+84|84)[1-9]\d{8}")
_DATETIME_RE = re.compile(r"\d{14}")
_COMMUNE_RE = re.compile(r"\d{5}")
_MST_RE = re.compile(r"\d{10}(?:-?\d{3})?")
_CCCD_RE = re.compile(r"\d{12}")

# The 63 pre-2025 province codes used as the first three digits of a CCCD. Cards issued before the
# 2025 merger keep their old code for life, so all of them stay valid.
CCCD_PROVINCE_CODES = frozenset(
    f"{code:03d}"
    for code in (
        1, 2, 4, 6, 8, 10, 11, 12, 14, 15, 17, 19, 20, 22, 24, 25, 26, 27, 30, 31, 33, 34, 35,
        36, 37, 38, 40, 42, 44, 45, 46, 48, 49, 51, 52, 54, 56, 58, 60, 62, 64, 66, 67, 68, 70,
        72, 74, 75, 77, 79, 80, 82, 83, 84, 86, 87, 89, 91, 92, 93, 94, 95, 96,
    )
)  # fmt: skip


def is_agency_code(value: str) -> bool:
    return _AGENCY_RE.fullmatch(value) is not None


def is_ma_ho_so(value: str) -> bool:
    match = _MA_HO_SO_RE.fullmatch(value)
    if match is None:
        return False
    stamp = match.group("date")
    try:
        date(2000 + int(stamp[:2]), int(stamp[2:4]), int(stamp[4:6]))
    except ValueError:
        return False
    return True


def is_ma_tthc(value: str) -> bool:
    return _MA_TTHC_RE.fullmatch(value) is not None


def is_cccd(value: str, *, today: date | None = None) -> bool:
    """12 digits: province (3), gender/century (1), birth year (2), serial (6); no checksum.

    The gender/century digit d gives century (d // 2 + 19) * 100; a birth year in the future is
    not plausible, which also rules out every century after the current one.
    """
    if _CCCD_RE.fullmatch(value) is None or value[:3] not in CCCD_PROVINCE_CODES:
        return False
    century = (int(value[3]) // 2 + 19) * 100
    birth_year = century + int(value[4:6])
    return birth_year <= (today or date.today()).year


def is_mst(value: str) -> bool:
    """10-digit tax code with check digit, or a 13-digit branch code (also written 10-3)."""
    return _MST_RE.fullmatch(value) is not None and bool(stdnum_mst.is_valid(value))


def is_vn_phone(value: str) -> bool:
    return _PHONE_RE.fullmatch(value) is not None


def is_dvcqg_datetime(value: str) -> bool:
    if _DATETIME_RE.fullmatch(value) is None:
        return False
    try:
        datetime(
            int(value[0:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[8:10]),
            int(value[10:12]),
            int(value[12:14]),
        )
    except ValueError:
        return False
    return True


def is_commune_code(value: str) -> bool:
    return _COMMUNE_RE.fullmatch(value) is not None


def parse_dvcqg_datetime(value: str) -> datetime:
    """The naive local (Asia/Ho_Chi_Minh) time a ``dvcqg-datetime`` string stands for."""
    if not is_dvcqg_datetime(value):
        raise ValueError(f"not a yyyyMMddHHmmss date-time: {value!r}")
    return datetime.strptime(value, "%Y%m%d%H%M%S")


FORMATS: Mapping[str, FormatChecker] = MappingProxyType(
    {
        "agency-code": is_agency_code,
        "ma-ho-so": is_ma_ho_so,
        "ma-tthc": is_ma_tthc,
        "cccd": is_cccd,
        "mst": is_mst,
        "vn-phone": is_vn_phone,
        "dvcqg-datetime": is_dvcqg_datetime,
        "commune-code": is_commune_code,
    }
)

# How an error message describes a value the format expects; the value itself is never echoed,
# because it is often personal data (CCCD, phone numbers).
FORMAT_DESCRIPTIONS: Mapping[str, str] = MappingProxyType(
    {
        "agency-code": "an agency identifier such as 000.00.12.H02 or H56.14",
        "ma-ho-so": "a dossier code {agency code}-{yyMMdd}-{NNNN} with a real date",
        "ma-tthc": "a procedure code N.NNNNNN, optionally followed by an agency code",
        "cccd": "a citizen ID (CCCD): 12 digits, a known province code, a plausible birth year",
        "mst": "a tax code: 10 digits with a valid check digit, or 13 (10-3) for a branch",
        "vn-phone": "a Vietnamese phone number: 0 + 9 digits, or +84 / 84 + 9 digits",
        "dvcqg-datetime": "a real date and time written yyyyMMddHHmmss",
        "commune-code": "a 5-digit commune code",
        "email": "an e-mail address",
        "date-time": "an RFC 3339 date-time with a UTC offset",
        "uri": "an absolute URI",
        "ipv4": "an IPv4 address",
        "ipv6": "an IPv6 address",
    }
)
