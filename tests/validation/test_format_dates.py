"""The dates inside formats are real calendar dates: the ``yyMMdd`` of a dossier code is read as
20yy (so 2000-02-29 and 2020-02-29 exist, 2200 is not the century meant), the ``yyyyMMddHHmmss``
of the national portal keeps its four-digit year and two-digit month; conversions that refuse a
value say which."""

from __future__ import annotations

import pytest
from lgsp_adapters.transforms import phone_to_gateway

from lgsp.validation.formats import (
    is_dvcqg_datetime,
    is_ma_ho_so,
    parse_dvcqg_datetime,
)

AGENCY = "000.00.01.H56"


@pytest.mark.parametrize(
    ("stamp", "valid"),
    [
        ("200229", True),  # 2020 is a leap year (2200 would not be)
        ("000229", True),
        ("210229", False),
        ("241231", True),
        ("241331", False),
        ("240431", False),
    ],
)
def test_the_date_in_a_dossier_code_is_a_calendar_date(stamp: str, valid: bool) -> None:
    assert is_ma_ho_so(f"{AGENCY}-{stamp}-0001") is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("20000229120000", True),  # year 2000, not year 0
        ("20241231235959", True),  # December, not February
        ("20240230120000", False),
        ("20241301000000", False),
        ("20241231240000", False),
        ("20241231235960", False),
    ],
)
def test_a_portal_date_time_is_a_calendar_date_time(value: str, valid: bool) -> None:
    assert is_dvcqg_datetime(value) is valid


def test_conversions_name_the_value_they_refuse() -> None:
    with pytest.raises(ValueError, match=r"^not a yyyyMMddHHmmss date-time: '20240230120000'$"):
        parse_dvcqg_datetime("20240230120000")
    with pytest.raises(ValueError, match=r"^not a Vietnamese phone number: '12345'$"):
        phone_to_gateway("12345")
    assert phone_to_gateway("0912345678") == "84912345678"
