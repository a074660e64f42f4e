"""Platform settings, read from the environment (prefix ``LGSP_``) and an optional ``.env`` file.

Outside development the platform refuses to start while a development default secret, a demo
secret printed in this repository or a placeholder of docker/env.example is in use.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lgsp.kit.errors import InsecureSettingsError, SettingsError
from lgsp.kit.ratelimit import Rate

DEV_SECRET_KEY = "lgsp-development-only-secret-key-change-me"  # noqa: S105 - refused outside dev
PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Secrets that were printed in this repository: refused wherever the environment is not
# development (settings, the province configuration, the clients a platform starts with). The
# sample province once declared an auditor by the hash of the second one.
DEMO_SECRETS = frozenset({DEV_SECRET_KEY, "demo-audit-secret-change-me"})
DEMO_SECRET_HASHES = frozenset(
    {
        "scrypt$d2400a12588579854946b2ec889ebc3c"
        "$92c0bab34456882879d6af2b261e541b1abe5cfdd808a56c1c90f5d2a7e8abca"
    }
)
# Every value in docker/env.example carries this mark, so a copied example is recognised.
PLACEHOLDER_MARK = "change-me"


def demo_secret_reason(value: str) -> str | None:
    """Why ``value`` may not be a secret outside development, or None."""
    if value in DEMO_SECRETS:
        return "a demo secret printed in the repository"
    if PLACEHOLDER_MARK in value.lower():
        return f"a placeholder (it contains {PLACEHOLDER_MARK!r}): set a real secret"
    return None


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
    # How stale an API process's copy of revoked tokens and clients' valid-after times may be.
    token_state_refresh_seconds: float = Field(default=0.25, ge=0, le=60)

    # Request bodies (docs/limits.md): 1 MB covers the largest sample message many times over;
    # a message type that carries more (scanned attachments) gets its own limit here, as JSON:
    # LGSP_MAX_BODY_BYTES_BY_TYPE='{"land-certificate": 8388608}'.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_body_bytes_by_type: dict[str, int] = Field(default_factory=dict)
    # Rate limits (token buckets, docs/limits.md), shared by API processes through Redis when
    # LGSP_REDIS_URL is set, per process otherwise. Each as JSON, for example
    # LGSP_RATE_LIMIT_CLIENT='{"per_second": 50, "burst": 200}'.
    redis_url: str | None = None
    # Prefix of the buckets' keys in Redis (lets platforms or test runs share one Redis).
    redis_prefix: str = "lgsp"
    rate_limits_enabled: bool = True
    rate_limit_address: Rate = Rate(per_second=100, burst=400)
    rate_limit_client: Rate = Rate(per_second=50, burst=200)
    # The token endpoint hashes the secret (scrypt) on every call: much smaller budgets.
    rate_limit_token_address: Rate = Rate(per_second=2, burst=20)
    rate_limit_token_client: Rate = Rate(per_second=0.2, burst=10)
    # Log sealing: how often the sealer closes a batch and the most entries in one.
    seal_interval_seconds: float = 1.0
    seal_max_entries: int = 10000

    # Delivery defaults, overridable per endpoint in the province configuration.
    retry_window_seconds: int = 86400
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 600.0
    lease_seconds: float = 60.0
    # A delivery whose recipient's adapter cannot be built here waits this long between tries.
    adapter_hold_seconds: float = Field(default=30.0, gt=0)
    # How often each API and worker process reports itself (the adapters it can load).
    heartbeat_seconds: float = Field(default=10.0, gt=0)
    worker_concurrency: int = 16
    relay_poll_seconds: float = 0.05
    # amqp relay: after a commit wakes it, wait this long so a burst is published as one batch.
    relay_gather_seconds: float = Field(default=0.003, ge=0)

    # Synchronous calls: after this many consecutive retriable failures of a provider its circuit
    # opens and calls fail fast with 503, until one probe call after the cooldown succeeds.
    breaker_threshold: int = Field(default=5, ge=1)
    breaker_cooldown_seconds: float = Field(default=30.0, gt=0)

    # Run relay, workers and sealer inside `lgsp serve` (the default for the embedded transport).
    inprocess_workers: bool | None = None
    # amqp transport: API processes relay their own outbox rows to the broker at once.
    relay_in_api: bool = True

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
        if self.env == "development":
            return self
        secret_key = self.secret_key.get_secret_value()
        if secret_key == DEV_SECRET_KEY:
            raise InsecureSettingsError(
                "LGSP_SECRET_KEY still holds the development default; set a random secret "
                "(for example `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        reason = demo_secret_reason(secret_key)
        if reason:
            raise InsecureSettingsError(f"LGSP_SECRET_KEY is {reason}")
        if len(secret_key) < 32:
            raise InsecureSettingsError("LGSP_SECRET_KEY must be at least 32 characters long")
        for name, url in (
            ("LGSP_DATABASE_URL", self.database_url),
            ("LGSP_BROKER_URL", self.broker_url),
            ("LGSP_REDIS_URL", self.redis_url),
        ):
            password = urlsplit(url).password if url else None
            reason = demo_secret_reason(unquote(password)) if password else None
            if reason:
                raise InsecureSettingsError(f"the password in {name} is {reason}")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings from the environment; :class:`SettingsError` names every invalid one."""
    try:
        return Settings()
    except ValidationError as exc:
        wrong = "; ".join(
            f"LGSP_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        )
        raise SettingsError(f"invalid settings: {wrong}") from None


__all__ = ["InsecureSettingsError", "Settings", "SettingsError", "get_settings"]
