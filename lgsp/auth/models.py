from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Connection, ForeignKey, String, Text, event, false, inspect
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from lgsp.kit.db import Base, JSONType, UTCDateTime
from lgsp.kit.timeutil import utcnow


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
    # Tokens issued before this moment are refused (lgsp.auth.tokens): set whenever
    # the client is disabled, its secret changes or its scopes change (see _cut_off_tokens).
    valid_after: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Declared in the province configuration: `config apply` disables it once it is no longer
    # declared. Clients made with `lgsp clients create` or `lgsp dev` are not.
    from_config: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


@event.listens_for(OAuthClient, "before_update")
def _cut_off_tokens(_mapper: Mapper[OAuthClient], _conn: Connection, client: OAuthClient) -> None:
    """Whatever changes a client (the admin use cases, `config apply`, the CLI), a new secret,
    other scopes or disabling it makes the tokens it already holds invalid."""
    attrs = inspect(client).attrs
    scopes = attrs.scopes.history
    old_scopes = {s for value in scopes.deleted for s in value.split()}
    new_scopes = {s for value in scopes.added for s in value.split()}
    disabled = attrs.disabled_at.history
    if (
        attrs.secret_hash.history.has_changes()
        or (scopes.has_changes() and old_scopes != new_scopes)
        or any(value is not None for value in disabled.added)
    ):
        client.valid_after = utcnow()


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
