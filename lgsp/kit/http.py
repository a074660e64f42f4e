"""HTTP plumbing: request and trace ids, the body size limit, RFC 9457 problem responses.

Written as plain ASGI middleware (not BaseHTTPMiddleware) because it runs on every request.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lgsp.kit import jsonutil
from lgsp.kit.errors import LGSPError, PayloadTooLarge, Unavailable
from lgsp.kit.ids import uuid7

log = logging.getLogger("lgsp.http")
PROBLEM_JSON = "application/problem+json"
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


class RequestContextMiddleware:
    """Gives every request an id and a W3C trace context, and enforces the body size limit."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = uuid7()
        incoming = headers.get(b"traceparent", b"").decode("latin-1").strip().lower()
        match = _TRACEPARENT.match(incoming)
        trace_id = match.group(1) if match else os.urandom(16).hex()
        span_id = os.urandom(8).hex()
        flags = match.group(3) if match else "01"
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["trace_id"] = trace_id
        extra = [
            (b"x-request-id", request_id.encode()),
            (b"traceparent", f"00-{trace_id}-{span_id}-{flags}".encode()),
        ]
        limit = self.max_body_bytes
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                too_big = False
            if too_big:
                await _send_problem(
                    send,
                    PayloadTooLarge(f"the request body exceeds the limit of {limit} bytes"),
                    extra,
                    instance=scope.get("path"),
                )
                return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(f"the request body exceeds the limit of {limit} bytes")
            return message

        async def send_with_ids(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, limited_receive, send_with_ids)


async def _send_problem(
    send: Send, exc: LGSPError, extra: list[tuple[bytes, bytes]], instance: str | None
) -> None:
    body = jsonutil.dumps(exc.to_problem(instance))
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def problem_response(exc: LGSPError, request: Request | None = None) -> Response:
    problem = exc.to_problem(request.url.path if request is not None else None)
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
        err = LGSPError(str(exc.detail), headers=dict(exc.headers or {}))
        err.status = exc.status_code
        err.slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        err.title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
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
        err = LGSPError("the request is not valid", extra={"errors": errors})
        err.status, err.slug, err.title = 422, "invalid-request", "Invalid request"
        return problem_response(err, request)

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
