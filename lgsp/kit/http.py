"""HTTP plumbing: request and trace ids, the body size limit, RFC 9457 problem responses.

Written as plain ASGI middleware (not BaseHTTPMiddleware) because it runs on every request.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lgsp.kit import jsonutil
from lgsp.kit.errors import (
    HTTPProblem,
    InvalidRequest,
    LGSPError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unavailable,
)
from lgsp.kit.ids import random_bytes, uuid7
from lgsp.kit.redact import public_problem

log = logging.getLogger("lgsp.http")
PROBLEM_JSON = "application/problem+json"
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


class RequestContextMiddleware:
    """Gives every request an id and a W3C trace context, and enforces the body size limit."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, by_type: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.limits = BodyLimits(max_body_bytes, by_type or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = uuid7()
        incoming = headers.get(b"traceparent", b"").decode("latin-1").strip().lower()
        match = _TRACEPARENT.match(incoming)
        trace_id = match.group(1) if match else random_bytes(16).hex()
        span_id = random_bytes(8).hex()
        flags = match.group(3) if match else "01"
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["trace_id"] = trace_id
        extra = [
            (b"x-request-id", request_id.encode()),
            (b"traceparent", f"00-{trace_id}-{span_id}-{flags}".encode()),
        ]
        limit, ceiling = self.limits.for_request(scope)
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > ceiling
            except ValueError:
                too_big = False
            if too_big:
                await send_problem(
                    send,
                    PayloadTooLarge(f"the request body exceeds the limit of {ceiling} bytes"),
                    extra,
                    instance=scope.get("path"),
                )
                return

        received = 0
        # Kept only where the limit depends on the message type named inside the body.
        chunks: list[bytes] | None = [] if ceiling > limit else None

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                received += len(body)
                if received > ceiling:
                    raise PayloadTooLarge(f"the request body exceeds the limit of {ceiling} bytes")
                if chunks is not None:
                    chunks.append(body)
                    if not message.get("more_body", False) and received > limit:
                        allowed = self.limits.for_body(b"".join(chunks))
                        if received > allowed:
                            raise PayloadTooLarge(
                                f"the request body exceeds the limit of {allowed} bytes"
                            )
            return message

        async def send_with_ids(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, limited_receive, send_with_ids)


_VALIDATE_PATH = re.compile(r"^/v1/schemas/([^/]+)/validate$")


class BodyLimits:
    """The body size limit of a request: the default, or its message type's own
    (LGSP_MAX_BODY_BYTES_BY_TYPE). A send names its type inside the body, so a send may stream
    up to the largest limit of any type, and is then held to its own type's."""

    def __init__(self, default: int, by_type: Mapping[str, int]) -> None:
        self.default = default
        self.by_type = dict(by_type)
        self.largest = max([default, *self.by_type.values()])

    def for_request(self, scope: Scope) -> tuple[int, int]:
        """(the limit if the body names no type of its own, the most that may be read)."""
        path = scope.get("path", "")
        if scope.get("method") == "POST" and path == "/v1/messages":
            return self.default, self.largest
        match = _VALIDATE_PATH.match(path)
        if match:
            limit = self.by_type.get(match.group(1), self.default)
            return limit, limit
        return self.default, self.default

    def for_body(self, body: bytes) -> int:
        try:
            kind = jsonutil.loads(body).get("type")
        except (jsonutil.JSONDecodeError, AttributeError):
            return self.default  # the endpoint explains what is wrong with it
        return self.by_type.get(kind, self.default) if isinstance(kind, str) else self.default


async def send_problem(
    send: Send,
    exc: LGSPError,
    extra: Sequence[tuple[bytes, bytes]] = (),
    instance: str | None = None,
) -> None:
    """Answer with ``exc`` as problem+json straight from ASGI middleware."""
    body = jsonutil.dumps(public_problem(exc.to_problem(instance)))
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in exc.headers.items()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def problem_response(exc: LGSPError, request: Request | None = None) -> Response:
    problem = public_problem(exc.to_problem(request.url.path if request is not None else None))
    if request is not None:
        problem.setdefault("request_id", getattr(request.state, "request_id", None))
    return Response(
        jsonutil.dumps(problem),
        status_code=exc.status,
        media_type=PROBLEM_JSON,
        headers=exc.headers,
    )


def install_error_handlers(app: FastAPI) -> None:
    async def on_lgsp_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LGSPError)
        return problem_response(exc, request)

    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        # Keeps the headers Starlette sets (a 405 carries Allow, RFC 9110 §15.5.6).
        detail, headers = str(exc.detail), dict(exc.headers or {})
        err: LGSPError
        if exc.status_code == 404:
            err = NotFound(detail, headers=headers)
        elif exc.status_code == 405:
            err = MethodNotAllowed(detail, headers=headers)
        else:
            err = HTTPProblem(detail, status=exc.status_code, headers=headers)
        return problem_response(err, request)

    async def on_request_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors: list[dict[str, Any]] = []
        for e in exc.errors():
            loc = [str(p) for p in e.get("loc", ())]
            errors.append(
                {
                    "pointer": "/" + "/".join(loc[1:]),
                    "in": loc[0] if loc else "",
                    "keyword": e.get("type", ""),
                    "message": e.get("msg", ""),
                }
            )
        return problem_response(InvalidRequest("the request is not valid", errors), request)

    async def on_database_error(request: Request, exc: Exception) -> Response:
        log.warning("database unavailable: %s", exc)
        return problem_response(
            Unavailable(
                "the platform's database is unavailable; nothing was stored, try again shortly",
                headers={"Retry-After": "5"},
            ),
            request,
        )

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(LGSPError("an unexpected error occurred"), request)

    app.add_exception_handler(LGSPError, on_lgsp_error)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(OperationalError, on_database_error)
    app.add_exception_handler(PoolTimeout, on_database_error)
    app.add_exception_handler(InterfaceError, on_database_error)
    app.add_exception_handler(Exception, on_unexpected)
