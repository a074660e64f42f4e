"""The finer rules of routing conditions and grants (lgsp/directory/routing.py): JSON pointers as
RFC 6901 reads them, JSON equality (true is not 1, 1 is 1.0), the reasons a bad condition is
refused with (the province administrator reads them), ``provider/*`` grants, and a "call" grant
asked about without a recipient."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from lgsp.directory.routing import is_granted, matches, validate_condition
from lgsp.kit.jsonpointer import resolve as resolve_pointer

DOC = {"a": [10, 20, 30], "b/c": 1, "m~n": 2, "": 3, "flag": True, "n": 1, "f": 1.0}


def found(pointer: str) -> Any:
    return matches({"pointer": pointer, "exists": True}, DOC)


def test_pointers_as_rfc_6901_reads_them() -> None:
    assert resolve_pointer(DOC, "") is DOC
    assert matches({"pointer": "", "exists": True}, None) is True  # the whole document exists
    assert resolve_pointer(DOC, "/a/0") == 10 and resolve_pointer(DOC, "/a/2") == 30
    assert resolve_pointer(DOC, "/b~1c") == 1 and resolve_pointer(DOC, "/m~0n") == 2
    assert resolve_pointer(DOC, "/") == 3
    for missing in ("/a/3", "/a/01", "/a/-1", "/a/x", "/a/00", "/z", "a", "/n/0"):
        assert found(missing) is False, missing
    assert found("/a/1") is True and found("/a/0") is True


@pytest.mark.parametrize(
    ("pointer", "operand", "expected"),
    [
        ("/flag", True, True),
        ("/flag", 1, False),
        ("/n", True, False),
        ("/n", 1.0, True),
        ("/f", 1, True),
        ("/n", 2, False),
        ("/n", "1", False),
        ("/flag", False, False),
    ],
)
def test_equality_is_json_equality(pointer: str, operand: Any, expected: bool) -> None:
    assert matches({"pointer": pointer, "equals": operand}, DOC) is expected
    assert matches({"pointer": pointer, "in": ["x", operand]}, DOC) is expected


def test_a_condition_without_a_test_cannot_be_evaluated() -> None:
    for bad in ({"exists_": True}, {"pointer": "/n"}):
        with pytest.raises(ValueError, match=r"^malformed route condition: \{"):
            matches(bad, DOC)


@pytest.mark.parametrize(
    ("condition", "problems"),
    [
        ("x", [("", "a condition must be a mapping, not str")]),
        (
            {"all": [{"pointer": "/a", "exists": True}], "any": []},
            [("", "'all' must be the condition's only key")],
        ),
        (
            {"any": [{"pointer": "a", "exists": True}, {"pointer": "/b", "in": []}]},
            [
                ("any[0].pointer", "must be a JSON pointer such as '/MaTTHC'"),
                ("any[1].in", "'in' takes a non-empty list of values"),
            ],
        ),
        ({"equals": 1}, [("", "a condition needs one of: all, any, not, pointer")]),
        ({"pointer": "", "exists": True}, []),
        (
            {"pointer": "/a", "exact": 1},
            [("exact", "unknown condition key; expected one of equals, in, prefix, exists")],
        ),
        ({"pointer": "/a"}, [("", "needs exactly one test of: equals, in, prefix, exists")]),
        ({"pointer": "/a", "exists": "yes"}, [("exists", "'exists' takes true or false")]),
        (
            {"pointer": "/a", "prefix": []},
            [("prefix", "'prefix' takes a string or a non-empty list of strings")],
        ),
        ({"pointer": "/a", "equals": [1]}, [("equals", "'equals' takes a scalar value")]),
        (
            {"not": {"pointer": "/a", "in": "x"}},
            [("not.in", "'in' takes a non-empty list of values")],
        ),
    ],
)
def test_each_problem_of_a_condition_is_named_where_it_is(
    condition: Any, problems: list[tuple[str, str]]
) -> None:
    assert validate_condition(condition) == problems


@dataclass(frozen=True)
class Grant:
    agency_code: str
    action: str
    target: str
    recipient: str = "*"


def test_a_provider_wildcard_grant_covers_that_providers_services_only() -> None:
    grants = [Grant("000.00.01.H56", "call", "000.01.12.H56/*")]
    ask = {"agency": "000.00.01.H56", "action": "call"}
    assert is_granted(grants, target="000.01.12.H56/tra-cuu", **ask)
    assert not is_granted(grants, target="000.01.12.H5/tra-cuu", **ask)
    assert not is_granted(grants, target="000.01.12.H56X/tra-cuu", **ask)
    assert not is_granted([Grant("000.00.01.H56", "call", "x*")], target="x*y", **ask)
    assert is_granted([Grant("000.00.01.H56", "call", "*")], target="any/thing", **ask)


def test_without_a_recipient_only_a_grant_for_any_recipient_answers() -> None:
    """Asked without a recipient (a "call"), a grant limited to one recipient does not count."""
    ask = {"agency": "000.00.01.H56", "action": "call", "target": "svc"}
    assert is_granted([Grant("000.00.01.H56", "call", "svc")], **ask)
    assert not is_granted([Grant("000.00.01.H56", "call", "svc", "000.00.02.H56")], **ask)
