"""How a caller presents its access token (RFC 6750 section 2.1), at the dependency that reads it:
the ``Authorization: Bearer <token>`` header, the scheme in any case, spaces around the token
tolerated; a missing header says a token is required (no error code, as RFC 6750 section 3.1
asks of a request without credentials), a malformed one is an ``invalid_request``."""

from __future__ import annotations

import re

import pytest
from starlette.requests import Request

from lgsp.auth.deps import bearer_token
from lgsp.kit.errors import Unauthorized


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
