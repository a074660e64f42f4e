"""JSON through orjson: one place that decides how the platform reads and writes JSON."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def dumps_str(value: Any) -> str:
    return orjson.dumps(value).decode()


def canonical(value: Any) -> bytes:
    """Key-sorted compact JSON: the form that is hashed, so equal documents hash equal."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


loads = orjson.loads
JSONDecodeError = orjson.JSONDecodeError
