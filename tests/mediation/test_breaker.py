"""The circuit breaker of synchronous calls, against a real provider that keeps failing: calls
fail fast once it opens, and one probe after the cooldown decides whether it closes."""

from __future__ import annotations

import time

import httpx

from tests.mediation.conftest import (
    BREAKER_COOLDOWN,
    BREAKER_THRESHOLD,
    LOOKUP,
    World,
    assert_problem,
)
from tests.mediation.province import JUSTICE

QUERY = {"SoPhatHanh": "CY 000123"}


def first_call_let_through(world: World, timeout: float = 15.0) -> httpx.Response:
    """Call until the breaker lets a call reach the provider (the half-open probe)."""
    deadline = time.monotonic() + timeout + BREAKER_COOLDOWN
    while True:
        r = world.call(LOOKUP, QUERY)
        if r.status_code != 503:
            return r
        assert time.monotonic() < deadline, "the circuit never let a probe through"
        time.sleep(BREAKER_COOLDOWN / 5)


def test_open_circuit_fails_fast_then_a_probe_closes_it(world: World) -> None:
    land = world.land.service
    land.always("http_503")
    for _ in range(BREAKER_THRESHOLD):
        assert_problem(world.call(LOOKUP, QUERY), 502, "upstream-error")
    assert world.land_hits() == BREAKER_THRESHOLD

    fast = world.call(LOOKUP, QUERY)
    problem = assert_problem(fast, 503, "unavailable")
    assert "circuit open" in problem["detail"]
    assert int(fast.headers["retry-after"]) >= 1
    assert world.land_hits() == BREAKER_THRESHOLD  # the provider was not asked
    # Only that provider is paused.
    assert world.call(f"/v1/services/{JUSTICE}/Echo").status_code == 200

    # The provider is still down: the probe fails and the circuit opens again at once.
    probe = first_call_let_through(world)
    assert_problem(probe, 502, "upstream-error")
    assert world.land_hits() == BREAKER_THRESHOLD + 1
    assert_problem(world.call(LOOKUP, QUERY), 503, "unavailable")
    assert world.land_hits() == BREAKER_THRESHOLD + 1

    # Back up: the next probe succeeds and closes the circuit.
    land.always(None)
    probe = first_call_let_through(world)
    assert probe.status_code == 200 and probe.json()["Found"] is True
    for _ in range(BREAKER_THRESHOLD + 1):
        assert world.call(LOOKUP, QUERY).status_code == 200
    assert world.land_hits() == BREAKER_THRESHOLD + 1 + 1 + BREAKER_THRESHOLD + 1
    # Calls refused by the open circuit never reached a provider, so only real calls are logged.
    assert len(world.log("call.request")) == world.land_hits() + 1


def test_rejections_do_not_open_the_circuit(world: World) -> None:
    rest = world.justice.recipient
    rest.script("reject", times=BREAKER_THRESHOLD + 2)
    for _ in range(BREAKER_THRESHOLD + 2):
        # The provider answers, so it is up: a 4xx is the caller's problem, not the provider's.
        assert_problem(world.call(f"/v1/services/{JUSTICE}/Echo"), 422, "upstream-rejected")
    assert world.call(f"/v1/services/{JUSTICE}/Echo").status_code == 200
    assert len(rest.requests) == BREAKER_THRESHOLD + 3
