"""Sub-paths of a mediated call (``POST /v1/services/{provider}/{service}/{sub-path}``).

A sub-path is appended to the provider's URL, which the platform calls with its own credentials
for that provider; so a sub-path is the caller's text steering a privileged request. It is read
from the raw request target (before any percent-decoding) and refused when any segment could
leave the place it names: dot segments (also percent-encoded), encoded slashes and backslashes,
``?``, ``#``, control characters. What is left must match one of the patterns the service
declares in its operation (``sub_paths: ["/records/{id}", "/records/{id}/history"]``); a service
that declares none takes no sub-path at all. Each segment is percent-encoded again on the way
out, so the provider receives exactly the segments that were checked.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from lgsp.mediation.problems import UndeclaredSubPath, UnsafeSubPath

# Percent-encoded characters that would change the path's structure once a server decodes them.
_ENCODED_STRUCTURE = re.compile(r"%(?:2f|5c|3f|23|00)", re.IGNORECASE)
_FORBIDDEN_DECODED = frozenset("/\\?#")
_PLACEHOLDER = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")


__all__ = ["SubPath", "UndeclaredSubPath", "UnsafeSubPath", "check_sub_path", "split_raw"]


@dataclass(frozen=True, slots=True)
class SubPath:
    """A checked sub-path: its decoded segments and the values its pattern named."""

    segments: tuple[str, ...] = ()
    values: dict[str, str] = field(default_factory=dict)

    @property
    def encoded(self) -> str:
        """``/seg/seg`` with every segment percent-encoded (``""`` for no sub-path)."""
        return "".join("/" + quote(segment, safe="") for segment in self.segments)


def split_raw(raw: str) -> tuple[str, ...]:
    """The decoded segments of a raw (still percent-encoded) sub-path; raises UnsafeSubPath."""
    if raw in ("", "/"):
        return ()
    if "\\" in raw or "?" in raw or "#" in raw:
        raise UnsafeSubPath("a sub-path may not contain '\\', '?' or '#'")
    if _ENCODED_STRUCTURE.search(raw):
        raise UnsafeSubPath("a sub-path may not contain encoded '/', '\\', '?', '#' or NUL")
    segments: list[str] = []
    for part in raw.removeprefix("/").split("/"):
        try:
            segment = unquote(part, errors="strict")
        except UnicodeDecodeError as exc:
            raise UnsafeSubPath("a sub-path segment is not UTF-8 once decoded") from exc
        if segment in ("", ".", ".."):
            raise UnsafeSubPath("a sub-path may not contain empty, '.' or '..' segments")
        if _FORBIDDEN_DECODED & set(segment) or any(ord(c) < 0x20 or c == "\x7f" for c in segment):
            raise UnsafeSubPath(
                "a sub-path segment may not contain '/', '\\', '?', '#' or controls"
            )
        segments.append(segment)
    return tuple(segments)


def declared_patterns(operation: dict[str, Any]) -> list[str]:
    raw = operation.get("sub_paths") or []
    return [str(p) for p in raw] if isinstance(raw, list) else []


def _match(pattern: str, segments: Sequence[str]) -> dict[str, str] | None:
    parts = [p for p in pattern.strip("/").split("/") if p]
    if len(parts) != len(segments):
        return None
    values: dict[str, str] = {}
    for part, segment in zip(parts, segments, strict=True):
        placeholder = _PLACEHOLDER.match(part)
        if placeholder:
            values[placeholder.group(1)] = segment
        elif part != segment:
            return None
    return values


def check_sub_path(raw: str, operation: dict[str, Any], target: str) -> SubPath:
    """The sub-path if it is safe and one the service declares; raises otherwise."""
    segments = split_raw(raw)
    if not segments:
        return SubPath()
    patterns = declared_patterns(operation)
    for pattern in patterns:
        values = _match(pattern, segments)
        if values is not None:
            return SubPath(segments, values)
    declared = ", ".join(patterns) if patterns else "none"
    raise UndeclaredSubPath(f"{target} has no sub-path like that (declared: {declared})")
