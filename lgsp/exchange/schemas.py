"""Wire models of the exchange endpoints (they also document the OpenAPI contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lgsp.exchange.models import DeliveryState


class SendRequest(BaseModel):
    """``POST /v1/messages`` body."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="Message type, e.g. 'dossier'; see GET /v1/schemas")
    to: str | None = Field(
        default=None,
        description="Recipient agency code; omitted: the province's routing rules decide",
    )
    correlation_id: str | None = Field(default=None, max_length=200)
    payload: dict[str, Any]


class Accepted(BaseModel):
    id: str
    status: Literal["accepted"]
    type: str
    recipients: list[str]
    accepted_at: datetime
    correlation_key: str | None = None


class RecipientStatus(BaseModel):
    agency: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    last_status_code: int | None = None
    finished_at: datetime | None = None


class MessageView(BaseModel):
    id: str
    type: str
    sender: str
    correlation_id: str | None
    correlation_key: str | None
    accepted_at: datetime
    payload_sha256: str
    # Over every recipient (lgsp.exchange.service.overall_status).
    status: Literal["accepted", "in_progress", "delivered", "dead", "partially_dead"]
    recipients: list[RecipientStatus]
    payload: dict[str, Any] | None = None


class InboxItem(BaseModel):
    id: str
    type: str
    sender: str
    correlation_id: str | None
    accepted_at: datetime
    payload: dict[str, Any] | None


class InboxPage(BaseModel):
    items: list[InboxItem]
    more: bool
