"""A generic agency REST endpoint for tests and simulators: receives JSON messages, answers
look-ups, and can issue OAuth2 client-credentials tokens and demand them.

    with serve_rest_recipient(RestRecipient(token="s3cret")) as running:
        running.base_url                     # POST {base_url}/messages (any path is accepted)
        running.recipient.script("unavailable", times=2)
        running.recipient.received_ids()     # deduplicated on Idempotency-Key

Routes: ``POST /oauth/token`` (when ``client_id`` is set), ``GET /land/certificates/{serial}``,
``GET /echo...`` / any other path: messages (POST/PUT/PATCH) or an echo of the request (GET).
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

import orjson

from lgsp_testkit.servers import serve_asgi

Behaviour = Literal[
    "unavailable",  # 503 with Retry-After: 5
    "error",  # 500
    "throttle",  # 429 with Retry-After: 3
    "reject",  # 422 with a problem document
    "slow",  # answer normally after ``delay`` seconds
]


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass(slots=True)
class _Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class RestRecipient:
    """State and behaviour of the endpoint; thread-safe."""

    def __init__(
        self,
        *,
        token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        certificates: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        # ``token``: a static bearer token demanded on every request. ``client_id``: issue tokens
        # at /oauth/token and demand one of the issued tokens.
        self.token = token
        self.client_id = client_id
        self.client_secret = client_secret
        self.certificates = certificates or {
            "CY 000123": {"SoPhatHanh": "CY 000123", "DienTich": 152.5, "ThuaDatSo": "125"}
        }
        self._lock = threading.Lock()
        self._script: deque[tuple[Behaviour, float]] = deque()
        self.requests: list[Request] = []
        self.messages: dict[str, Request] = {}  # by Idempotency-Key, first copy
        self.issued_tokens: list[str] = []

    def script(self, behaviour: Behaviour, times: int = 1, *, delay: float = 0.0) -> None:
        with self._lock:
            self._script.extend([(behaviour, delay)] * times)

    def revoke_tokens(self) -> None:
        with self._lock:
            self.issued_tokens.clear()

    def received_ids(self) -> list[str]:
        with self._lock:
            return list(self.messages)

    def _authorized(self, headers: dict[str, str]) -> bool:
        given = headers.get("authorization", "")
        if self.token is not None:
            return secrets.compare_digest(given, f"Bearer {self.token}")
        if self.client_id is not None:
            with self._lock:
                return given.removeprefix("Bearer ") in self.issued_tokens
        return True

    def _issue_token(self, headers: dict[str, str], form: dict[str, str]) -> _Reply:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        auth = headers.get("authorization", "")
        if auth.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
        if (
            form.get("grant_type") != "client_credentials"
            or client_id != self.client_id
            or client_secret != self.client_secret
        ):
            return _Reply(401, {"error": "invalid_client"})
        token = secrets.token_urlsafe(16)
        with self._lock:
            self.issued_tokens.append(token)
        return _Reply(200, {"access_token": token, "token_type": "Bearer", "expires_in": 900})

    def handle(self, request: Request, raw: bytes) -> _Reply:
        if request.path == "/oauth/token" and self.client_id is not None:
            return self._issue_token(request.headers, dict(parse_qsl(raw.decode())))
        with self._lock:
            self.requests.append(request)
            behaviour = self._script.popleft() if self._script else None
        if not self._authorized(request.headers):
            return _Reply(401, {"detail": "missing or invalid token"})
        delay = 0.0
        if behaviour is not None:
            kind, delay = behaviour
            if kind == "unavailable":
                return _Reply(503, {"detail": "maintenance"}, {"Retry-After": "5"})
            if kind == "error":
                return _Reply(500, {"detail": "internal error"})
            if kind == "throttle":
                return _Reply(429, {"detail": "slow down"}, {"Retry-After": "3"})
            if kind == "reject":
                return _Reply(422, {"detail": "MaHoSo is missing"})
        if request.method == "GET" and request.path.startswith("/land/certificates/"):
            serial = request.path.removeprefix("/land/certificates/")
            found = self.certificates.get(serial)
            reply = _Reply(200, found) if found else _Reply(404, {"detail": "no such certificate"})
        elif request.method in ("POST", "PUT", "PATCH"):
            key = request.headers.get("idempotency-key") or secrets.token_hex(8)
            with self._lock:
                duplicate = key in self.messages
                self.messages.setdefault(key, request)
            reply = _Reply(200 if duplicate else 201, {"id": key, "duplicate": duplicate})
        else:
            reply = _Reply(
                200, {"method": request.method, "path": request.path, "query": request.query}
            )
        reply.delay = delay
        return reply

    def asgi_app(self) -> Any:
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "lifespan":
                while (await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})
                return
            chunks, more = [], True
            while more:
                event = await receive()
                chunks.append(event.get("body", b""))
                more = event.get("more_body", False)
            raw = b"".join(chunks)
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
            }
            body: Any = None
            if raw and "json" in headers.get("content-type", ""):
                body = orjson.loads(raw)
            query = dict(parse_qsl(scope["query_string"].decode()))
            request = Request(scope["method"], scope["path"], query, headers, body)
            reply = self.handle(request, raw)
            if reply.delay:
                await asyncio.sleep(reply.delay)
            out = [(b"content-type", b"application/json")]
            out += [(k.lower().encode(), v.encode()) for k, v in reply.headers.items()]
            await send({"type": "http.response.start", "status": reply.status, "headers": out})
            await send({"type": "http.response.body", "body": orjson.dumps(reply.body)})

        return app


@dataclass(frozen=True, slots=True)
class RunningRecipient:
    base_url: str
    recipient: RestRecipient


@contextmanager
def serve_rest_recipient(recipient: RestRecipient | None = None) -> Iterator[RunningRecipient]:
    recipient = recipient or RestRecipient()
    with serve_asgi(recipient.asgi_app()) as base_url:
        yield RunningRecipient(base_url, recipient)
