"""A fresh deliveries table for the delivery owner's tests, and rows written straight into it
with the state, times and columns each case needs (including combinations the platform itself
would not write, such as a final row that still carries a lease)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from lgsp.deliveries.models import Delivery, DeliveryState
from lgsp.exchange.models import Message
from lgsp.kit.db import transaction
from lgsp.kit.timeutil import utcnow

PENDING, RETRYING, INBOX = DeliveryState.PENDING, DeliveryState.RETRYING, DeliveryState.INBOX
DELIVERED, DEAD, ACKED = DeliveryState.DELIVERED, DeliveryState.DEAD, DeliveryState.ACKED


@dataclass
class DeliveryRows:
    """A deliveries table, and the instant (``now``) its rows' times are set against."""

    sessions: sessionmaker[Session]
    now: datetime = field(default_factory=utcnow)

    def at(self, seconds: float) -> datetime:
        return self.now + timedelta(seconds=seconds)

    def add(
        self,
        recipient: str = "R",
        *,
        state: DeliveryState = PENDING,
        key: str | None = None,
        due: datetime | None = None,
        attempts: int = 0,
        lease_owner: str | None = None,
        lease_until: datetime | None = None,
        published_at: datetime | None = None,
        last_error: str | None = None,
        last_status_code: int | None = None,
        finished_at: datetime | None = None,
        message_id: str | None = None,
    ) -> int:
        """One delivery of a message of its own (or of ``message_id``, written if new); its id."""
        message_id = message_id or str(uuid.uuid4())
        with transaction(self.sessions) as session:
            if session.get(Message, message_id) is None:
                session.add(
                    Message(
                        id=message_id,
                        type="dossier",
                        sender="S",
                        client_id="c",
                        correlation_key=key,
                        payload="{}",
                        payload_sha256="0" * 64,
                        size=2,
                        accepted_at=self.now,
                        request_sha256="0" * 64,
                    )
                )
                session.flush()
            row = Delivery(
                message_id=message_id,
                recipient=recipient,
                correlation_key=key,
                state=state.value,
                attempts=attempts,
                created_at=self.now,
                next_attempt_at=self.now if due is None else due,
                lease_owner=lease_owner,
                lease_until=lease_until,
                published_at=published_at,
                last_error=last_error,
                last_status_code=last_status_code,
                finished_at=finished_at,
            )
            session.add(row)
            session.flush()
            return row.id
