"""Signing keys: generated, encrypted at rest, rotated, published as a JWK Set.

Keys have a purpose: ``token`` keys sign access tokens, ``seal`` keys sign log batches, so a key
that signs tokens cannot seal a batch and the other way round (``legacy`` keys, from before the
two were separated, signed both; they sign nothing any more, stay published for the tokens they
signed and verify the batches they sealed). A :class:`KeyStore` serves one purpose.

Per purpose one key is active. Rotation makes a new key active and retires the old one, which
stays published until every token it signed has expired, so a rotation never invalidates a token
in flight. Processes pick up a rotation made elsewhere (by ``lgsp keys rotate`` in another
terminal) within ``refresh_seconds``, or at once when they meet a token signed with a key id they
do not know yet.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from cryptography.fernet import Fernet
from joserfc import jws
from joserfc.jwk import ECKey, KeyParameters, KeySet, OKPKey, RSAKey
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lgsp.auth.models import SigningKey
from lgsp.kit.db import transaction
from lgsp.kit.timeutil import utcnow
from lgsp.settings import Settings

AnyKey = ECKey | RSAKey | OKPKey
Purpose = Literal["token", "seal"]
LEGACY = "legacy"


def _fernet(settings: Settings) -> Fernet:
    digest = hashlib.sha256(
        b"lgsp-key-encryption:" + settings.secret_key.get_secret_value().encode()
    )
    return Fernet(base64.urlsafe_b64encode(digest.digest()))


def _params(alg: str, kid: str) -> KeyParameters:
    return {"kid": kid, "alg": alg, "use": "sig"}


def _generate(alg: str, kid: str) -> AnyKey:
    params = _params(alg, kid)
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters=params)
    if alg == "RS256":
        return RSAKey.generate_key(3072, parameters=params)
    return OKPKey.generate_key("Ed25519", parameters=params)


def _import(pem: bytes, alg: str, kid: str) -> AnyKey:
    params = _params(alg, kid)
    if alg == "ES256":
        return ECKey.import_key(pem, parameters=params)
    if alg == "RS256":
        return RSAKey.import_key(pem, parameters=params)
    return OKPKey.import_key(pem, parameters=params)


@dataclass(frozen=True)
class _Snapshot:
    active: AnyKey | None
    public: KeySet
    jwks: dict[str, Any]
    loaded_at: float


class KeyStore:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        *,
        refresh_seconds: float = 5.0,
        purpose: Purpose = "token",
    ) -> None:
        self.purpose = purpose
        self._sessions = sessions
        self._settings = settings
        self._refresh = refresh_seconds
        self._lock = threading.Lock()
        self._snap: _Snapshot | None = None
        self._last_miss_reload = 0.0

    # -- administration -------------------------------------------------------------------------

    def ensure_active_key(self) -> str:
        """Create the first key of this purpose if there is none (retiring a legacy key still
        active: it signed both); return the active key id."""
        with transaction(self._sessions) as session:
            active = self._active_row(session)
            if active is None:
                self._retire(session, SigningKey.purpose == LEGACY)
                active = self._create(session)
            kid = active.kid
        self.reload()
        return kid

    def rotate(self) -> str:
        """Make a new key active; retire the current one (still published for a grace period)."""
        with transaction(self._sessions) as session:
            self._retire(session, SigningKey.purpose.in_([self.purpose, LEGACY]))
            kid = self._create(session).kid
        self.reload()
        return kid

    def _retire(self, session: Session, which: Any) -> None:
        now = utcnow()
        grace = max(
            self._settings.key_retirement_grace_seconds,
            self._settings.access_token_ttl_seconds + 60,
        )
        for row in session.scalars(
            select(SigningKey).where(SigningKey.retired_at.is_(None), which).with_for_update()
        ):
            row.retired_at = now
            row.unpublish_after = now + timedelta(seconds=grace)

    def _active_row(self, session: Session) -> SigningKey | None:
        return session.scalars(
            select(SigningKey)
            .where(SigningKey.retired_at.is_(None), SigningKey.purpose == self.purpose)
            .order_by(SigningKey.created_at.desc())
            .limit(1)
        ).first()

    def _create(self, session: Session) -> SigningKey:
        alg = self._settings.signing_alg
        kid = time.strftime("%Y%m%d") + "-" + secrets.token_hex(4)
        key = _generate(alg, kid)
        pem = key.as_pem(private=True)
        row = SigningKey(
            kid=kid,
            alg=alg,
            private_key=_fernet(self._settings).encrypt(pem).decode(),
            public_jwk=key.as_dict(private=False),
            created_at=utcnow(),
            purpose=self.purpose,
        )
        session.add(row)
        session.flush()
        return row

    # -- use ------------------------------------------------------------------------------------

    def reload(self) -> _Snapshot:
        with self._sessions() as session:
            now = utcnow()
            rows = list(
                session.scalars(
                    select(SigningKey)
                    .where(SigningKey.purpose.in_([self.purpose, LEGACY]))
                    .order_by(SigningKey.created_at)
                )
            )
        fernet = _fernet(self._settings)
        active: AnyKey | None = None
        published: list[dict[str, Any]] = []
        for row in rows:
            if row.unpublish_after is not None and row.unpublish_after <= now:
                continue
            published.append(dict(row.public_jwk))
            if row.retired_at is None and row.purpose == self.purpose:
                pem = fernet.decrypt(row.private_key.encode())
                active = _import(pem, row.alg, row.kid)
        public = KeySet.import_key_set({"keys": published})
        snap = _Snapshot(active, public, {"keys": published}, time.monotonic())
        with self._lock:
            self._snap = snap
        return snap

    def _current(self) -> _Snapshot:
        snap = self._snap
        if snap is None or time.monotonic() - snap.loaded_at > self._refresh:
            snap = self.reload()
        return snap

    def fresh(self, margin: float) -> bool:
        """Whether the in-memory keys stay current for at least ``margin`` seconds more (so a
        caller on the event loop can use them without a database read)."""
        snap = self._snap
        return snap is not None and time.monotonic() - snap.loaded_at < self._refresh - margin

    def active_key(self) -> AnyKey:
        key = self._current().active
        if key is None:
            raise RuntimeError("no active signing key: run `lgsp keys rotate` or start the API")
        return key

    def public_keys(self, kid: str | None = None) -> KeySet:
        """The published keys; reloads at once (at most once a second) on an unknown kid."""
        snap = self._current()
        if kid is not None and not any(k.get("kid") == kid for k in snap.jwks["keys"]):
            now = time.monotonic()
            if now - self._last_miss_reload > 1.0:
                self._last_miss_reload = now
                snap = self.reload()
        return snap.public

    def jwks(self) -> dict[str, Any]:
        """The keys tokens may be verified with: the active key and recently retired ones."""
        return self._current().jwks

    def all_public_jwks(self) -> dict[str, Any]:
        """Every key that may have sealed a log batch (seal keys and legacy keys, retired and
        unpublished ones included: a batch sealed years ago must still verify), whatever this
        store's purpose. Token keys are not among them: they cannot seal."""
        with self._sessions() as session:
            keys = [
                dict(jwk)
                for jwk in session.scalars(
                    select(SigningKey.public_jwk).where(SigningKey.purpose.in_(["seal", LEGACY]))
                )
            ]
        return {"keys": keys}

    def sign_compact(self, payload: bytes) -> str:
        """A compact JWS over ``payload`` with the active key (header carries ``kid``)."""
        key = self.active_key()
        header = {"alg": key.alg or self._settings.signing_alg, "kid": key.kid}
        return jws.serialize_compact(header, payload, key)
