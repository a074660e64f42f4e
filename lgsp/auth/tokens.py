"""Access tokens: RFC 9068 JWTs, issued by the authorization server and verified on every call.

Verification is on the hot path of every request: keys come from the KeyStore's in-memory
snapshot, and the two things that end a token early from an in-memory copy that every API
process reloads from the database when it is older than ``LGSP_TOKEN_STATE_REFRESH_SECONDS``
(0.25 s by default; that is how stale a process may be):

- revoked tokens (RFC 7009), by ``jti``;
- each client's "valid after" time, set when the client is disabled, its secret is rotated or its
  scopes change (lgsp.auth.models): a token issued before it is refused. A token records the
  client's valid-after time it was issued under (claim ``lgsp_cva``, microseconds since the
  epoch), so a token issued in the same second as a rotation, after it, is told apart exactly.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from joserfc import jws, jwt
from joserfc.errors import JoseError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from lgsp.auth.keys import KeyStore
from lgsp.auth.models import OAuthClient, RevokedToken
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


CLIENT_VALID_AFTER_CLAIM = "lgsp_cva"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def issue_claims(
    settings: Settings,
    *,
    client_id: str,
    agency: str,
    scope: str,
    ttl: int,
    client_valid_after: datetime | None = None,
) -> dict[str, object]:
    now = int(time.time())
    extra: dict[str, object] = {}
    if client_valid_after is not None:
        extra[CLIENT_VALID_AFTER_CLAIM] = epoch_micros(client_valid_after)
    return {
        **extra,
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
    """Revoked tokens and clients' valid-after times, as of the last reload (shared by threads).

    A process reloads both in one short read when its copy is older than ``refresh_seconds``;
    a revocation made here is seen here at once.
    """

    def __init__(self, sessions: sessionmaker[Session], *, refresh_seconds: float = 0.25) -> None:
        self._sessions = sessions
        self._refresh = refresh_seconds
        self._jtis: frozenset[str] = frozenset()
        self._valid_after: dict[str, int] = {}
        self._loaded = -float("inf")
        self._lock = threading.Lock()

    def _reload(self) -> None:
        with self._sessions() as session:
            rows = session.scalars(
                select(RevokedToken.jti).where(RevokedToken.expires_at > utcnow())
            )
            jtis = frozenset(rows)
            clients = session.execute(
                select(OAuthClient.client_id, OAuthClient.valid_after).where(
                    OAuthClient.valid_after.is_not(None)
                )
            )
            valid_after = {cid: epoch_micros(at) for cid, at in clients if at is not None}
        self._jtis, self._valid_after = jtis, valid_after
        self._loaded = time.monotonic()

    def _fresh(self) -> None:
        if time.monotonic() - self._loaded > self._refresh:
            with self._lock:
                if time.monotonic() - self._loaded > self._refresh:
                    self._reload()

    def fresh(self, margin: float) -> bool:
        """Whether this copy stays current for at least ``margin`` seconds more (so a caller on
        the event loop can read it without a database read)."""
        return time.monotonic() - self._loaded < self._refresh - margin

    def is_revoked(self, jti: str) -> bool:
        self._fresh()
        return jti in self._jtis

    def client_valid_after(self, client_id: str) -> int | None:
        """Microseconds since the epoch before which the client's tokens are refused."""
        self._fresh()
        return self._valid_after.get(client_id)

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
    """Verifies access tokens. A token whose signature and claims verified is remembered (up to
    ``CACHE_SIZE`` tokens) until it expires or the published keys change, so an agency system
    reusing its token pays for the signature once; revocation and client changes are checked
    on every request all the same (:meth:`check_state`)."""

    CACHE_SIZE = 1024

    def __init__(self, settings: Settings, keys: KeyStore, revocations: RevocationList) -> None:
        self._settings = settings
        self._keys = keys
        self.revocations = revocations
        # token -> (claims, principal, the key set it verified under, usable until (epoch s))
        self._verified: dict[str, tuple[dict[str, object], Principal, object, float]] = {}

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

    def check_state(self, claims: dict[str, object]) -> None:
        """Refuse a token revoked, or issued before its client was disabled, rotated or changed."""
        if self.revocations.is_revoked(str(claims["jti"])):
            raise Unauthorized("the access token has been revoked")
        valid_after = self.revocations.client_valid_after(str(claims["client_id"]))
        if valid_after is None:
            return
        issued_under = claims.get(CLIENT_VALID_AFTER_CLAIM)
        if isinstance(issued_under, int):
            current = issued_under >= valid_after
        else:  # issued before the client's first change
            iat = claims.get("iat")
            current = isinstance(iat, int | float) and iat * 1_000_000 > valid_after
        if not current:
            raise Unauthorized(
                "the access token is no longer valid: its client was disabled, given a new "
                "secret or other scopes after it was issued; request a new token"
            )

    # How long the key set and the revocation state must stay current for principal_at_once.
    FRESH_MARGIN = 0.05

    def principal_at_once(self, token: str) -> Principal | None:
        """The principal of a token verified before, when answering needs no database read:
        the token is remembered and the keys and revocation state are current. None otherwise;
        then :meth:`principal` answers (off the event loop: it may read the database). Either
        way the same revocation and client checks apply to the same in-memory state."""
        margin = self.FRESH_MARGIN
        if not (self._keys.fresh(margin) and self.revocations.fresh(margin)):
            return None
        hit = self._verified.get(token)
        if hit is None or hit[2] is not self._keys.public_keys() or time.time() >= hit[3]:
            return None
        self.check_state(hit[0])
        return hit[1]

    def principal(self, token: str) -> Principal:
        keyset = self._keys.public_keys()
        hit = self._verified.get(token)
        if hit is not None and hit[2] is keyset and time.time() < hit[3]:
            claims, principal = hit[0], hit[1]
        else:
            claims = self.decode(token)
            scope = claims.get("scope") or ""
            principal = Principal(
                client_id=str(claims["client_id"]),
                agency=str(claims.get("agency") or ""),
                scopes=frozenset(str(scope).split()),
                jti=str(claims["jti"]),
                expires_at=int(claims["exp"]),  # type: ignore[call-overload]
            )
            self._remember(token, claims, principal)
        self.check_state(claims)
        return principal

    def remembered(self) -> int:
        """How many verified tokens are remembered now (at most ``CACHE_SIZE``)."""
        return len(self._verified)

    def _remember(self, token: str, claims: dict[str, object], principal: Principal) -> None:
        if len(self._verified) >= self.CACHE_SIZE:
            self._verified.clear()  # rare: more distinct live tokens than the cache holds
        # Usable as long as decode() would accept it: until exp, with the same leeway, under
        # the key set it verified with (a reload, e.g. a key withdrawn, verifies again).
        keyset = self._keys.public_keys()
        self._verified[token] = (claims, principal, keyset, principal.expires_at + LEEWAY_SECONDS)
