"""Settings of the generic REST adapter."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr

from lgsp_adapters.base import AdapterSettings
from lgsp_adapters.mapping import DeclarativeMapping
from lgsp_adapters.rest.http import DEFAULT_MAX_REPLY_BYTES


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoAuth(_Strict):
    type: Literal["none"] = "none"


class BearerAuth(_Strict):
    """A static token sent as ``Authorization: Bearer <token>``."""

    type: Literal["bearer"]
    token: SecretStr


class BasicAuth(_Strict):
    type: Literal["basic"]
    username: str
    password: SecretStr


class HeaderAuth(_Strict):
    """An API key in a header of the provider's choosing (VNPost's ``access_token``, ...)."""

    type: Literal["header"]
    name: str = Field(min_length=1)
    value: SecretStr


class OAuth2ClientCredentials(_Strict):
    """RFC 6749 client credentials; the token is cached until shortly before it expires."""

    type: Literal["oauth2"]
    token_url: AnyHttpUrl
    client_id: str
    client_secret: SecretStr
    scope: str | None = None
    client_auth: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"


Auth = Annotated[
    NoAuth | BearerAuth | BasicAuth | HeaderAuth | OAuth2ClientCredentials,
    Field(discriminator="type"),
]


class RestSettings(AdapterSettings):
    # Base URL of the recipient's API; ``path`` is appended for deliveries.
    url: AnyHttpUrl
    path: str = ""
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    auth: Auth = Field(default_factory=NoAuth)
    headers: dict[str, str] = Field(default_factory=dict)
    # Declarative mapping for deliveries (lgsp_adapters/mapping.py): the JSON body from
    # constants, payload pointers and envelope fields, and a success test on the reply.
    mapping: DeclarativeMapping | None = None
    verify_tls: bool = True
    # Replies larger than this are refused rather than held in memory.
    max_reply_bytes: int = Field(default=DEFAULT_MAX_REPLY_BYTES, ge=1024)
    # Connections kept open per host; threads beyond it open short-lived extra connections.
    pool_size: int = Field(default=16, ge=1, le=256)
