from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator

# The platform's time zone: Vietnam keeps one (UTC+7, no daylight saving) for every province.
PLATFORM_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def utcnow() -> datetime:
    return datetime.now(UTC)


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
LocalDateTime = Annotated[datetime, AfterValidator(in_platform_zone)]
