"""What the national portal's integration API says, as the adapter reads it (the portal
simulator keeps its own copy, lgsp_sims.dvcqg.codes, held equal by a test).

Error codes (``error_code`` in every reply; the simulator documents them, the adapter sorts them):

====  =====================  ==============================================================
code  name                   meaning
====  =====================  ==============================================================
0     OK                     success
-1    SESSION_INVALID        session unknown or expired: log in again
-2    LOGIN_FAILED           wrong username or password
-3    AGENCY_MISMATCH        ``dstcode`` header or ``madonvi`` missing or not the account's
-4    UNKNOWN_SERVICE        ``service`` names no service
-5    BAD_REQUEST            body is not a JSON object, or ``session`` / ``service`` missing
-9    SYSTEM_BUSY            the portal is overloaded: try again later
1     MISSING_FIELD          a required field is missing or empty
2     INVALID_FIELD          malformed date, status outside 1-10, wrong type or enum value
3     UNKNOWN_PROCEDURE      MaTTHC is not in the portal's procedure catalogue
4     DOSSIER_EXISTS         create (isUpdating "False") of a dossier the portal already has
5     DOSSIER_NOT_FOUND      lookup, update or history of a dossier the portal does not have
6     STATUS_REGRESSION      update would move the dossier back to an earlier processing stage
====  =====================  ==============================================================
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import IntEnum


class PortalCode(IntEnum):
    OK = 0
    SESSION_INVALID = -1
    LOGIN_FAILED = -2
    AGENCY_MISMATCH = -3
    UNKNOWN_SERVICE = -4
    BAD_REQUEST = -5
    SYSTEM_BUSY = -9
    MISSING_FIELD = 1
    INVALID_FIELD = 2
    UNKNOWN_PROCEDURE = 3
    DOSSIER_EXISTS = 4
    DOSSIER_NOT_FOUND = 5
    STATUS_REGRESSION = 6


# TrangThaiHoSo: the dossier's processing status, 1..10 (DOMAIN.md).
STATUS_NAMES: dict[int, str] = {
    1: "Mới đăng ký",
    2: "Được tiếp nhận",
    3: "Không được tiếp nhận",
    4: "Đang xử lý",
    5: "Yêu cầu bổ sung giấy tờ",
    6: "Yêu cầu thực hiện nghĩa vụ tài chính",
    7: "Công dân yêu cầu rút hồ sơ",
    8: "Dừng xử lý",
    9: "Đã xử lý xong",
    10: "Đã trả kết quả",
}

# The processing stage of each status. Statuses inside one stage follow each other in any order
# (4 -> 5 -> 4 is a supplement request and its answer); a later stage never goes back to an
# earlier one, and the closing stage (refused, withdrawn, stopped, returned) is final.
STAGE: dict[int, int] = {1: 0, 2: 1, 4: 2, 5: 2, 6: 2, 9: 3, 3: 4, 7: 4, 8: 4, 10: 4}
FINAL_STAGE = 4

# Dates on the wire: yyyyMMddHHmmss, Asia/Ho_Chi_Minh local time. Fixed width, so string order
# is time order.
DATE_FORMAT = "%Y%m%d%H%M%S"
_DATE_RE = re.compile(r"^\d{14}$")


def is_portal_date(value: object) -> bool:
    """True for a real calendar instant written as yyyyMMddHHmmss."""
    if not isinstance(value, str) or not _DATE_RE.match(value):
        return False
    try:
        datetime.strptime(value, DATE_FORMAT)
    except ValueError:
        return False
    return True


def format_portal_date(value: datetime) -> str:
    return value.strftime(DATE_FORMAT)


def parse_status(value: object) -> int | None:
    """A TrangThaiHoSo as an int, or None when it is not one of 1..10."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isdigit():
        number = int(value)
    else:
        return None
    return number if number in STATUS_NAMES else None


def is_regression(current: int, new: int) -> bool:
    """Whether moving a dossier from status ``current`` to ``new`` goes backwards."""
    if current == new:
        return False
    if STAGE[current] == FINAL_STAGE:
        return True
    return STAGE[new] < STAGE[current]
