"""The accept path: authorize, validate, route, and store durably in one transaction.

Nothing is written unless every check passes; the message, one outbox row (delivery) per
recipient and the log entry are committed together, so an accepted message is never lost and a
refused one leaves no trace but its refusal.

``accept`` runs named steps in order; each takes only what it needs (a directory snapshot, the
schema catalogue, the writer), so a new rule is one more step in that list.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from lgsp.auth.tokens import Principal
from lgsp.deliveries import repository as deliveries_repository
from lgsp.deliveries import service as deliveries
from lgsp.deliveries.models import FINAL_STATES, Delivery, DeliveryState
from lgsp.directory.repository import Directory, MessageTypeInfo
from lgsp.exchange import parties, repository
from lgsp.exchange.models import Message
from lgsp.exchange.schemas import SendRequest
from lgsp.kit import jsonpointer, jsonutil
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


@dataclass(frozen=True)
class Fingerprint:
    """The payload's canonical bytes and the hash that tells a true repeat from a reused key."""

    payload: bytes
    request_sha256: str


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
    mtype = check_may_send(directory, sender, request)
    platform.schemas.check(mtype.schema_id, request.payload)
    recipients = route(directory, sender, request)
    dossier = parties.bind(
        platform, principal, mtype, recipients, request.payload, types=directory.message_types
    )
    fingerprint = fingerprint_of(request)
    if idempotency_key is not None:
        earlier = find_repeat(platform.sessions, sender, idempotency_key, fingerprint)
        if earlier is not None:
            return earlier
    message = new_message(
        principal,
        request,
        fingerprint,
        correlation_key=correlation_key_of(request, mtype),
        idempotency_key=idempotency_key,
        trace_id=trace_id,
    )
    rows = accept_rows(directory, message, recipients)
    rows += dossier.rows(message.id, message.accepted_at)
    try:
        # One transaction with every other accept arriving now (group commit).
        platform.writer.write(rows)
    except IntegrityError:
        # Two requests with one idempotency key raced; the other one won.
        earlier = None
        if idempotency_key is not None:
            earlier = find_repeat(platform.sessions, sender, idempotency_key, fingerprint)
        if earlier is None:
            raise
        return earlier
    platform.outbox_signal.set()
    MESSAGES_ACCEPTED.labels(request.type).inc()
    return AcceptResult(message, recipients, repeated=False)


# --- the steps of accept ----------------------------------------------------------------------


def check_may_send(directory: Directory, sender: str, request: SendRequest) -> MessageTypeInfo:
    """The message type, once it is known, the sender may send it to someone, and a named
    recipient exists. Checked before the payload is validated or routed."""
    mtype = directory.message_type(request.type)
    if mtype is None:
        raise UnknownMessageType(
            f"unknown message type {request.type!r}; see GET /v1/schemas for the types",
            extra={"known_types": sorted(directory.message_types)},
        )
    if not directory.is_granted(sender, "send", request.type, recipient=None):
        raise NotGranted(f"agency {sender} is not granted to send {request.type!r} messages")
    if request.to is not None and request.to not in directory.agencies:
        raise UnknownRecipient(f"no agency with code {request.to!r} in the directory")
    return mtype


def route(directory: Directory, sender: str, request: SendRequest) -> list[str]:
    """Every recipient (``to`` and the routing rules), each of them granted to the sender."""
    recipients = directory.recipients(
        message_type=request.type, sender=sender, to=request.to, payload=request.payload
    )
    if not recipients:
        raise NoRecipient(
            f"no recipient for this {request.type!r} message: name one with 'to', or the "
            "province's routing rules must match it"
        )
    refused = [r for r in recipients if not directory.is_granted(sender, "send", request.type, r)]
    if refused:
        raise NotGranted(
            f"agency {sender} is not granted to send {request.type!r} to {', '.join(refused)}",
            extra={"recipients": refused},
        )
    return recipients


def fingerprint_of(request: SendRequest) -> Fingerprint:
    payload = jsonutil.canonical(request.payload)
    # The envelope fields and the payload's canonical bytes (serialised once, above).
    envelope = jsonutil.canonical([request.type, request.to, request.correlation_id])
    return Fingerprint(payload, jsonutil.sha256_hex(envelope + b"\n" + payload))


def correlation_key_of(request: SendRequest, mtype: MessageTypeInfo) -> str | None:
    """The ordering key: the payload's value at the type's correlation pointer (the dossier
    code) when it is a non-empty string, else the request's correlation id."""
    if mtype.correlation_pointer:
        value = jsonpointer.resolve(request.payload, mtype.correlation_pointer)
        if isinstance(value, str) and value:
            return value
    return request.correlation_id


def find_repeat(
    sessions: sessionmaker[Session], sender: str, key: str, fingerprint: Fingerprint
) -> AcceptResult | None:
    """The first answer to a repeated request, None for a new key; a key reused for a different
    request is a conflict."""
    with sessions() as session:
        earlier = repository.find_by_idempotency_key(session, sender, key)
        if earlier is None:
            return None
        if earlier.request_sha256 != fingerprint.request_sha256:
            raise IdempotencyConflict(
                f"Idempotency-Key {key!r} was used for a different request (message "
                f"{earlier.id}); use a new key for a new message"
            )
        recipients = [d.recipient for d in deliveries_repository.of_message(session, earlier.id)]
        return AcceptResult(earlier, recipients, repeated=True)


def new_message(
    principal: Principal,
    request: SendRequest,
    fingerprint: Fingerprint,
    *,
    correlation_key: str | None,
    idempotency_key: str | None,
    trace_id: str | None,
    now: datetime | None = None,
) -> Message:
    return Message(
        id=uuid7(),
        type=request.type,
        sender=principal.agency,
        client_id=principal.client_id,
        correlation_id=request.correlation_id,
        correlation_key=correlation_key,
        payload=fingerprint.payload.decode(),
        payload_sha256=jsonutil.sha256_hex(fingerprint.payload),
        size=len(fingerprint.payload),
        accepted_at=now or utcnow(),
        idempotency_key=idempotency_key,
        request_sha256=fingerprint.request_sha256,
        trace_id=trace_id,
    )


def accept_rows(directory: Directory, message: Message, recipients: list[str]) -> Rows:
    """What one accept writes: the message, one open delivery per recipient (pull recipients'
    in their inbox) and the log entry."""
    pull = {r for r in recipients if (ep := directory.endpoint(r)) is None or ep.mode == "pull"}
    rows: Rows = [(Message, {c.key: getattr(message, c.key) for c in Message.__table__.columns})]
    rows += deliveries.open_rows(
        message.id,
        recipients,
        pull=pull,
        correlation_key=message.correlation_key,
        now=message.accepted_at,
    )
    entry = entry_values(
        "message.accepted",
        actor=message.client_id,
        agency=message.sender,
        message_id=message.id,
        correlation_key=message.correlation_key,
        detail={
            "type": message.type,
            "recipients": recipients,
            "size": message.size,
            "correlation_id": message.correlation_id,
            "idempotency_key": message.idempotency_key,
            "trace_id": message.trace_id,
        },
        body_sha256=message.payload_sha256,
        at=message.accepted_at,
    )
    rows.append((LogEntry, entry))
    return rows


# --- reading and acknowledging ----------------------------------------------------------------


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
        found = deliveries_repository.of_message(session, message_id) if message else []
    if message is not None:
        parties = {message.sender, *(d.recipient for d in found)}
        if principal.agency in parties or principal.has("audit"):
            return message, found
    raise NotFound(f"no message {message_id} that this client may read")


def inbox(
    platform: Platform, principal: Principal, *, limit: int, after: str | None
) -> tuple[list[tuple[Delivery, Message]], bool]:
    with platform.sessions() as session:
        after_id = None
        if after is not None:
            cursor = deliveries_repository.of_recipient(session, after, principal.agency)
            if cursor is None:
                # Not an empty page: a caller with a wrong cursor would stop reading for good.
                raise NotFound(f"'after' names no message of the inbox of {principal.agency}")
            after_id = cursor.id
        rows = list(
            repository.inbox_page(session, principal.agency, limit=limit + 1, after_id=after_id)
        )
    return rows[:limit], len(rows) > limit


def ack(platform: Platform, principal: Principal, message_id: str) -> Delivery:
    with transaction(platform.sessions) as session:
        now = utcnow()
        acked = deliveries.ack(session, message_id, principal.agency, now=now)
        if acked is None:
            raise NotFound(f"no message {message_id} in the inbox of {principal.agency}")
        delivery, first = acked
        if first:
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
