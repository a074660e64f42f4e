"""Agency-facing exchange endpoints: send, read status, pull from the inbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from lgsp.auth.deps import InboxRead, MessagesRead, MessagesSend
from lgsp.exchange import service
from lgsp.exchange.schemas import (
    Accepted,
    InboxItem,
    InboxPage,
    MessageView,
    RecipientStatus,
    SendRequest,
)
from lgsp.kit import jsonutil, openapi
from lgsp.kit.body import read_model

router = APIRouter(prefix="/v1", tags=["messages"])


@router.post(
    "/messages",
    status_code=202,
    response_model=Accepted,
    summary="Send a message",
    responses=openapi.SEND,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": SendRequest.model_json_schema()}},
        }
    },
)
async def send_message(
    request: Request,
    principal: MessagesSend,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    """Accept a message for relay. Answers ``202`` once the message and one outbox row per
    recipient are durably stored; delivery follows, at least once. The payload is validated
    against the type's schema (every error is reported with its JSON pointer). With an
    ``Idempotency-Key``, a repeat of the same request answers the first answer again and stores
    nothing; the same key with a different request is a ``409``."""
    service.check_idempotency_key(idempotency_key)
    body = await read_model(request, SendRequest)
    platform = request.app.state.platform
    result = await run_in_threadpool(
        service.accept,
        platform,
        principal,
        body,
        idempotency_key=idempotency_key,
        trace_id=getattr(request.state, "trace_id", None),
    )
    m = result.message
    accepted = Accepted(
        id=m.id,
        status="accepted",
        type=m.type,
        recipients=result.recipients,
        accepted_at=m.accepted_at,
        correlation_key=m.correlation_key,
    )
    headers = {"Location": f"/v1/messages/{m.id}"}
    if result.repeated:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(accepted.model_dump(mode="json"), status_code=202, headers=headers)


@router.get(
    "/messages/{message_id}",
    response_model=MessageView,
    summary="A message's status",
    responses=openapi.READ,
)
async def get_message(request: Request, message_id: str, principal: MessagesRead) -> MessageView:
    """The message and each recipient's delivery state (pending, retrying with the next attempt
    time, delivered, dead with the reason, inbox, acked). Only its sender, its recipients and
    auditors may read it."""
    message, deliveries = await run_in_threadpool(
        service.readable_message, request.app.state.platform, principal, message_id
    )
    return MessageView(
        id=message.id,
        type=message.type,
        sender=message.sender,
        correlation_id=message.correlation_id,
        correlation_key=message.correlation_key,
        accepted_at=message.accepted_at,
        payload_sha256=message.payload_sha256,
        status=service.overall_status(deliveries),
        recipients=[
            RecipientStatus(
                agency=d.recipient,
                state=d.state,
                attempts=d.attempts,
                next_attempt_at=d.next_attempt_at if d.state == "retrying" else None,
                last_error=d.last_error,
                last_status_code=d.last_status_code,
                finished_at=d.finished_at,
            )
            for d in deliveries
        ],
        payload=jsonutil.loads(message.payload) if message.payload else None,
    )


@router.get(
    "/inbox",
    response_model=InboxPage,
    summary="Pull messages waiting for this agency",
    responses=openapi.INBOX,
)
async def get_inbox(
    request: Request,
    principal: InboxRead,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    after: Annotated[str | None, Query(description="last message id of the previous page")] = None,
) -> InboxPage:
    """Messages addressed to the caller's agency that it has not acknowledged yet, oldest
    first. A message stays here until ``POST /v1/inbox/{id}/ack``."""
    rows, more = await run_in_threadpool(
        service.inbox, request.app.state.platform, principal, limit=limit, after=after
    )
    return InboxPage(
        items=[
            InboxItem(
                id=m.id,
                type=m.type,
                sender=m.sender,
                correlation_id=m.correlation_id,
                accepted_at=m.accepted_at,
                payload=jsonutil.loads(m.payload) if m.payload else None,
            )
            for _, m in rows
        ],
        more=more,
    )


@router.post(
    "/inbox/{message_id}/ack", summary="Acknowledge a pulled message", responses=openapi.ACK
)
async def ack_inbox(request: Request, message_id: str, principal: InboxRead) -> dict[str, str]:
    """Marks the message as received by the caller's agency; acknowledging twice is harmless."""
    delivery = await run_in_threadpool(
        service.ack, request.app.state.platform, principal, message_id
    )
    return {"id": message_id, "state": delivery.state}
