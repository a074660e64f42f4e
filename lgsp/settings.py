"""Platform settings, read from the environment (prefix ``LGSP_``) and an optional ``.env`` file.

Outside development the platform refuses to start while a development default secret is in use.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "lgsp-development-only-secret-key-change-me"  # noqa: S105 - refused outside dev
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class InsecureSettingsError(RuntimeError):
    """A development default is in use where the environment is not development."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LGSP_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    # SQLite in the working directory's .var/ is the embedded default, shared by `lgsp serve`
    # and every CLI command run from the same directory.
    database_url: str = "sqlite:///.var/lgsp.db"
    # No broker URL: the embedded transport (the outbox table is the queue).
    broker_url: str | None = None
    # Prefix of every exchange and queue the amqp transport declares (lets platforms or test
    # runs share one broker without a vhost each).
    amqp_prefix: str = "lgsp"
    # amqp: an open delivery whose publish is older than this is published again, so a message
    # lost by the broker (or dead-lettered there) is never stuck; the copies are deduplicated.
    amqp_republish_seconds: float = Field(default=900.0, gt=0)
    config_dir: Path = PROJECT_ROOT / "config"
    # Local state of `lgsp dev`: the demo clients' secrets.
    var_dir: Path = Path(".var")
    schemas_dir: Path = PROJECT_ROOT / "schemas"

    # Encrypts private signing keys at rest and keys other derived secrets.
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)

    host: str = "127.0.0.1"
    port: int = 8080
    # The public base URL: the JWT issuer and the base of every URL in metadata. Unset, it is
    # http://<host>:<port> (127.0.0.1 for a wildcard host), so LGSP_PORT alone moves it too.
    issuer: str = ""
    audience: str = "lgsp"
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=86400)
    # How long a retired signing key stays published in the JWKS (must cover the token lifetime).
    key_retirement_grace_seconds: int = 3600
    signing_alg: Literal["ES256", "RS256", "EdDSA"] = "ES256"

    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # Log sealing: how often the sealer closes a batch and the most entries in one.
    seal_interval_seconds: float = 1.0
    seal_max_entries: int = 10000

    # Delivery defaults, overridable per endpoint in the province configuration.
    retry_window_seconds: int = 86400
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 600.0
    lease_seconds: float = 60.0
    worker_concurrency: int = 16
    relay_poll_seconds: float = 0.05

    # Synchronous calls: after this many consecutive retriable failures of a provider its circuit
    # opens and calls fail fast with 503, until one probe call after the cooldown succeeds.
    breaker_threshold: int = Field(default=5, ge=1)
    breaker_cooldown_seconds: float = Field(default=30.0, gt=0)

    # Run relay, workers and sealer inside `lgsp serve` (the default for the embedded transport).
    inprocess_workers: bool | None = None
    # amqp transport: API processes relay their own outbox rows to the broker at once.
    relay_in_api: bool = True
    # Start the bundled simulators of the sample province with `lgsp dev`.
    simulators: bool = True

    @property
    def transport(self) -> Literal["embedded", "amqp"]:
        return "amqp" if self.broker_url else "embedded"

    @property
    def run_workers_inprocess(self) -> bool:
        if self.inprocess_workers is not None:
            return self.inprocess_workers
        return self.transport == "embedded"

    @model_validator(mode="after")
    def _derive_issuer(self) -> Settings:
        if not self.issuer:
            wildcard = self.host in ("0.0.0.0", "::", "")  # noqa: S104 - not binding here
            host = "127.0.0.1" if wildcard else f"[{self.host}]" if ":" in self.host else self.host
            self.issuer = f"http://{host}:{self.port}"
        return self

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.env != "development" and self.secret_key.get_secret_value() == DEV_SECRET_KEY:
            raise InsecureSettingsError(
                "LGSP_SECRET_KEY still holds the development default; set a random secret "
                "(for example `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        if self.env != "development" and len(self.secret_key.get_secret_value()) < 32:
            raise InsecureSettingsError("LGSP_SECRET_KEY must be at least 32 characters long")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
