"""Access tokens: RFC 9068 JWTs, issued by the authorization server and verified on every call.

Verification is on the hot path of every request: keys come from the KeyStore's in-memory
snapshot and revocations from an in-memory set refreshed from the database every second.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from joserfc import jws, jwt
from joserfc.errors import JoseError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from lgsp.auth.keys import KeyStore
from lgsp.auth.models import RevokedToken
from lgsp.kit.db import transaction
from lgsp.kit.errors import Unauthorized
from lgsp.kit.timeutil import utcnow
from lgsp.settings import Settings

ALLOWED_ALGS = ["ES256", "RS256", "EdDSA"]
LEEWAY_SECONDS = 30


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the client, its agency and what its token allows."""

    client_id: str
    agency: str
    scopes: frozenset[str]
    jti: str
    expires_at: int

    def has(self, scope: str) -> bool:
        return scope in self.scopes


def issue_claims(
    settings: Settings, *, client_id: str, agency: str, scope: str, ttl: int
) -> dict[str, object]:
    now = int(time.time())
    return {
        "iss": settings.issuer,
        "sub": client_id,
        "aud": settings.audience,
        "client_id": client_id,
        "agency": agency,
        "scope": scope,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": secrets.token_hex(16),
    }


def encode(keys: KeyStore, claims: dict[str, object]) -> str:
    key = keys.active_key()
    header = {"alg": key.alg, "typ": "at+jwt", "kid": key.kid}
    return jwt.encode(header, claims, key, algorithms=ALLOWED_ALGS)


class RevocationList:
    def __init__(self, sessions: sessionmaker[Session], *, refresh_seconds: float = 1.0) -> None:
        self._sessions = sessions
        self._refresh = refresh_seconds
        self._jtis: frozenset[str] = frozenset()
        self._loaded = 0.0
        self._lock = threading.Lock()

    def _reload(self) -> None:
        with self._sessions() as session:
            rows = session.scalars(
                select(RevokedToken.jti).where(RevokedToken.expires_at > utcnow())
            )
            self._jtis = frozenset(rows)
        self._loaded = time.monotonic()

    def is_revoked(self, jti: str) -> bool:
        if time.monotonic() - self._loaded > self._refresh:
            with self._lock:
                if time.monotonic() - self._loaded > self._refresh:
                    self._reload()
        return jti in self._jtis

    def revoke(self, jti: str, expires_at: int) -> None:
        with transaction(self._sessions) as session:
            session.execute(delete(RevokedToken).where(RevokedToken.expires_at < utcnow()))
            session.add(RevokedToken(jti=jti, expires_at=datetime.fromtimestamp(expires_at, UTC)))
            try:
                session.flush()
            except IntegrityError:
                session.rollback()
        self._jtis = self._jtis | {jti}


class TokenVerifier:
    def __init__(self, settings: Settings, keys: KeyStore, revocations: RevocationList) -> None:
        self._settings = settings
        self._keys = keys
        self.revocations = revocations

    def decode(self, token: str) -> dict[str, object]:
        """Verify signature and registered claims; raise Unauthorized with the reason."""
        try:
            header = jws.extract_compact(token.encode()).headers()
        except (JoseError, ValueError) as exc:
            raise Unauthorized("the access token is not a well-formed JWT") from exc
        alg = header.get("alg")
        if alg not in ALLOWED_ALGS:
            raise Unauthorized(f"token signing algorithm {alg!r} is not accepted")
        if header.get("typ", "at+jwt").lower() not in ("at+jwt", "application/at+jwt", "jwt"):
            raise Unauthorized("token is not an access token")
        kid = header.get("kid")
        keyset = self._keys.public_keys(kid if isinstance(kid, str) else None)
        try:
            decoded = jwt.decode(token, keyset, algorithms=[alg])
        except (JoseError, ValueError) as exc:
            raise Unauthorized("the access token signature does not verify") from exc
        claims = decoded.claims
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": self._settings.issuer},
            aud={"essential": True, "value": self._settings.audience},
            exp={"essential": True},
            jti={"essential": True},
            client_id={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise Unauthorized(f"the access token is not valid: {exc.description or exc}") from exc
        return claims

    def principal(self, token: str) -> Principal:
        claims = self.decode(token)
        jti = str(claims["jti"])
        if self.revocations.is_revoked(jti):
            raise Unauthorized("the access token has been revoked")
        scope = claims.get("scope") or ""
        return Principal(
            client_id=str(claims["client_id"]),
            agency=str(claims.get("agency") or ""),
            scopes=frozenset(str(scope).split()),
            jti=jti,
            expires_at=int(claims["exp"]),  # type: ignore[call-overload]
        )
