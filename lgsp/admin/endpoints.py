"""Admin endpoints: dead letters and their replay."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from lgsp.admin import service
from lgsp.auth.deps import Admin
from lgsp.kit import openapi
from lgsp.kit.body import read_model
from lgsp.kit.errors import BadRequest, NotFound
from lgsp.kit.ids import MAX_ROW_ID
from lgsp.messagelog import reading

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delivery_ids: list[Annotated[int, Field(ge=1, le=MAX_ROW_ID)]] = []
    message_ids: list[str] = []
    recipient: str | None = None
    all: bool = Field(default=False, strict=True)  # "all": 0 is a mistake, not False


@router.get("/dead-letters", summary="Dead-lettered deliveries", responses=openapi.DEAD_LETTERS)
async def dead_letters(
    request: Request,
    principal: Admin,
    recipient: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[
        int, Query(ge=0, le=MAX_ROW_ID, description="last delivery id of the previous page")
    ] = 0,
) -> dict[str, Any]:
    items = await run_in_threadpool(
        service.list_dead,
        request.app.state.platform.sessions,
        recipient=recipient,
        limit=limit,
        after_id=after,
    )
    # The reason may quote what the recipient answered: personal data stays masked here.
    return {"items": [reading.shown(asdict(i), None) for i in items]}


@router.get(
    "/dead-letters/{delivery_id:int}",
    summary="One dead letter with its message",
    responses={**openapi.DEAD_LETTER, **openapi.problems(400)},  # 400: unmask without a reason
)
async def dead_letter(
    request: Request,
    delivery_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)],
    principal: Admin,
    unmask: Annotated[bool, Query(description="show personal data (needs a reason; logged)")] = (
        False
    ),
    reason: Annotated[str | None, Query(description="why you unmask")] = None,
) -> dict[str, Any]:
    """The dead letter and its message's payload, personal data masked unless ``unmask=true``
    with a ``reason``, which is logged before the answer."""
    why = reading.check_reason(unmask, reason)
    platform = request.app.state.platform

    def run() -> dict[str, Any]:
        found = service.get_dead(platform.sessions, delivery_id)
        if found is None:
            raise NotFound(f"no dead letter {delivery_id}")
        view, payload = found
        unmasked = None
        if why is not None:
            reader = reading.Reader(principal.client_id, "api", agency=principal.agency)
            unmasked = reading.unmask(
                platform.sessions,
                reader,
                why,
                what="dead-letter",
                message_id=view.message_id,
                delivery_id=delivery_id,
            )
        shown: dict[str, Any] = reading.shown({**asdict(view), "payload": payload}, unmasked)
        return shown

    return await run_in_threadpool(run)


@router.post(
    "/dead-letters/replay",
    summary="Replay dead letters",
    responses=openapi.REPLAY,
    openapi_extra=openapi.json_body(ReplayRequest, any_of=openapi.REPLAY_SELECTORS),
)
async def replay(request: Request, principal: Admin) -> dict[str, Any]:
    """Reopen dead deliveries by ``delivery_ids``, ``message_ids``, ``recipient`` or ``all``.
    They are delivered again from the start of a new retry window."""
    body = await read_model(request, ReplayRequest)
    if not (body.delivery_ids or body.message_ids or body.recipient or body.all):
        raise BadRequest("say what to replay: delivery_ids, message_ids, recipient or all")
    platform = request.app.state.platform

    ids = await run_in_threadpool(
        service.replay,
        platform.sessions,
        actor=principal.client_id,
        delivery_ids=body.delivery_ids,
        message_ids=body.message_ids,
        recipient=body.recipient,
        everything=body.all,
    )
    platform.outbox_signal.set()
    return {"replayed": ids}
