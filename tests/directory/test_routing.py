"""Route conditions, recipient resolution and grants: pure functions over plain data."""

from __future__ import annotations

from typing import Any

import pytest

from lgsp.directory.repository import GrantInfo, RouteInfo
from lgsp.directory.routing import is_granted, matches, resolve_recipients, validate_condition

DOSSIER = {"MaHoSo": "000.00.01.H56-261126-0007", "MaTTHC": "1.004227.000.00.00.H56", "N": 5}
REPORT = {"id": "PA-1", "location": {"MaXa": "25501", "lat": 20.1}, "tags": ["a", "b"]}


@pytest.mark.parametrize(
    ("condition", "payload", "expected"),
    [
        (None, DOSSIER, True),
        ({"pointer": "/MaTTHC", "prefix": "1.004227"}, DOSSIER, True),
        ({"pointer": "/MaTTHC", "prefix": ["2.000488", "1.0042"]}, DOSSIER, True),
        ({"pointer": "/MaTTHC", "prefix": ["2.000488"]}, DOSSIER, False),
        ({"pointer": "/N", "prefix": "5"}, DOSSIER, False),  # prefix needs a string value
        ({"pointer": "/MaTTHC", "equals": "1.004227.000.00.00.H56"}, DOSSIER, True),
        ({"pointer": "/N", "equals": 5}, DOSSIER, True),
        ({"pointer": "/N", "equals": "5"}, DOSSIER, False),  # JSON types are not coerced
        ({"pointer": "/N", "in": [4, 5]}, DOSSIER, True),
        ({"pointer": "/location/MaXa", "in": ["25504", "25501"]}, REPORT, True),
        ({"pointer": "/location/MaXa", "in": ["25504"]}, REPORT, False),
        ({"pointer": "/tags/1", "equals": "b"}, REPORT, True),
        ({"pointer": "/tags/7", "equals": "b"}, REPORT, False),
        ({"pointer": "/location/MaXa", "exists": True}, REPORT, True),
        ({"pointer": "/result", "exists": True}, REPORT, False),
        ({"pointer": "/result", "exists": False}, REPORT, True),
        ({"pointer": "/missing/deeper", "equals": None}, REPORT, False),
        (
            {"all": [{"pointer": "/id", "exists": True}, {"pointer": "/id", "equals": "PA-1"}]},
            REPORT,
            True,
        ),
        (
            {"all": [{"pointer": "/id", "exists": True}, {"pointer": "/id", "equals": "PA-2"}]},
            REPORT,
            False,
        ),
        (
            {"any": [{"pointer": "/id", "equals": "PA-2"}, {"pointer": "/id", "equals": "PA-1"}]},
            REPORT,
            True,
        ),
        ({"not": {"pointer": "/id", "equals": "PA-1"}}, REPORT, False),
        ({"not": {"any": [{"pointer": "/x", "exists": True}]}}, REPORT, True),
    ],
)
def test_matches(condition: dict[str, Any] | None, payload: Any, expected: bool) -> None:
    assert matches(condition, payload) is expected


def test_pointer_escapes() -> None:
    payload = {"a/b": {"c~d": 1}}
    assert matches({"pointer": "/a~1b/c~0d", "equals": 1}, payload)


@pytest.mark.parametrize(
    "condition",
    [
        {"pointer": "/MaTTHC", "in": ["1"]},
        {"pointer": "/x", "exists": False},
        {"pointer": "/x", "prefix": ["a", "b"]},
        {"all": [{"pointer": "/x", "equals": 1}, {"not": {"pointer": "/y", "exists": True}}]},
    ],
)
def test_valid_conditions(condition: dict[str, Any]) -> None:
    assert validate_condition(condition) == []


@pytest.mark.parametrize(
    ("condition", "where", "reason"),
    [
        ("nope", "", "must be a mapping"),
        ({"pointer": "MaTTHC", "equals": "x"}, "pointer", "JSON pointer"),
        ({"pointer": "/x"}, "", "exactly one test"),
        ({"pointer": "/x", "equals": 1, "in": [1]}, "", "exactly one test"),
        ({"pointer": "/x", "startswith": "a"}, "startswith", "unknown condition key"),
        ({"pointer": "/x", "in": []}, "in", "non-empty list"),
        ({"pointer": "/x", "in": "abc"}, "in", "non-empty list"),
        ({"pointer": "/x", "exists": "yes"}, "exists", "true or false"),
        ({"pointer": "/x", "prefix": [1]}, "prefix", "string"),
        ({"pointer": "/x", "equals": {"a": 1}}, "equals", "scalar"),
        ({"all": []}, "all", "non-empty list"),
        ({"all": [{"pointer": "/x"}], "any": []}, "", "only key"),
        ({"any": [{"pointer": "/x", "equals": 1}, {"equal": 1}]}, "any[1]", "needs one of"),
        ({"not": {"pointer": 5, "equals": 1}}, "not.pointer", "JSON pointer"),
        ({"foo": 1}, "", "needs one of"),
    ],
)
def test_invalid_conditions(condition: Any, where: str, reason: str) -> None:
    problems = validate_condition(condition)
    assert problems, condition
    assert any(path == where and reason in text for path, text in problems), problems


OFFICE, COMMUNE, TNMT, JUSTICE, PORTAL = (
    "000.00.01.H56",
    "000.00.41.H56",
    "000.00.12.H56",
    "000.00.16.H56",
    "000.00.00.G22",
)
LAND = {"pointer": "/MaTTHC", "prefix": ["1.004227"]}
ROUTES = [
    # Deliberately not in name order: the result must not depend on input order.
    RouteInfo("dossier-to-portal", "dossier", None, PORTAL, None, True),
    RouteInfo("dossier-to-tnmt", "dossier", None, TNMT, LAND, False),
    RouteInfo(
        "dossier-to-justice",
        "dossier",
        None,
        JUSTICE,
        {"pointer": "/MaTTHC", "prefix": "2."},
        False,
    ),
    RouteInfo("dossier-tnmt-again", "dossier", None, TNMT, LAND, True),
    RouteInfo("commune-only", "dossier", COMMUNE, JUSTICE, None, False),
    RouteInfo("status-to-portal", "dossier-status", None, PORTAL, None, True),
]


def recipients(
    type_: str, sender: str, to: str | None, payload: Any, routes: Any = None
) -> list[str]:
    return resolve_recipients(
        ROUTES if routes is None else routes,
        message_type=type_,
        sender=sender,
        to=to,
        payload=payload,
    )


def test_default_and_copy_routes_without_to() -> None:
    # Default routes first, then copies; TNMT once although two routes name it.
    assert recipients("dossier", OFFICE, None, DOSSIER) == [TNMT, PORTAL]


def test_sender_restricted_route() -> None:
    assert recipients("dossier", COMMUNE, None, DOSSIER) == [JUSTICE, TNMT, PORTAL]


def test_to_replaces_default_routes_but_keeps_copies() -> None:
    assert recipients("dossier", OFFICE, JUSTICE, DOSSIER) == [JUSTICE, TNMT, PORTAL]
    assert recipients("dossier-status", TNMT, OFFICE, {"MaHoSo": "x"}) == [OFFICE, PORTAL]


def test_condition_not_matching() -> None:
    other = {**DOSSIER, "MaTTHC": "9.999999"}
    assert recipients("dossier", OFFICE, None, other) == [PORTAL]


def test_sender_never_receives_its_own_message() -> None:
    assert recipients("dossier-status", PORTAL, None, {}) == []
    assert recipients("dossier-status", OFFICE, OFFICE, {}) == [PORTAL]
    assert recipients("dossier", TNMT, None, DOSSIER) == [PORTAL]


def test_unknown_type_and_no_routes() -> None:
    assert recipients("field-report", OFFICE, None, {}) == []
    assert recipients("field-report", OFFICE, COMMUNE, {}) == [COMMUNE]


def test_order_is_deterministic() -> None:
    expected = recipients("dossier", COMMUNE, None, DOSSIER)
    assert recipients("dossier", COMMUNE, None, DOSSIER, list(reversed(ROUTES))) == expected


GRANTS = [
    GrantInfo(OFFICE, "send", "dossier", TNMT),
    GrantInfo(OFFICE, "send", "dossier", PORTAL),
    GrantInfo(TNMT, "send", "dossier-status", "*"),
    GrantInfo(OFFICE, "call", "000.01.12.H56/LookupCertificate", "*"),
    GrantInfo(COMMUNE, "call", "000.00.00.G22/*", "*"),
    GrantInfo("*", "send", "sms-notification", "H56.91"),
]


@pytest.mark.parametrize(
    ("agency", "action", "target", "recipient", "expected"),
    [
        (OFFICE, "send", "dossier", TNMT, True),
        (OFFICE, "send", "dossier", PORTAL, True),
        (OFFICE, "send", "dossier", JUSTICE, False),
        (OFFICE, "send", "dossier-status", TNMT, False),
        (COMMUNE, "send", "dossier", TNMT, False),
        (TNMT, "send", "dossier-status", OFFICE, True),
        (TNMT, "send", "dossier", OFFICE, False),
        (OFFICE, "call", "000.01.12.H56/LookupCertificate", "*", True),
        (OFFICE, "call", "000.01.12.H56/Other", "*", False),
        (OFFICE, "send", "000.01.12.H56/LookupCertificate", "*", False),  # call is not send
        (COMMUNE, "call", "000.00.00.G22/TraCuuHoSo", "*", True),
        (COMMUNE, "call", "000.00.00.G2/TraCuuHoSo", "*", False),
        (JUSTICE, "send", "sms-notification", "H56.91", True),
        (JUSTICE, "send", "sms-notification", "H56.90", False),
    ],
)
def test_is_granted(agency: str, action: str, target: str, recipient: str, expected: bool) -> None:
    assert (
        is_granted(GRANTS, agency=agency, action=action, target=target, recipient=recipient)
        is expected
    )


def test_deny_by_default() -> None:
    assert not is_granted([], agency=OFFICE, action="send", target="dossier", recipient=TNMT)
