"""The accept path: authorize, validate, route, and store durably in one transaction.

Nothing is written unless every check passes; the message, one outbox row (delivery) per
recipient and the log entry are committed together, so an accepted message is never lost and a
refused one leaves no trace but its refusal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from lgsp.auth.tokens import Principal
from lgsp.directory.routing import is_granted, resolve_recipients
from lgsp.exchange import parties, repository
from lgsp.exchange.models import FINAL_STATES, Delivery, DeliveryState, Message
from lgsp.exchange.schemas import SendRequest
from lgsp.kit import jsonutil
from lgsp.kit.db import transaction
from lgsp.kit.errors import (
    BadRequest,
    IdempotencyConflict,
    NoRecipient,
    NotFound,
    NotGranted,
    UnknownMessageType,
    UnknownRecipient,
)
from lgsp.kit.groupcommit import Rows
from lgsp.kit.ids import uuid7
from lgsp.kit.timeutil import utcnow
from lgsp.messagelog.models import LogEntry
from lgsp.messagelog.service import append as log_append
from lgsp.messagelog.service import entry_values
from lgsp.observability import MESSAGES_ACCEPTED
from lgsp.platform import Platform

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


@dataclass(frozen=True)
class AcceptResult:
    message: Message
    recipients: list[str]
    repeated: bool


def _pointer_value(payload: Any, pointer: str | None) -> str | None:
    if not pointer:
        return None
    node = payload
    for raw in pointer.lstrip("/").split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node if isinstance(node, str) and node else None


def check_idempotency_key(key: str | None) -> None:
    if key is not None and not _IDEMPOTENCY_KEY.match(key):
        raise BadRequest("Idempotency-Key must be 1 to 200 visible ASCII characters")


def accept(
    platform: Platform,
    principal: Principal,
    request: SendRequest,
    *,
    idempotency_key: str | None = None,
    trace_id: str | None = None,
) -> AcceptResult:
    directory = platform.directory.snapshot()
    sender = principal.agency
    mtype = directory.message_types.get(request.type)
    if mtype is None:
        raise UnknownMessageType(
            f"unknown message type {request.type!r}; see GET /v1/schemas for the types",
            extra={"known_types": sorted(directory.message_types)},
        )
    grants = directory.grants_for(sender)
    if not any(g.action == "send" and g.target in (request.type, "*") for g in grants):
        raise NotGranted(f"agency {sender} is not granted to send {request.type!r} messages")
    if request.to is not None and request.to not in directory.agencies:
        raise UnknownRecipient(f"no agency with code {request.to!r} in the directory")

    platform.schemas.check(mtype.schema_id, request.payload)

    recipients = resolve_recipients(
        directory.routes_for(request.type),
        message_type=request.type,
        sender=sender,
        to=request.to,
        payload=request.payload,
    )
    if not recipients:
        raise NoRecipient(
            f"no recipient for this {request.type!r} message: name one with 'to', or the "
            "province's routing rules must match it"
        )
    refused = [
        r
        for r in recipients
        if not is_granted(grants, agency=sender, action="send", target=request.type, recipient=r)
    ]
    if refused:
        raise NotGranted(
            f"agency {sender} is not granted to send {request.type!r} to {', '.join(refused)}",
            extra={"recipients": refused},
        )
    dossier = parties.bind(
        platform, principal, mtype, recipients, request.payload, types=directory.message_types
    )

    payload_bytes = jsonutil.canonical(request.payload)
    # The envelope fields and the payload's canonical bytes (serialised once, above).
    envelope = jsonutil.canonical([request.type, request.to, request.correlation_id])
    request_hash = jsonutil.sha256_hex(envelope + b"\n" + payload_bytes)
    if idempotency_key is not None:
        earlier = _repeat(platform, sender, idempotency_key, request_hash)
        if earlier is not None:
            return earlier

    correlation_key = _pointer_value(request.payload, mtype.correlation_pointer) or (
        request.correlation_id
    )
    now = utcnow()
    message = Message(
        id=uuid7(),
        type=request.type,
        sender=sender,
        client_id=principal.client_id,
        correlation_id=request.correlation_id,
        correlation_key=correlation_key,
        payload=payload_bytes.decode(),
        payload_sha256=jsonutil.sha256_hex(payload_bytes),
        size=len(payload_bytes),
        accepted_at=now,
        idempotency_key=idempotency_key,
        request_sha256=request_hash,
        trace_id=trace_id,
    )
    rows: Rows = [(Message, _columns(message)), *dossier.rows(message.id, now)]
    for recipient in recipients:
        endpoint = directory.endpoint(recipient)
        pull = endpoint is None or endpoint.mode == "pull"
        state = DeliveryState.INBOX if pull else DeliveryState.PENDING
        rows.append(
            (
                Delivery,
                {
                    "message_id": message.id,
                    "recipient": recipient,
                    "correlation_key": correlation_key,
                    "state": state.value,
                    "attempts": 0,
                    "created_at": now,
                    "next_attempt_at": now,
                },
            )
        )
    rows.append(
        (
            LogEntry,
            entry_values(
                "message.accepted",
                actor=principal.client_id,
                agency=sender,
                message_id=message.id,
                correlation_key=correlation_key,
                detail={
                    "type": request.type,
                    "recipients": recipients,
                    "size": message.size,
                    "correlation_id": request.correlation_id,
                    "idempotency_key": idempotency_key,
                    "trace_id": trace_id,
                },
                body_sha256=message.payload_sha256,
                at=now,
            ),
        )
    )
    try:
        # One transaction with every other accept arriving now (group commit).
        platform.writer.write(rows)
    except IntegrityError:
        # Two requests with one idempotency key raced; the other one won.
        if idempotency_key is None:
            raise
        earlier = _repeat(platform, sender, idempotency_key, request_hash)
        if earlier is None:
            raise
        return earlier
    platform.outbox_signal.set()
    MESSAGES_ACCEPTED.labels(request.type).inc()
    return AcceptResult(message, recipients, repeated=False)


def _columns(message: Message) -> dict[str, Any]:
    return {c.key: getattr(message, c.key) for c in Message.__table__.columns}


def _repeat(platform: Platform, sender: str, key: str, request_hash: str) -> AcceptResult | None:
    with platform.sessions() as session:
        earlier = repository.find_by_idempotency_key(session, sender, key)
        if earlier is None:
            return None
        if earlier.request_sha256 != request_hash:
            raise IdempotencyConflict(
                f"Idempotency-Key {key!r} was used for a different request (message "
                f"{earlier.id}); use a new key for a new message"
            )
        recipients = [d.recipient for d in repository.deliveries_of(session, earlier.id)]
        return AcceptResult(earlier, recipients, repeated=True)


def overall_status(deliveries: Sequence[Delivery]) -> str:
    states = {d.state for d in deliveries}
    if not states:
        return "accepted"
    if not states.issubset(set(FINAL_STATES)):
        return "in_progress"
    if DeliveryState.DEAD in states:
        return "dead" if states == {DeliveryState.DEAD} else "partially_dead"
    return "delivered"


def readable_message(
    platform: Platform, principal: Principal, message_id: str
) -> tuple[Message, Sequence[Delivery]]:
    """The message and its deliveries, if the caller is its sender, a recipient or an auditor.
    Anyone else gets 404, so message ids of other agencies cannot be probed."""
    with platform.sessions() as session:
        message = repository.get_message(session, message_id)
        deliveries = repository.deliveries_of(session, message_id) if message else []
    if message is not None:
        parties = {message.sender, *(d.recipient for d in deliveries)}
        if principal.agency in parties or principal.has("audit"):
            return message, deliveries
    raise NotFound(f"no message {message_id} that this client may read")


def inbox(
    platform: Platform, principal: Principal, *, limit: int, after: str | None
) -> tuple[list[tuple[Delivery, Message]], bool]:
    with platform.sessions() as session:
        after_id = None
        if after is not None:
            cursor = repository.delivery_for(session, after, principal.agency)
            if cursor is None:
                # Not an empty page: a caller with a wrong cursor would stop reading for good.
                raise BadRequest(f"'after' names no message of this inbox: {after!r}")
            after_id = cursor.id
        rows = list(
            repository.inbox_page(session, principal.agency, limit=limit + 1, after_id=after_id)
        )
    return rows[:limit], len(rows) > limit


def ack(platform: Platform, principal: Principal, message_id: str) -> Delivery:
    with transaction(platform.sessions) as session:
        delivery = repository.delivery_for(session, message_id, principal.agency)
        if delivery is None or delivery.state not in (DeliveryState.INBOX, DeliveryState.ACKED):
            raise NotFound(f"no message {message_id} in the inbox of {principal.agency}")
        if delivery.state == DeliveryState.INBOX:
            now = utcnow()
            delivery.state = DeliveryState.ACKED
            delivery.finished_at = now
            log_append(
                session,
                "inbox.acked",
                actor=principal.client_id,
                agency=principal.agency,
                message_id=message_id,
                correlation_key=delivery.correlation_key,
                detail={"recipient": principal.agency},
                at=now,
            )
        return delivery
