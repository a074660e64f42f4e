"""One key per purpose: the key that signs access tokens cannot seal a log batch, and the key
that seals the log cannot sign an access token. Keys from before the separation (legacy) sign
nothing any more but keep verifying what they signed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, update

from lgsp.auth.keys import KeyStore
from lgsp.auth.models import SigningKey
from lgsp.exchange.models import Message
from lgsp.kit.db import transaction
from lgsp.messagelog.sealer import Sealer, seal_pending
from lgsp.messagelog.service import append
from lgsp.messagelog.verify import verify_log
from tests.api.test_accept import assert_problem, dossier, forge, send
from tests.support.platform import LivePlatform, live_platform


@pytest.fixture
def live(database_url: str) -> Iterator[LivePlatform]:
    with live_platform(database_url) as live:
        # These tests seal by hand with a chosen key: the platform's own sealer would race them
        # for the entries (and, on PostgreSQL, for the sealing lock).
        for service in live.platform.background:
            if isinstance(service, Sealer):
                service.stop()
        yield live


def add_entries(live: LivePlatform, n: int = 3) -> None:
    with transaction(live.platform.sessions) as session:
        for i in range(n):
            append(session, "test.entry", detail={"n": i})


def verify(live: LivePlatform) -> bool:
    platform = live.platform
    return verify_log(platform.sessions, platform.keys.all_public_jwks()).ok


def test_the_two_purposes_have_different_keys(live: LivePlatform) -> None:
    token_kid = live.platform.keys.active_key().kid
    seal_kid = live.platform.seal_keys.active_key().kid
    assert token_kid != seal_kid
    published = {k["kid"] for k in live.platform.keys.jwks()["keys"]}
    assert token_kid in published and seal_kid not in published  # JWKS: token keys only
    sealing = {k["kid"] for k in live.platform.keys.all_public_jwks()["keys"]}
    assert seal_kid in sealing and token_kid not in sealing


def test_a_token_signed_with_the_seal_key_is_refused(live: LivePlatform) -> None:
    seal = live.platform.seal_keys.active_key()
    token = forge(live, key=seal, header={"alg": "ES256", "typ": "at+jwt", "kid": seal.kid})
    with live.platform.sessions() as s:
        before = s.scalar(select(func.count()).select_from(Message))
    r = send(live, {"type": "dossier", "payload": dossier()}, {"Authorization": f"Bearer {token}"})
    assert_problem(r, 401, "unauthorized")
    with live.platform.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == before


def test_a_batch_sealed_with_the_token_key_does_not_verify(live: LivePlatform) -> None:
    platform = live.platform
    add_entries(live)
    assert seal_pending(platform.sessions, platform.seal_keys.sign_compact, settle_seconds=0)
    assert verify(live)
    add_entries(live)
    assert seal_pending(platform.sessions, platform.keys.sign_compact, settle_seconds=0)
    assert not verify(live)


def test_legacy_keys_sign_nothing_but_verify_what_they_signed(live: LivePlatform) -> None:
    platform = live.platform
    # As the migration leaves a platform that had one key for both purposes.
    with transaction(platform.sessions) as session:
        session.execute(update(SigningKey).values(purpose="legacy"))
    old = platform.keys.active_key()
    old_token = live.token("000.00.01.H56")
    add_entries(live)
    assert seal_pending(platform.sessions, platform.keys.sign_compact, settle_seconds=0)

    # The next start: a key per purpose, the legacy key retired.
    restarted = KeyStore(platform.sessions, platform.settings)
    sealer = KeyStore(platform.sessions, platform.settings, purpose="seal")
    assert restarted.ensure_active_key() != old.kid
    assert sealer.ensure_active_key() != old.kid
    with platform.sessions() as s:
        legacy = s.get(SigningKey, old.kid)
        assert legacy is not None and legacy.retired_at is not None
    platform.keys.reload()
    # The token it signed still verifies (retired keys stay published for their tokens) ...
    with live.http() as http:
        r = http.get("/v1/agencies", headers={"Authorization": f"Bearer {old_token}"})
    assert r.status_code == 200, r.text
    # ... so does the batch it sealed, next to one sealed by the new seal key.
    add_entries(live)
    assert seal_pending(platform.sessions, sealer.sign_compact, settle_seconds=0)
    assert verify(live)
