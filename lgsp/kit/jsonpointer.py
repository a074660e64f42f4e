"""RFC 6901 JSON pointer lookup, the one used by routing conditions, the schema catalogue's
equality rule and the accept path's correlation key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


# What ``resolve`` returns for a pointer that does not resolve (``None`` is a JSON value).
MISSING: Final = _Missing()


def resolve(document: Any, pointer: str) -> Any:
    """The value at ``pointer`` in ``document``, or ``MISSING``. ``""`` is the whole document;
    a pointer not starting with ``/``, an absent key, an index out of range or with a leading
    zero, or a step into a scalar does not resolve."""
    if pointer == "":
        return document
    if not pointer.startswith("/"):
        return MISSING
    current = document
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, Mapping):
            if token not in current:
                return MISSING
            current = current[token]
        elif isinstance(current, list):
            if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
                return MISSING
            index = int(token)
            if index >= len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current
