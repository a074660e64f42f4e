"""What an access token must carry to be accepted, and what the caller learns from it.

Every registered claim the platform relies on is required (a token without it is refused, not
accepted with a gap), issuer and audience must be this platform's, the JOSE ``typ`` must say
"access token" in one of its accepted spellings, a key rotated by another process verifies at
once, and the principal carries the token's client, agency, scopes and expiry as issued.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey
from sqlalchemy import select

from lgsp.auth import tokens
from lgsp.auth.keys import KeyStore
from lgsp.auth.models import RevokedToken
from lgsp.kit.errors import Unauthorized
from tests.auth.test_token_rules import Auth
from tests.auth.test_token_rules import auth as auth

AGENCY = "000.00.01.H56"


def claims_for(auth: Auth, **changes: object) -> dict[str, object]:
    claims = tokens.issue_claims(
        auth.settings, client_id="c_claims", agency=AGENCY, scope="messages:send", ttl=600
    )
    claims.update(changes)
    return claims


def signed(auth: Auth, claims: dict[str, object], **header: object) -> str:
    key = auth.keys.active_key()
    head: dict[str, object] = {"alg": key.alg, "typ": "at+jwt", "kid": key.kid, **header}
    head = {k: v for k, v in head.items() if v is not None}
    return jwt.encode(head, claims, key, algorithms=tokens.ALLOWED_ALGS)


@pytest.fixture
def verifier(auth: Auth) -> Iterator[tokens.TokenVerifier]:
    yield auth.verifier()


@pytest.mark.parametrize("claim", ["iss", "aud", "exp", "jti", "client_id"])
def test_each_required_claim_is_required(
    auth: Auth, verifier: tokens.TokenVerifier, claim: str
) -> None:
    complete = claims_for(auth)
    assert verifier.principal(signed(auth, complete)).client_id == "c_claims"
    missing = {k: v for k, v in complete.items() if k != claim}
    with pytest.raises(Unauthorized, match=f"^the access token is not valid: .*{claim}"):
        verifier.principal(signed(auth, missing))


@pytest.mark.parametrize(
    ("claim", "value"),
    [("iss", "https://another-platform.example"), ("aud", "another-audience")],
)
def test_issuer_and_audience_must_be_this_platforms(
    auth: Auth, verifier: tokens.TokenVerifier, claim: str, value: str
) -> None:
    with pytest.raises(Unauthorized, match=f"^the access token is not valid: .*{claim}"):
        verifier.principal(signed(auth, claims_for(auth, **{claim: value})))


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt", "JWT", "jwt", None])
def test_the_access_token_types_accepted(
    auth: Auth, verifier: tokens.TokenVerifier, typ: str | None
) -> None:
    """RFC 9068 ``at+jwt`` in either spelling, plain ``JWT`` (common clients), or no ``typ``."""
    assert verifier.principal(signed(auth, claims_for(auth), typ=typ)).agency == AGENCY


@pytest.mark.parametrize("typ", ["JOSE", "id_token+jwt", "logout+jwt", "secevent+jwt"])
def test_other_token_types_are_refused(
    auth: Auth, verifier: tokens.TokenVerifier, typ: str
) -> None:
    with pytest.raises(Unauthorized, match=r"^token is not an access token$"):
        verifier.principal(signed(auth, claims_for(auth), typ=typ))


def test_refusals_say_why(auth: Auth, verifier: tokens.TokenVerifier) -> None:
    with pytest.raises(Unauthorized, match=r"^the access token is not a well-formed JWT$"):
        verifier.principal("not-a-jwt")
    header, payload, _ = signed(auth, claims_for(auth)).split(".")
    # Another token's signature under this header and payload.
    forged = ".".join([header, payload, signed(auth, claims_for(auth)).split(".")[2]])
    with pytest.raises(Unauthorized, match=r"^the access token signature does not verify$"):
        verifier.principal(forged)
    with pytest.raises(Unauthorized, match=r"^token signing algorithm 'HS256' is not accepted$"):
        verifier.principal(
            jwt.encode({"alg": "HS256"}, claims_for(auth), OctKey.import_key("k" * 32))
        )


def test_a_key_rotated_by_another_process_verifies_at_once(
    auth: Auth, verifier: tokens.TokenVerifier
) -> None:
    """The verifier's key snapshot is refreshed only every few seconds; a token naming a key it
    does not know yet makes it reload there and then."""
    assert verifier.principal(signed(auth, claims_for(auth))).client_id == "c_claims"
    elsewhere = KeyStore(auth.sessions, auth.settings)
    elsewhere.rotate()
    key = elsewhere.active_key()
    assert key.kid != auth.keys.active_key().kid
    token = jwt.encode(
        {"alg": key.alg, "typ": "at+jwt", "kid": key.kid},
        claims_for(auth),
        key,
        algorithms=tokens.ALLOWED_ALGS,
    )
    assert verifier.principal(token).client_id == "c_claims"


def test_the_principal_is_what_the_token_says(auth: Auth, verifier: tokens.TokenVerifier) -> None:
    claims = claims_for(auth, scope="messages:send messages:read  audit:read")
    principal = verifier.principal(signed(auth, claims))
    assert principal.client_id == "c_claims"
    assert principal.agency == AGENCY
    assert principal.scopes == {"messages:send", "messages:read", "audit:read"}
    assert principal.jti == claims["jti"]
    assert principal.expires_at == claims["exp"]
    assert principal.has("audit:read") and not principal.has("admin")

    bare = {k: v for k, v in claims_for(auth).items() if k not in ("scope", "agency")}
    nobody = verifier.principal(signed(auth, bare))
    assert nobody.scopes == frozenset() and nobody.agency == ""


def test_issued_claims_are_fresh_and_unique(auth: Auth) -> None:
    before = int(time.time())
    first = tokens.issue_claims(
        auth.settings, client_id="c_1", agency=AGENCY, scope="messages:send", ttl=300
    )
    after = int(time.time())
    assert before <= first["iat"] == first["nbf"] <= after  # type: ignore[operator]
    assert first["exp"] == first["iat"] + 300  # type: ignore[operator]
    assert (first["iss"], first["aud"]) == (auth.settings.issuer, auth.settings.audience)
    assert first["sub"] == first["client_id"] == "c_1"
    jtis = {
        tokens.issue_claims(auth.settings, client_id="c_1", agency=AGENCY, scope="", ttl=1)["jti"]
        for _ in range(200)
    }
    assert len(jtis) == 200


def test_revoking_purges_the_entries_of_expired_tokens(auth: Auth) -> None:
    """The deny-list table does not grow for ever: each revocation drops expired entries."""
    revocations = auth.verifier(refresh_seconds=0.0).revocations
    now = int(time.time())
    revocations.revoke("expired-one", now - 10)
    revocations.revoke("live-one", now + 600)
    with auth.sessions() as session:
        stored = set(session.scalars(select(RevokedToken.jti)))
    assert stored == {"live-one"}
