"""The OAuth 2.0 authorization server, built on authlib's server framework.

authlib does the protocol: client authentication (client_secret_basic and client_secret_post),
the client-credentials grant, scope checks, RFC 7662 introspection, RFC 7009 revocation, and the
RFC 6749 error responses. This module supplies the storage, the JWT token generator and the glue
to our HTTP layer.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Mapping
from functools import cache
from typing import Any

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    OAuth2Payload,
    OAuth2Request,
    TokenMixin,
)
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from sqlalchemy.orm import Session, sessionmaker

from lgsp.auth import tokens
from lgsp.auth.keys import KeyStore
from lgsp.auth.models import OAuthClient
from lgsp.kit.errors import LGSPError
from lgsp.kit.secrets import hash_secret, verify_secret
from lgsp.settings import Settings

SCOPES = {
    "messages:send": "send messages through the platform",
    "messages:read": "read the status of messages one sent or received",
    "inbox:read": "pull and acknowledge messages from one's inbox",
    "services:call": "call providers' services through the platform",
    "schemas:validate": "check payloads against the shared schemas",
    "admin": "administer the platform: dead letters, replays, clients",
    "audit": "read the message log and any message",
    "metrics": "scrape the Prometheus metrics (GET /metrics)",
}
AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class Client(ClientMixin):  # type: ignore[misc]
    def __init__(self, row: OAuthClient) -> None:
        self.client_id = row.client_id
        self.agency = row.agency_code
        self.scopes = row.scopes.split()
        self._secret_hash = row.secret_hash
        self.disabled = row.disabled_at is not None
        self.valid_after = row.valid_after

    def get_client_id(self) -> str:
        return self.client_id

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return " ".join(self.scopes)
        return " ".join(s for s in scope.split() if s in self.scopes)

    def check_client_secret(self, client_secret: str) -> bool:
        # Hash first: a disabled (or unknown) client takes as long to refuse as a wrong secret.
        matches = verify_secret(client_secret, self._secret_hash)
        return matches and not self.disabled

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in AUTH_METHODS

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_response_type(self, response_type: str) -> bool:
        return False

    def get_default_redirect_uri(self) -> None:
        return None


@cache
def _dummy_hash() -> str:
    return hash_secret(secrets.token_urlsafe(32))


class _UnknownClient(Client):
    """Stands for a client id that does not exist: refused after hashing, like a wrong secret."""

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        self.agency = ""
        self.scopes = []
        self._secret_hash = _dummy_hash()
        self.disabled = True


class _ClientCredentials(ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def validate_requested_scope(self) -> None:
        # An unknown scope, or one the client was not given, is an error, not silently dropped.
        from authlib.oauth2.rfc6749.errors import InvalidScopeError

        requested = (self.request.payload.scope or "").split()
        allowed = set(self.request.client.scopes)
        unknown = [s for s in requested if s not in allowed]
        if unknown:
            raise InvalidScopeError(f"scope not granted to this client: {' '.join(unknown)}")


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, form: dict[str, str]) -> None:
        self._form = form

    @property
    def data(self) -> dict[str, str]:
        return self._form

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return defaultdict(list, {k: [v] for k, v in self._form.items()})


class FormRequest(OAuth2Request):  # type: ignore[misc]
    def __init__(self, uri: str, headers: Mapping[str, str], form: dict[str, str]) -> None:
        super().__init__("POST", uri, headers=headers)
        self.payload = _Payload(form)
        self._form = form

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return {}


class _JWTToken(TokenMixin):  # type: ignore[misc]
    def __init__(self, claims: dict[str, Any]) -> None:
        self.claims = claims

    def check_client(self, client: Client) -> bool:
        return bool(self.claims.get("client_id") == client.client_id)

    def get_scope(self) -> str:
        return str(self.claims.get("scope", ""))

    def get_expires_in(self) -> int:
        return int(self.claims["exp"]) - int(self.claims["iat"])

    def is_expired(self) -> bool:
        import time

        return int(self.claims["exp"]) < time.time()

    def is_revoked(self) -> bool:
        return False


class _TokenLookup:
    """Both token endpoints find a token by verifying it: an invalid one is simply unknown
    (RFC 7009 and RFC 7662 make that not an error)."""

    CLIENT_AUTH_METHODS = AUTH_METHODS

    def __init__(self, verifier: tokens.TokenVerifier) -> None:
        super().__init__()
        self.verifier = verifier

    def query_token(self, token_string: str, token_type_hint: str | None) -> _JWTToken | None:
        try:
            return _JWTToken(self.verifier.decode(token_string))
        except LGSPError:
            return None


class _Introspection(_TokenLookup, IntrospectionEndpoint):  # type: ignore[misc]
    def check_permission(self, token: _JWTToken, client: Client, request: Any) -> bool:
        # A client may introspect its own tokens; auditors and admins any token.
        return token.check_client(client) or bool({"admin", "audit"} & set(client.scopes))

    def introspect_token(self, token: _JWTToken) -> dict[str, Any]:
        c = token.claims
        try:
            self.verifier.check_state(c)
        except LGSPError:
            return {"active": False}
        return {
            "active": True,
            "token_type": "Bearer",
            **{k: c[k] for k in ("client_id", "scope", "sub", "aud", "iss", "exp", "iat", "jti")},
            "agency": c.get("agency"),
        }


class _Revocation(_TokenLookup, RevocationEndpoint):  # type: ignore[misc]
    def revoke_token(self, token: _JWTToken, request: Any) -> None:
        self.verifier.revocations.revoke(str(token.claims["jti"]), int(token.claims["exp"]))


class LGSPAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        keys: KeyStore,
        verifier: tokens.TokenVerifier,
    ) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self._sessions = sessions
        self._settings = settings
        self._keys = keys
        self.register_grant(_ClientCredentials)
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=self._generate_access_token,
                expires_generator=lambda client, grant_type: settings.access_token_ttl_seconds,
            ),
        )
        self.register_endpoint(_Introspection(verifier))
        self.register_endpoint(_Revocation(verifier))
        _dummy_hash()  # made now, so the first unknown client is not slower than the next

    def _generate_access_token(self, client: Client, grant_type: str, user: Any, scope: str) -> str:
        claims = tokens.issue_claims(
            self._settings,
            client_id=client.client_id,
            agency=client.agency,
            scope=scope,
            ttl=self._settings.access_token_ttl_seconds,
            client_valid_after=client.valid_after,
        )
        return tokens.encode(self._keys, claims)

    def query_client(self, client_id: str) -> Client | None:
        with self._sessions() as session:
            row = session.get(OAuthClient, client_id)
            # An unknown client fails exactly as a wrong secret does, after the same hashing,
            # so neither the answer nor its time tells which client ids exist.
            return Client(row) if row is not None else _UnknownClient(client_id)

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        """JWT access tokens are self-contained: nothing to store."""

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signal receivers."""

    def create_oauth2_request(self, request: FormRequest) -> FormRequest:
        return request

    def handle_response(
        self, status: int, body: Any, headers: list[tuple[str, str]]
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, body, headers

    def metadata(self) -> dict[str, Any]:
        """RFC 8414 authorization server metadata."""
        base = self._settings.issuer.rstrip("/")
        return {
            "issuer": self._settings.issuer,
            "token_endpoint": f"{base}/oauth/token",
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "introspection_endpoint": f"{base}/oauth/introspect",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
            "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
            "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
            "scopes_supported": list(SCOPES),
            "response_types_supported": [],
            "token_endpoint_auth_signing_alg_values_supported": tokens.ALLOWED_ALGS,
        }
