"""Environment references in configuration values: the one expander of ``${NAME}``.

A string may name environment variables as ``${NAME}`` or ``${NAME:-default}`` (the default
also replaces an empty value, as in the shell); ``$$`` is a literal ``$``. Anything else that
looks like a reference (``$HOME``, a lone ``${``) is left as it is.

The province configuration keeps these references in the endpoint settings it stores, so no
secret reaches the database; the adapter registry resolves them when it builds an adapter.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

Path = tuple[str | int, ...]


def expand(text: str, environ: Mapping[str, str] | None = None) -> tuple[str, list[str]]:
    """``text`` with its references replaced, and the variables that were unset without a
    default (each replaced by the empty string)."""
    env = os.environ if environ is None else environ
    missing: list[str] = []

    def substitute(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, default = m.group(1), m.group(2)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is not None:
                return default
            missing.append(name)
            return ""
        return value

    return REFERENCE.sub(substitute, text), missing


def defaults(text: str) -> list[str]:
    """The variables that ``text`` gives a non-empty ``:-default``."""
    return [m.group(1) for m in REFERENCE.finditer(text) if m.group(2)]


@dataclass
class Resolution:
    """A tree with its references resolved, and what was found on the way (by path)."""

    value: Any
    missing: list[tuple[Path, str]] = field(default_factory=list)
    defaulted: list[tuple[Path, str]] = field(default_factory=list)


def resolve(
    value: Any,
    environ: Mapping[str, str] | None = None,
    *,
    keep: Callable[[Path], bool] = lambda path: False,
) -> Resolution:
    """Every string in ``value`` (nested dicts and lists) expanded. Strings under a path for
    which ``keep(path)`` holds stay as written (their references are still checked)."""
    out = Resolution(None)

    def walk(item: Any, path: Path, kept: bool) -> Any:
        kept = kept or keep(path)
        if isinstance(item, str):
            expanded, missing = expand(item, environ)
            out.missing += [(path, name) for name in missing]
            out.defaulted += [(path, name) for name in defaults(item)]
            return item if kept else expanded
        if isinstance(item, dict):
            return {k: walk(v, (*path, str(k)), kept) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v, (*path, i), kept) for i, v in enumerate(item)]
        return item

    out.value = walk(value, (), False)
    return out


def format_path(path: Path) -> str:
    """("auth", "token") -> "auth.token"; ("hosts", 0) -> "hosts[0]"."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text
