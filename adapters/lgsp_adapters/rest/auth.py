"""Authentication headers for the REST adapter, including a cached OAuth2 client-credentials
token shared by all threads of one adapter."""

from __future__ import annotations

import base64
import threading
import time
from urllib.parse import urlencode

import orjson
import urllib3

from lgsp_adapters.base import RetriableError
from lgsp_adapters.rest.http import send
from lgsp_adapters.rest.settings import (
    Auth,
    BasicAuth,
    BearerAuth,
    HeaderAuth,
    NoAuth,
    OAuth2ClientCredentials,
)

# Renew a token this long before it expires, so a request never carries one that lapses in flight.
EXPIRY_MARGIN_SECONDS = 30.0


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


class Authenticator:
    """Produces the authentication headers of one adapter."""

    def __init__(self, auth: Auth, pool: urllib3.PoolManager, timeout: float) -> None:
        self.auth = auth
        self._pool = pool
        self._timeout = timeout
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    @property
    def refreshable(self) -> bool:
        return isinstance(self.auth, OAuth2ClientCredentials)

    def headers(self) -> dict[str, str]:
        auth = self.auth
        if isinstance(auth, NoAuth):
            return {}
        if isinstance(auth, BearerAuth):
            return {"Authorization": f"Bearer {auth.token.get_secret_value()}"}
        if isinstance(auth, BasicAuth):
            return {"Authorization": _basic(auth.username, auth.password.get_secret_value())}
        if isinstance(auth, HeaderAuth):
            return {auth.name: auth.value.get_secret_value()}
        return {"Authorization": f"Bearer {self._oauth2_token(auth)}"}

    def invalidate(self) -> None:
        """Forget the cached token (the recipient answered 401)."""
        with self._lock:
            self._token = None

    def _oauth2_token(self, auth: OAuth2ClientCredentials) -> str:
        with self._lock:
            if self._token is not None and time.monotonic() < self._expires_at:
                return self._token
            form = {"grant_type": "client_credentials"}
            if auth.scope:
                form["scope"] = auth.scope
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            }
            secret = auth.client_secret.get_secret_value()
            if auth.client_auth == "client_secret_basic":
                headers["Authorization"] = _basic(auth.client_id, secret)
            else:
                form["client_id"] = auth.client_id
                form["client_secret"] = secret
            url = str(auth.token_url)
            reply = send(
                self._pool,
                "POST",
                url,
                body=urlencode(form).encode(),
                headers=headers,
                timeout=self._timeout,
                max_reply_bytes=64 * 1024,
            )
            # A refused credential is an operator's fix, not the message's fault: keep the
            # messages queued (retriable) until the configuration is corrected.
            if reply.status != 200:
                raise RetriableError(
                    f"token endpoint {url} answered HTTP {reply.status}",
                    status_code=reply.status,
                    reply=reply.text,
                )
            try:
                document = orjson.loads(reply.body)
                token = str(document["access_token"])
                lifetime = float(document.get("expires_in", 300))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise RetriableError(
                    f"token endpoint {url} answered without a usable access_token",
                    reply=reply.text,
                ) from exc
            self._token = token
            self._expires_at = time.monotonic() + max(0.0, lifetime - EXPIRY_MARGIN_SECONDS)
            return token
