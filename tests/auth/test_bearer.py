"""How a caller presents its access token (RFC 6750 section 2.1), at the dependency that reads it:
the ``Authorization: Bearer <token>`` header, the scheme in any case, spaces around the token
tolerated; a missing header says a token is required (no error code, as RFC 6750 section 3.1
asks of a request without credentials), a malformed one is an ``invalid_request``."""

from __future__ import annotations

import asyncio
import re
from types import SimpleNamespace

import pytest
from starlette.requests import Request

from lgsp.auth.deps import bearer_token, current_principal
from lgsp.kit.errors import Unauthorized
from lgsp.kit.ratelimit import Rate, RateLimited
from tests.support.platform import KHDT, live_platform


def request_with(*headers: tuple[str, str]) -> Request:
    raw = [(name.lower().encode(), value.encode()) for name, value in headers]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw})


def error_code(exc: Unauthorized) -> str | None:
    challenge = exc.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="lgsp"'), challenge
    match = re.search(r'error="([^"]*)"', challenge)
    return match.group(1) if match else None


@pytest.mark.parametrize(
    "value",
    ["Bearer abc.def.ghi", "bearer abc.def.ghi", "BEARER abc.def.ghi", "Bearer  abc.def.ghi "],
)
def test_the_bearer_token_is_read_from_the_authorization_header(value: str) -> None:
    assert bearer_token(request_with(("Authorization", value))) == "abc.def.ghi"


def test_without_a_header_a_token_is_required_and_no_error_code_given() -> None:
    for request in (request_with(), request_with(("Authorization", ""))):
        with pytest.raises(Unauthorized) as caught:
            bearer_token(request)
        assert caught.value.detail == "an access token is required (Authorization: Bearer ...)"
        assert not error_code(caught.value)


@pytest.mark.parametrize(
    "value", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "abc.def.ghi", "Token abc.def.ghi"]
)
def test_a_header_that_is_not_a_bearer_token_is_an_invalid_request(value: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        bearer_token(request_with(("Authorization", value)))
    assert caught.value.detail == "the Authorization header must be 'Bearer <token>'"
    assert error_code(caught.value) == "invalid_request"


def test_a_request_is_charged_once_however_often_it_asks_who_calls(database_url: str) -> None:
    """The principal is worked out once per request and kept on it: a second dependency asking
    who calls gets the same principal without verifying the token again, and without taking a
    second request from the client's rate budget."""
    budget = Rate(per_second=0.001, burst=2)  # no refill within the test
    settings = {"rate_limits_enabled": True, "rate_limit_client": budget}
    with live_platform(database_url, **settings) as live:
        authorization = live.auth(KHDT, "inbox:read")["Authorization"]

        def request() -> Request:
            headers = [(b"authorization", authorization.encode())]
            app = SimpleNamespace(state=SimpleNamespace(platform=live.platform))
            return Request(
                {"type": "http", "method": "GET", "path": "/", "headers": headers, "app": app}
            )

        first = request()
        principal = asyncio.run(current_principal(first))
        assert asyncio.run(current_principal(first)) is principal
        second = asyncio.run(current_principal(request()))  # the budget's second request
        assert second.client_id == principal.client_id
        with pytest.raises(RateLimited):
            asyncio.run(current_principal(request()))
