"""Routing and grant rules: pure functions over the directory, no database.

A route condition is a small JSON document matched against the message payload::

    {"pointer": "/MaTTHC", "in": ["1.004227", "2.000889"]}     value is one of these
    {"pointer": "/MaTTHC", "equals": "1.004227"}               value equals this
    {"pointer": "/MaTTHC", "prefix": "1.0042"}                  string value starts with this
    {"pointer": "/MaTTHC", "prefix": ["1.0042", "2.0008"]}      ... with one of these
    {"pointer": "/location/MaXa", "exists": true}              value is present (or absent: false)
    {"all": [cond, ...]}  {"any": [cond, ...]}  {"not": cond}

A pointer is an RFC 6901 JSON pointer. A pointer that does not resolve makes every test false
except ``"exists": false``, so a malformed payload never matches by accident. ``equals`` and ``in``
compare JSON values exactly (``"5"`` is not ``5``), because procedure and commune codes are strings
on the wire and a number there is a different thing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from lgsp.kit import jsonpointer

_TESTS = ("equals", "in", "prefix", "exists")
_COMBINATORS = ("all", "any", "not")


class RouteLike(Protocol):
    """What routing needs of a route (the ORM row and the cached snapshot both fit)."""

    @property
    def name(self) -> str: ...
    @property
    def message_type(self) -> str: ...
    @property
    def sender(self) -> str | None: ...
    @property
    def recipient(self) -> str: ...
    @property
    def condition(self) -> Mapping[str, Any] | None: ...
    @property
    def copy(self) -> bool: ...


class GrantLike(Protocol):
    @property
    def agency_code(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def recipient(self) -> str: ...


def _json_equal(a: Any, b: Any) -> bool:
    # bool is an int in Python; JSON keeps them apart.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


def matches(condition: Mapping[str, Any] | None, payload: Any) -> bool:
    """Whether ``payload`` satisfies ``condition`` (None: always). The condition is assumed
    valid (see :func:`validate_condition`); an invalid one raises ``ValueError``."""
    if condition is None:
        return True
    if "all" in condition:
        return all(matches(c, payload) for c in condition["all"])
    if "any" in condition:
        return any(matches(c, payload) for c in condition["any"])
    if "not" in condition:
        return not matches(condition["not"], payload)
    if "pointer" not in condition:
        raise ValueError(f"malformed route condition: {dict(condition)!r}")
    value = jsonpointer.resolve(payload, condition["pointer"])
    if "exists" in condition:
        return (value is not jsonpointer.MISSING) == bool(condition["exists"])
    if value is jsonpointer.MISSING:
        return False
    if "equals" in condition:
        return _json_equal(value, condition["equals"])
    if "in" in condition:
        return any(_json_equal(value, option) for option in condition["in"])
    if "prefix" in condition:
        prefixes = condition["prefix"]
        if isinstance(prefixes, str):
            prefixes = [prefixes]
        return isinstance(value, str) and any(value.startswith(p) for p in prefixes)
    raise ValueError(f"malformed route condition: {dict(condition)!r}")


def validate_condition(condition: Any, path: str = "") -> list[tuple[str, str]]:
    """Every problem in a condition as ``(dotted sub-path, reason)``; empty when valid."""
    problems: list[tuple[str, str]] = []

    def sub(key: str) -> str:
        return f"{path}.{key}" if path else key

    if not isinstance(condition, Mapping):
        return [(path, f"a condition must be a mapping, not {type(condition).__name__}")]
    keys = set(condition)
    combinators = keys & set(_COMBINATORS)
    if combinators:
        if len(keys) != 1:
            return [(path, f"{sorted(combinators)[0]!r} must be the condition's only key")]
        (key,) = keys
        inner = condition[key]
        if key == "not":
            return validate_condition(inner, sub("not"))
        if not isinstance(inner, list) or not inner:
            return [(sub(key), f"{key!r} takes a non-empty list of conditions")]
        for i, item in enumerate(inner):
            problems += validate_condition(item, f"{sub(key)}[{i}]")
        return problems

    if "pointer" not in keys:
        known = ", ".join((*_COMBINATORS, "pointer"))
        return [(path, f"a condition needs one of: {known}")]
    pointer = condition["pointer"]
    if not isinstance(pointer, str) or not (pointer == "" or pointer.startswith("/")):
        problems.append((sub("pointer"), "must be a JSON pointer such as '/MaTTHC'"))
    tests = keys & set(_TESTS)
    unknown = keys - set(_TESTS) - {"pointer"}
    for key in sorted(unknown):
        problems.append((sub(key), f"unknown condition key; expected one of {', '.join(_TESTS)}"))
    if len(tests) != 1:
        if not unknown:
            problems.append((path, f"needs exactly one test of: {', '.join(_TESTS)}"))
        return problems
    (test,) = tests
    operand = condition[test]
    if test == "in" and (not isinstance(operand, list) or not operand):
        problems.append((sub("in"), "'in' takes a non-empty list of values"))
    elif test == "exists" and not isinstance(operand, bool):
        problems.append((sub("exists"), "'exists' takes true or false"))
    elif test == "prefix" and not (
        isinstance(operand, str)
        or (isinstance(operand, list) and operand and all(isinstance(p, str) for p in operand))
    ):
        problems.append((sub("prefix"), "'prefix' takes a string or a non-empty list of strings"))
    elif test == "equals" and isinstance(operand, dict | list):
        problems.append((sub("equals"), "'equals' takes a scalar value"))
    return problems


def resolve_recipients(
    routes: Iterable[RouteLike],
    *,
    message_type: str,
    sender: str,
    to: str | None,
    payload: Any,
) -> list[str]:
    """The recipients of one message.

    With ``to``: that agency, plus the recipients of matching copy routes. Without: the
    recipients of every matching route, default and copy. A route matches when its type is the
    message's, its sender is unset or the message's sender, and its condition holds. The sender
    never receives its own message. Order is deterministic (``to`` first, then default routes,
    then copy routes, each by route name) and without duplicates; authorization is separate
    (:func:`is_granted`).
    """
    matching = sorted(
        (
            r
            for r in routes
            if r.message_type == message_type
            and (r.sender is None or r.sender == sender)
            and (to is None or r.copy)
            and matches(r.condition, payload)
        ),
        key=lambda r: (r.copy, r.name, r.recipient),
    )
    ordered = ([to] if to is not None else []) + [r.recipient for r in matching]
    seen: set[str] = {sender}
    result: list[str] = []
    for code in ordered:
        if code not in seen:
            seen.add(code)
            result.append(code)
    return result


def _target_matches(pattern: str, target: str) -> bool:
    if pattern in ("*", target):
        return True
    # "000.01.12.H56/*": every service of one provider.
    return pattern.endswith("/*") and target.startswith(pattern[:-1])


def is_granted(
    grants: Iterable[GrantLike],
    *,
    agency: str,
    action: str,
    target: str,
    recipient: str | None = "*",
) -> bool:
    """Whether a grant lets ``agency`` perform ``action`` ("send" or "call") on ``target``
    (a message type, or ``provider/service``) towards ``recipient``. Deny by default; ``*``
    in a grant's agency, target or recipient matches anything. For "call" the recipient is
    the provider and is usually left as ``*``. ``recipient=None`` asks whether any recipient
    at all is granted (the check made before the recipients are known)."""
    for g in grants:
        if (
            g.action == action
            and g.agency_code in ("*", agency)
            and _target_matches(g.target, target)
            and (recipient is None or g.recipient in ("*", recipient))
        ):
            return True
    return False
