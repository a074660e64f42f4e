"""Settings of the generic SOAP adapter."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from lgsp_adapters.base import AdapterSettings
from lgsp_adapters.mapping import DeclarativeMapping
from lgsp_adapters.rest.http import DEFAULT_MAX_REPLY_BYTES

# Envelope attributes a SOAP parameter can be filled from.
EnvelopeField = Literal[
    "message_id",
    "type",
    "sender",
    "recipient",
    "correlation_id",
    "correlation_key",
    "accepted_at",
    "attempt",
]


class WsSecurity(BaseModel):
    """WS-Security 1.0 UsernameToken in the SOAP header."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    username: str
    password: SecretStr
    # PasswordDigest (SHA-1 of nonce, created and password) instead of PasswordText.
    digest: bool = False


class SoapSettings(AdapterSettings):
    # The provider's WSDL: an http(s) URL or a local file path.
    wsdl: str
    service: str | None = None  # wsdl:service name; the first one when unset
    port: str | None = None  # wsdl:port name; the first one when unset
    # Overrides the port's soap:address (a WSDL shipped on disk, or one with a wrong address).
    endpoint: AnyHttpUrl | None = None
    # The operation deliver() calls.
    operation: str | None = None
    # The whole payload becomes this one parameter; unset: the payload's top-level keys are the
    # operation's parameters, by name.
    payload_param: str | None = None
    # Parameters filled from the envelope, e.g. {"MessageId": "message_id", "Sender": "sender"}.
    envelope_params: dict[str, EnvelopeField] = Field(default_factory=dict)
    # Declarative mapping for deliveries (lgsp_adapters/mapping.py): the operation's parameters
    # from constants, payload pointers and envelope fields, and a success test on the reply.
    # Replaces payload_param and envelope_params.
    mapping: DeclarativeMapping | None = None
    ws_security: WsSecurity | None = None
    # Seconds; overrides the endpoint's timeout for this provider.
    timeout: float | None = Field(default=None, gt=0)
    verify_tls: bool = True
    # Replies (and the WSDL) larger than this are refused rather than held in memory.
    max_reply_bytes: int = Field(default=DEFAULT_MAX_REPLY_BYTES, ge=1024)
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("wsdl")
    @classmethod
    def _wsdl_location(cls, value: str) -> str:
        scheme = urlparse(value).scheme
        if scheme in ("http", "https"):
            AnyHttpUrl(value)  # raises on a malformed URL
            return value
        path = Path(value[len("file://") :] if scheme == "file" else value).expanduser()
        if not path.is_file():
            raise ValueError(f"WSDL file {path} does not exist")
        return str(path.resolve())

    @model_validator(mode="after")
    def _mapping_alone(self) -> SoapSettings:
        if self.mapping is not None and (self.payload_param or self.envelope_params):
            raise ValueError("mapping replaces payload_param and envelope_params: use one")
        return self

    @property
    def wsdl_is_remote(self) -> bool:
        return urlparse(self.wsdl).scheme in ("http", "https")
