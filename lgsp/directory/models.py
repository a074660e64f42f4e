"""The province's directory: agencies, their endpoints, message types, routes, grants, services.

Rows here are written only by `lgsp config apply` (and the admin API); the request path reads them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lgsp.kit.db import Base, JSONType


class Agency(Base):
    __tablename__ = "agencies"

    # Electronic identifier code (mã định danh điện tử), e.g. 000.00.12.H02.
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_vi: Mapped[str] = mapped_column(String(300))
    name_en: Mapped[str] = mapped_column(String(300))
    # department, people_committee, commune, operations_centre, national_system, ...
    kind: Mapped[str] = mapped_column(String(40))
    parent_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Endpoint(Base):
    """How the platform reaches an agency: an adapter it pushes to, or an inbox it pulls from."""

    __tablename__ = "endpoints"

    agency_code: Mapped[str] = mapped_column(
        ForeignKey("agencies.code", ondelete="CASCADE"), primary_key=True
    )
    mode: Mapped[str] = mapped_column(String(8))  # "push" or "pull"
    adapter: Mapped[str | None] = mapped_column(String(100), nullable=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    timeout_seconds: Mapped[float] = mapped_column(Float, default=10.0)
    retry_window_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    concurrency: Mapped[int] = mapped_column(Integer, default=4)


class MessageType(Base):
    __tablename__ = "message_types"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    # Schema id in the catalogue, e.g. "dvcqg.dossier/1".
    schema_id: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # JSON pointer into the payload giving the ordering key (the dossier code), if any.
    correlation_pointer: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # "opens" or "acts" for dossier-related types (lgsp/exchange/parties.py), else None.
    dossier_role: Mapped[str | None] = mapped_column(String(16), nullable=True)


class Route(Base):
    """Who receives a message type. ``sender`` None means any sender; ``condition`` matches
    the payload (see lgsp.directory.routing) and None means always."""

    __tablename__ = "routes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    message_type: Mapped[str] = mapped_column(
        ForeignKey("message_types.name", ondelete="CASCADE"), index=True
    )
    sender: Mapped[str | None] = mapped_column(String(64), nullable=True)
    recipient: Mapped[str] = mapped_column(ForeignKey("agencies.code", ondelete="CASCADE"))
    condition: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    # A copy route applies even when the sender names a recipient ("to"); a default route only
    # when it does not. Copies carry, for instance, every dossier to the national portal.
    copy: Mapped[bool] = mapped_column(Boolean, default=False)


class Grant(Base):
    """Deny by default: an agency may send ``target`` (a message type) to ``recipient``, or call
    ``target`` (``provider/service``) only where a grant says so. ``*`` matches any."""

    __tablename__ = "grants"
    __table_args__ = (UniqueConstraint("agency_code", "action", "target", "recipient"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agency_code: Mapped[str] = mapped_column(
        ForeignKey("agencies.code", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(8))  # "send" or "call"
    target: Mapped[str] = mapped_column(String(200))
    recipient: Mapped[str] = mapped_column(String(64), default="*")


class Service(Base):
    """A provider's synchronous service, callable at /v1/services/{provider}/{name}."""

    __tablename__ = "services"

    provider: Mapped[str] = mapped_column(
        ForeignKey("agencies.code", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # Adapter-specific description of the call (operation name, HTTP path and method...).
    operation: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    request_schema: Mapped[str | None] = mapped_column(String(200), nullable=True)
    response_schema: Mapped[str | None] = mapped_column(String(200), nullable=True)
    timeout_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
