from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

# The platform's time zone: Vietnam keeps one (UTC+7, no daylight saving) for every province.
PLATFORM_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def utcnow() -> datetime:
    return datetime.now(UTC)


_DATE_FIRST = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _calendar_form(value: Any) -> Any:
    # pydantic also reads numbers as Unix times; a query string like "0.5" is a mistake, not 1970.
    if isinstance(value, str) and not _DATE_FIRST.match(value):
        raise ValueError("expected a date (YYYY-MM-DD) or an RFC 3339 date-time")
    return value


def in_platform_zone(value: datetime) -> datetime:
    """An aware UTC datetime: one without an offset (or a bare date, which parses as midnight)
    is read as the platform's local time."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=PLATFORM_TZ)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("the time is out of the supported range") from None


# A query parameter that takes an RFC 3339 date-time, or a date or local time in PLATFORM_TZ.
LocalDateTime = Annotated[
    datetime,
    BeforeValidator(_calendar_form),
    AfterValidator(in_platform_zone),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "string", "format": "date"},
            ]
        }
    ),
]
