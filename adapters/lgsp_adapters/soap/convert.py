"""Between JSON and zeep: the reply made JSON-safe, faults sorted into the error tree."""

from __future__ import annotations

import base64
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from zeep.helpers import serialize_object


def to_json(value: Any) -> Any:
    """A zeep reply as plain JSON data: dicts, lists, strings, numbers, booleans, None."""
    return _jsonable(serialize_object(value, dict))  # type: ignore[no-untyped-call]


def _decimal(value: Decimal) -> int | float | str:
    if value == value.to_integral_value() and abs(value) < 2**53:
        return int(value)
    as_float = float(value)
    # Keep a decimal a number only where a float carries it exactly; otherwise a string, lossless.
    return as_float if Decimal(repr(as_float)) == value else str(value)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)  # QName, lxml elements of xsd:any, ...


def fault_is_client(code: str | None) -> bool | None:
    """True for a Client (1.1) / Sender (1.2) fault, False for Server / Receiver, None unknown."""
    if not code:
        return None
    local = code.rsplit(":", 1)[-1].rsplit("}", 1)[-1].split(".", 1)[0]
    if local in ("Client", "Sender", "VersionMismatch", "MustUnderstand", "DataEncodingUnknown"):
        return True
    if local in ("Server", "Receiver"):
        return False
    return None
