"""The valid-after rule at the level of the verifier: a token carrying the client's valid-after
time it was issued under is current while that time stands; a token without it (issued before
the client's first change) is judged by its issue time; a process sees a change made elsewhere
once its copy is reloaded."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from lgsp.auth import tokens
from lgsp.auth.keys import KeyStore
from lgsp.auth.models import OAuthClient
from lgsp.auth.tokens import RevocationList, TokenVerifier
from lgsp.directory.models import Agency
from lgsp.kit.db import make_engine, make_sessionmaker, transaction
from lgsp.kit.errors import Unauthorized
from lgsp.models import Base
from lgsp.settings import Settings

SECRET = "test-secret-key-0123456789abcdef0123456789"


@dataclass
class Auth:
    settings: Settings
    sessions: sessionmaker[Session]
    keys: KeyStore

    def verifier(self) -> TokenVerifier:
        return TokenVerifier(
            self.settings, self.keys, RevocationList(self.sessions, refresh_seconds=0)
        )

    def token(self, *, iat: int, valid_after: datetime | None) -> str:
        claims = tokens.issue_claims(
            self.settings,
            client_id="c_rules",
            agency="000.00.01.H56",
            scope="messages:send",
            ttl=600,
            client_valid_after=valid_after,
        )
        claims.update(iat=iat, nbf=iat)
        return tokens.encode(self.keys, claims)

    def set_valid_after(self, moment: datetime | None) -> None:
        with transaction(self.sessions) as session:
            row = session.get(OAuthClient, "c_rules")
            assert row is not None
            row.valid_after = moment


@pytest.fixture
def auth(database_url: str) -> Iterator[Auth]:
    settings = Settings(env="test", secret_key=SECRET, database_url=database_url)
    engine = make_engine(database_url, pool_size=4)
    Base.metadata.create_all(engine)
    sessions = make_sessionmaker(engine)
    keys = KeyStore(sessions, settings)
    keys.ensure_active_key()
    with transaction(sessions) as session:
        session.add(Agency(code="000.00.01.H56", name_vi="x", name_en="x", kind="department"))
        session.flush()
        session.add(
            OAuthClient(
                client_id="c_rules",
                agency_code="000.00.01.H56",
                secret_hash="scrypt$00$00",
                scopes="messages:send",
                created_at=datetime.now(UTC),
            )
        )
    yield Auth(settings, sessions, keys)
    engine.dispose()


def test_tokens_are_judged_by_the_valid_after_time_they_carry(auth: Auth) -> None:
    verifier = auth.verifier()
    now = int(time.time())
    first = datetime.now(UTC).replace(microsecond=123456)
    auth.set_valid_after(first)
    under_first = auth.token(iat=now, valid_after=first)
    assert verifier.principal(under_first).client_id == "c_rules"

    second = first + timedelta(microseconds=1)
    auth.set_valid_after(second)
    with pytest.raises(Unauthorized, match="no longer valid"):
        verifier.principal(under_first)
    assert verifier.principal(auth.token(iat=now, valid_after=second)).client_id == "c_rules"


def test_a_token_without_the_claim_is_judged_by_its_issue_time(auth: Auth) -> None:
    verifier = auth.verifier()
    now = int(time.time())
    old, recent = auth.token(iat=now - 60, valid_after=None), auth.token(iat=now, valid_after=None)
    assert verifier.principal(old).client_id == "c_rules"  # the client never changed
    auth.set_valid_after(datetime.fromtimestamp(now - 30, UTC))
    with pytest.raises(Unauthorized, match="no longer valid"):
        verifier.principal(old)
    assert verifier.principal(recent).client_id == "c_rules"
    auth.set_valid_after(datetime.fromtimestamp(now, UTC))  # issued in that very second
    with pytest.raises(Unauthorized, match="no longer valid"):
        verifier.principal(recent)


def test_changing_a_client_sets_its_valid_after_time(auth: Auth) -> None:
    def valid_after() -> datetime | None:
        with auth.sessions() as session:
            row = session.get(OAuthClient, "c_rules")
            assert row is not None
            return row.valid_after

    def change(**values: object) -> None:
        with transaction(auth.sessions) as session:
            row = session.get(OAuthClient, "c_rules")
            for key, value in values.items():
                setattr(row, key, value)

    assert valid_after() is None
    change(name="renamed", scopes="messages:send")  # no change that matters
    assert valid_after() is None
    steps = [
        {"scopes": "messages:send inbox:read"},
        {"scopes": "inbox:read messages:send"},  # the same set: no change
        {"secret_hash": "scrypt$01$01"},
        {"disabled_at": datetime.now(UTC)},
        {"disabled_at": None},  # enabling does not bring old tokens back, nor cut new ones
    ]
    expect_change = [True, False, True, True, False]
    for values, changes in zip(steps, expect_change, strict=True):
        before = valid_after()
        change(**values)
        after = valid_after()
        assert (after != before) is changes, values
        if changes:
            assert after is not None and (before is None or after > before)
