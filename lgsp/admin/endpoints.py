"""Admin endpoints: dead letters and their replay."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from lgsp.admin import service
from lgsp.auth.deps import Admin
from lgsp.kit import jsonutil, openapi
from lgsp.kit.body import read_model
from lgsp.kit.db import transaction
from lgsp.kit.errors import BadRequest, NotFound

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delivery_ids: list[int] = []
    message_ids: list[str] = []
    recipient: str | None = None
    all: bool = False


@router.get("/dead-letters", summary="Dead-lettered deliveries", responses=openapi.DEAD_LETTERS)
async def dead_letters(
    request: Request,
    principal: Admin,
    recipient: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[int, Query(ge=0, description="last delivery id of the previous page")] = 0,
) -> dict[str, Any]:
    def run() -> list[service.DeadLetter]:
        with request.app.state.platform.sessions() as session:
            return service.list_dead(session, recipient=recipient, limit=limit, after_id=after)

    items = await run_in_threadpool(run)
    return {"items": [asdict(i) for i in items]}


@router.get(
    "/dead-letters/{delivery_id}",
    summary="One dead letter with its message",
    responses=openapi.DEAD_LETTER,
)
async def dead_letter(request: Request, delivery_id: int, principal: Admin) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        with request.app.state.platform.sessions() as session:
            found = service.get_dead(session, delivery_id)
            if found is None:
                raise NotFound(f"no dead letter {delivery_id}")
            view, message = found
            payload = jsonutil.loads(message.payload) if message.payload else None
            return {**asdict(view), "payload": payload}

    return await run_in_threadpool(run)


@router.post(
    "/dead-letters/replay",
    summary="Replay dead letters",
    responses=openapi.REPLAY,
    openapi_extra=openapi.json_body(ReplayRequest),
)
async def replay(request: Request, principal: Admin) -> dict[str, Any]:
    """Reopen dead deliveries by ``delivery_ids``, ``message_ids``, ``recipient`` or ``all``.
    They are delivered again from the start of a new retry window."""
    body = await read_model(request, ReplayRequest)
    if not (body.delivery_ids or body.message_ids or body.recipient or body.all):
        raise BadRequest("say what to replay: delivery_ids, message_ids, recipient or all")
    platform = request.app.state.platform

    def run() -> list[int]:
        with transaction(platform.sessions) as session:
            return service.replay(
                session,
                actor=principal.client_id,
                delivery_ids=body.delivery_ids,
                message_ids=body.message_ids,
                recipient=body.recipient,
                everything=body.all,
            )

    ids = await run_in_threadpool(run)
    platform.outbox_signal.set()
    return {"replayed": ids}
