from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lgsp.kit.db import Base, JSONType, UTCDateTime


class OAuthClient(Base):
    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_code: Mapped[str] = mapped_column(
        ForeignKey("agencies.code", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200), default="")
    # "scrypt$<salt hex>$<hash hex>"; the secret itself is shown once and never stored.
    secret_hash: Mapped[str] = mapped_column(String(300))
    scopes: Mapped[str] = mapped_column(Text)  # space-separated
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SigningKey(Base):
    """Asymmetric keys that sign access tokens or log batches (``purpose``). One per purpose is
    active; retired ones stay published until ``unpublish_after`` so their tokens still verify."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    # The private key as PEM, encrypted with LGSP_SECRET_KEY (Fernet).
    private_key: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    unpublish_after: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # "token" (signs access tokens), "seal" (signs log batches) or "legacy" (signed both,
    # before they were separated; signs nothing now). See lgsp/auth/keys.py.
    purpose: Mapped[str] = mapped_column(String(16), default="token", server_default="token")


class RevokedToken(Base):
    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
