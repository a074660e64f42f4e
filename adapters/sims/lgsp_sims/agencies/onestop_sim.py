"""The one-stop office's dossier system (một cửa điện tử) of the sample province, as a REST
service the platform pushes messages to.

    POST /lgsp/messages      (also POST /) JSON body; headers X-LGSP-Message-Id,
                             X-LGSP-Message-Type, X-LGSP-Sender (required),
                             X-LGSP-Correlation-Id, Idempotency-Key
                             -> 200 {"status": "received" | "duplicate", "message_id", "receipt"}
                             400 missing header / body not a JSON object, 401 bad token (when
                             the app was made with one), 415 not JSON, 503/500/422 when told to
    GET  /_sim/messages      what arrived, first-received order, each with ``receive_count``
    GET  /_sim/messages/{id}
    GET|POST /_sim/control   {"fail_next": n, "fail_kind": "http503"|"http500"|"reject",
                              "fail_for": seconds, "reset": true, "clear": true}

A message id is stored once; a repeat is answered "duplicate" (200, so the sender stops) and only
counted.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lgsp_sims.agencies.faults import FaultSwitch

REQUIRED_HEADERS = ("X-LGSP-Message-Id", "X-LGSP-Message-Type", "X-LGSP-Sender")


@dataclass(slots=True)
class ReceivedMessage:
    message_id: str
    type: str
    sender: str
    correlation_id: str | None
    idempotency_key: str | None
    body: Any
    receipt: str
    receive_count: int
    first_received_at: str
    last_received_at: str


class OneStopState:
    """Received messages and fault switches. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: dict[str, ReceivedMessage] = {}
        self.faults = FaultSwitch("http503", ("http503", "http500", "reject"))

    def receive(
        self,
        message_id: str,
        message_type: str,
        sender: str,
        correlation_id: str | None,
        idempotency_key: str | None,
        body: Any,
    ) -> tuple[ReceivedMessage, bool]:
        """Store a message; returns it and whether it was new."""
        now = datetime.now(UTC).isoformat()
        with self._lock:
            seen = self._messages.get(message_id)
            if seen is not None:
                seen.receive_count += 1
                seen.last_received_at = now
                return seen, False
            receipt = f"MC-H56-{len(self._messages) + 1:06d}"
            record = ReceivedMessage(
                message_id, message_type, sender, correlation_id, idempotency_key, body,
                receipt, 1, now, now,
            )  # fmt: skip
            self._messages[message_id] = record
            return record, True

    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(m) for m in self._messages.values()]

    def message(self, message_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._messages.get(message_id)
            return asdict(found) if found else None

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()


def create_app(state: OneStopState | None = None, *, token: str | None = None) -> Starlette:
    """The one-stop system as an ASGI app (``app.state.onestop``). With ``token``, pushes must
    carry ``Authorization: Bearer <token>``."""
    onestop = state or OneStopState()

    async def receive(request: Request) -> Response:
        fault = onestop.faults.take()
        if fault == "reject":
            return _problem(422, "Hồ sơ không hợp lệ theo quy định của hệ thống một cửa")
        if fault is not None:
            return _problem(503 if fault == "http503" else 500, "Hệ thống đang bảo trì")
        if token is not None and not secrets.compare_digest(
            request.headers.get("authorization", "").encode(), f"Bearer {token}".encode()
        ):
            return _problem(401, "missing or wrong bearer token")
        missing = [h for h in REQUIRED_HEADERS if not request.headers.get(h)]
        if missing:
            return _problem(400, f"missing headers: {', '.join(missing)}")
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return _problem(415, "the body must be application/json")
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return _problem(400, "the body is not JSON")
        if not isinstance(body, dict):
            return _problem(400, "the body must be a JSON object")
        record, new = onestop.receive(
            request.headers["X-LGSP-Message-Id"],
            request.headers["X-LGSP-Message-Type"],
            request.headers["X-LGSP-Sender"],
            request.headers.get("X-LGSP-Correlation-Id"),
            request.headers.get("Idempotency-Key"),
            body,
        )
        return JSONResponse(
            {
                "status": "received" if new else "duplicate",
                "message_id": record.message_id,
                "receipt": record.receipt,
            }
        )

    async def list_messages(_: Request) -> Response:
        return JSONResponse(onestop.messages())

    async def get_message(request: Request) -> Response:
        found = onestop.message(request.path_params["message_id"])
        return JSONResponse(found) if found else _problem(404, "no such message")

    async def control(request: Request) -> Response:
        if request.method == "POST":
            try:
                body = await request.json()
                onestop.faults.apply(body, frozenset({"clear"}))
            except (ValueError, TypeError) as exc:
                return _problem(400, str(exc))
            if body.get("clear"):
                onestop.clear()
        return JSONResponse(onestop.faults.describe())

    app = Starlette(
        routes=[
            Route("/lgsp/messages", receive, methods=["POST"]),
            # The sample config's endpoint URL has no path: take pushes at the root too.
            Route("/", receive, methods=["POST"]),
            Route("/_sim/messages", list_messages, methods=["GET"]),
            Route("/_sim/messages/{message_id}", get_message, methods=["GET"]),
            Route("/_sim/control", control, methods=["GET", "POST"]),
        ]
    )
    app.state.onestop = onestop
    return app


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"status": status, "detail": detail}, status_code=status)
