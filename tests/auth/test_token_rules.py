"""The rules of access-token verification, at the level where they live: a token a few seconds
past its expiry is still honoured (clock skew between agency systems), one past the leeway is not;
a revocation made by one process reaches every other within the reload interval and stays until
the token has expired."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from lgsp.auth import tokens
from lgsp.auth.keys import KeyStore
from lgsp.auth.models import SigningKey
from lgsp.auth.tokens import RevocationList, TokenVerifier
from lgsp.kit.db import make_engine, make_sessionmaker
from lgsp.kit.errors import Unauthorized
from lgsp.models import Base
from lgsp.settings import Settings

SECRET = "test-secret-key-0123456789abcdef0123456789"


@dataclass
class Auth:
    settings: Settings
    sessions: sessionmaker[Session]
    keys: KeyStore

    def verifier(self, refresh_seconds: float = 1.0) -> TokenVerifier:
        return TokenVerifier(
            self.settings, self.keys, RevocationList(self.sessions, refresh_seconds=refresh_seconds)
        )

    def token(self, *, exp_in: int, iat_ago: int = 60) -> tuple[str, dict[str, object]]:
        claims = tokens.issue_claims(
            self.settings, client_id="c_test", agency="000.00.01.H56", scope="messages:send", ttl=1
        )
        now = int(time.time())
        claims.update(iat=now - iat_ago, nbf=now - iat_ago, exp=now + exp_in)
        return tokens.encode(self.keys, claims), claims


@pytest.fixture
def auth(database_url: str) -> Iterator[Auth]:
    settings = Settings(env="test", secret_key=SECRET, database_url=database_url)
    engine = make_engine(database_url, pool_size=4)
    Base.metadata.create_all(engine)
    sessions = make_sessionmaker(engine)
    keys = KeyStore(sessions, settings)
    keys.ensure_active_key()
    yield Auth(settings, sessions, keys)
    engine.dispose()


def test_expiry_is_honoured_within_the_leeway_and_refused_past_it(auth: Auth) -> None:
    verifier = auth.verifier()
    leeway = tokens.LEEWAY_SECONDS
    assert 0 < leeway <= 60, "clock-skew allowance must stay small"
    fresh, _ = auth.token(exp_in=300)
    assert verifier.principal(fresh).client_id == "c_test"
    just_expired, _ = auth.token(exp_in=-(leeway - 5))
    assert verifier.principal(just_expired).agency == "000.00.01.H56"
    for past in (leeway + 5, leeway + 120, 3600):
        expired, _ = auth.token(exp_in=-past, iat_ago=past + 60)
        with pytest.raises(Unauthorized, match="not valid"):
            verifier.principal(expired)


def test_a_revocation_reaches_another_process_and_stays(auth: Auth) -> None:
    # Two API processes: each has its own in-memory copy of the revocation list.
    here, there = auth.verifier(refresh_seconds=0.0), auth.verifier(refresh_seconds=0.0)
    token, claims = auth.token(exp_in=600)
    revoked_too, other = auth.token(exp_in=600)
    assert there.principal(token).jti == claims["jti"]
    here.revocations.revoke(str(claims["jti"]), int(claims["exp"]))  # type: ignore[call-overload]
    here.revocations.revoke(str(other["jti"]), int(other["exp"]))  # type: ignore[call-overload]
    for verifier in (here, there):
        # Several reloads in a row: the entry must survive every one of them.
        for _ in range(3):
            with pytest.raises(Unauthorized, match="revoked"):
                verifier.principal(token)
            with pytest.raises(Unauthorized, match="revoked"):
                verifier.principal(revoked_too)
    untouched, _ = auth.token(exp_in=600)
    assert there.principal(untouched).client_id == "c_test"


def test_an_expired_revocation_is_forgotten_not_the_live_ones(auth: Auth) -> None:
    """The deny-list keeps only entries whose token could still be presented."""
    verifier = auth.verifier(refresh_seconds=0.0)
    _, live = auth.token(exp_in=600)
    now = int(time.time())
    verifier.revocations.revoke("long-gone", now - 10)
    verifier.revocations.revoke(str(live["jti"]), int(live["exp"]))  # type: ignore[call-overload]
    assert verifier.revocations.is_revoked(str(live["jti"]))
    assert not verifier.revocations.is_revoked("long-gone")


def test_a_remembered_token_still_expires_on_time(auth: Auth) -> None:
    """Verified tokens are remembered, never past the moment a full verification refuses them,
    on either path (the answer at once included, with the token state still current)."""
    verifier = auth.verifier(refresh_seconds=60)
    token, _ = auth.token(exp_in=-(tokens.LEEWAY_SECONDS - 2))  # honoured for 2 more seconds
    assert verifier.principal(token).client_id == "c_test"
    assert verifier.principal(token).client_id == "c_test"  # now from memory
    assert verifier.principal_at_once(token) is not None
    time.sleep(3)
    assert verifier.principal_at_once(token) is None
    with pytest.raises(Unauthorized, match="not valid"):
        verifier.principal(token)


def test_a_remembered_token_is_refused_once_its_key_is_withdrawn(auth: Auth) -> None:
    verifier = auth.verifier()
    token, _ = auth.token(exp_in=600)
    assert verifier.principal(token).client_id == "c_test"
    withdrawn = auth.keys.active_key().kid
    auth.keys.rotate()
    with auth.sessions.begin() as session:
        session.execute(delete(SigningKey).where(SigningKey.kid == withdrawn))
    auth.keys.reload()
    with pytest.raises(Unauthorized, match="signature"):
        verifier.principal(token)


def test_more_live_tokens_than_are_remembered_all_verify(auth: Auth) -> None:
    verifier = auth.verifier()
    verifier.CACHE_SIZE = 3  # type: ignore[misc]
    issued = [auth.token(exp_in=600) for _ in range(8)]
    for _ in range(2):
        for token, claims in issued:
            assert verifier.principal(token).jti == claims["jti"]
    forged = issued[0][0][:-4] + ("AAAA" if not issued[0][0].endswith("AAAA") else "BBBB")
    with pytest.raises(Unauthorized):
        verifier.principal(forged)


def test_a_token_presented_again_is_not_verified_again(auth: Auth) -> None:
    """The cache's purpose: an agency reusing its token pays for the signature once, also inside
    the expiry leeway; revocation is still checked on every presentation."""
    verifier = auth.verifier(refresh_seconds=0.0)
    verified: list[str] = []
    decode = verifier.decode

    def counting_decode(token: str) -> dict[str, object]:
        verified.append(token)
        return decode(token)

    verifier.decode = counting_decode  # type: ignore[method-assign]
    fresh, fresh_claims = auth.token(exp_in=600)
    in_leeway, _ = auth.token(exp_in=-(tokens.LEEWAY_SECONDS - 10))
    for _ in range(3):
        assert verifier.principal(fresh).jti == fresh_claims["jti"]
        assert verifier.principal(in_leeway).client_id == "c_test"
    assert verified == [fresh, in_leeway]
    verifier.revocations.revoke(str(fresh_claims["jti"]), int(fresh_claims["exp"]))  # type: ignore[call-overload]
    with pytest.raises(Unauthorized, match="revoked"):
        verifier.principal(fresh)


def test_the_cache_never_holds_more_than_its_size(auth: Auth) -> None:
    verifier = auth.verifier()
    verifier.CACHE_SIZE = 3  # type: ignore[misc]
    for _ in range(7):
        token, _ = auth.token(exp_in=600)
        verifier.principal(token)
        assert 1 <= verifier.remembered() <= 3


def test_epoch_micros_is_an_exact_integer() -> None:
    from datetime import UTC, datetime

    moment = datetime(2026, 12, 3, 8, 30, 15, 123457, tzinfo=UTC)
    micros = tokens.epoch_micros(moment)
    assert type(micros) is int
    assert micros == 1_796_286_615_123_457
    assert (
        datetime.fromtimestamp(micros // 1_000_000, UTC).replace(microsecond=micros % 1_000_000)
        == moment
    )


def test_the_answer_at_once_is_only_for_remembered_tokens_under_current_state(auth: Auth) -> None:
    """``principal_at_once`` (the event loop's answer, no database read) serves only a token
    verified before, and only while the revocation state is current: a revocation made by
    another process is refused at once after the reload interval, never served from memory."""
    verifier = auth.verifier(refresh_seconds=0.3)
    elsewhere = auth.verifier(refresh_seconds=0.0)
    token, claims = auth.token(exp_in=600)
    assert verifier.principal_at_once(token) is None  # never verified here
    assert verifier.principal(token).jti == claims["jti"]
    assert verifier.principal_at_once(token) == verifier.principal(token)
    elsewhere.revocations.revoke(str(claims["jti"]), int(claims["exp"]))  # type: ignore[call-overload]
    time.sleep(0.35)  # past the reload interval: the copy here is due for its reload
    assert verifier.principal_at_once(token) is None  # so nothing is answered from memory
    auth.keys.reload()  # current keys too (a new key set: the token is verified again)
    with pytest.raises(Unauthorized, match="revoked"):
        verifier.principal(token)  # the reload sees the revocation; the token is remembered
    with pytest.raises(Unauthorized, match="revoked"):
        verifier.principal_at_once(token)  # answered at once now, and refused
    never_fresh = auth.verifier(refresh_seconds=0.0)
    never_fresh.principal(token := auth.token(exp_in=600)[0])
    assert never_fresh.principal_at_once(token) is None
