"""What a reader of a message sees (``GET /v1/messages/{id}``).

- Its sender sees the payload it sent and every recipient's delivery state, with the error each
  delivery last met (the sender's own message, failing somewhere it sent it).
- A recipient sees the payload it was sent and every recipient's state, but only its own
  delivery's ``last_error``: another recipient's error is that recipient's business (it may
  quote that agency's system).
- An auditor who is neither sees the payload and the errors masked
  (lgsp/messagelog/masking.py), unless it unmasks with a reason, which is logged first
  (lgsp/messagelog/reading.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lgsp.auth.tokens import Principal
from lgsp.deliveries.models import Delivery
from lgsp.exchange.models import Message
from lgsp.exchange.schemas import MessageView, RecipientStatus
from lgsp.exchange.service import overall_status
from lgsp.kit import jsonutil
from lgsp.messagelog import reading
from lgsp.platform import Platform


def message_view(
    platform: Platform,
    principal: Principal,
    message: Message,
    deliveries: Sequence[Delivery],
    *,
    reason: str | None = None,
) -> MessageView:
    """The view of a message the caller may read (see ``readable_message``); ``reason`` is the
    checked reason of an auditor's unmasked read."""
    recipients = {d.recipient for d in deliveries}
    sender = principal.agency == message.sender
    party = sender or principal.agency in recipients
    unmasked: reading.Unmasked | None = None
    if not party and reason is not None:
        unmasked = reading.unmask(
            platform.sessions,
            reading.Reader(principal.client_id, "api", agency=principal.agency),
            reason,
            what="message",
            message_id=message.id,
        )

    def show(value: Any) -> Any:
        # The parties exchanged this data themselves; anyone else reads it masked by default.
        return value if party else reading.shown(value, unmasked)

    def error_of(d: Delivery) -> str | None:
        if party and not sender and d.recipient != principal.agency:
            return None
        error: str | None = show(d.last_error)
        return error

    payload = jsonutil.loads(message.payload) if message.payload else None
    return MessageView(
        id=message.id,
        type=message.type,
        sender=message.sender,
        correlation_id=message.correlation_id,
        correlation_key=message.correlation_key,
        accepted_at=message.accepted_at,
        payload_sha256=message.payload_sha256,
        status=overall_status(deliveries),
        recipients=[
            RecipientStatus(
                agency=d.recipient,
                state=d.state,
                attempts=d.attempts,
                next_attempt_at=d.next_attempt_at if d.state == "retrying" else None,
                last_error=error_of(d),
                last_status_code=d.last_status_code,
                finished_at=d.finished_at,
            )
            for d in deliveries
        ],
        payload=show(payload),
    )
