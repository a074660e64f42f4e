"""The running platform's parts, built once per process from the settings.

The API's lifespan, ``lgsp worker`` and the CLI all build a Platform; nothing is created at
import time.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

import lgsp.kit.envref as envref
from lgsp.adapterpool import AdapterPool
from lgsp.auth.keys import KeyStore
from lgsp.auth.models import OAuthClient
from lgsp.auth.server import LGSPAuthorizationServer
from lgsp.auth.tokens import RevocationList, TokenVerifier
from lgsp.directory.config_guard import endpoint_secret_problems, secret_hash_reason
from lgsp.directory.models import Endpoint
from lgsp.directory.repository import DirectoryCache
from lgsp.kit.db import make_engine, make_sessionmaker
from lgsp.kit.groupcommit import GroupCommitter
from lgsp.kit.ratelimit import Limiter
from lgsp.settings import InsecureSettingsError, Settings
from lgsp.validation.catalogue import SchemaCatalogue

log = logging.getLogger("lgsp")


@dataclass
class Platform:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    keys: KeyStore
    verifier: TokenVerifier
    oauth: LGSPAuthorizationServer
    schemas: SchemaCatalogue
    directory: DirectoryCache
    adapters: AdapterPool
    # Writes the accept path's and the call log's rows with group commit.
    writer: GroupCommitter
    # Rate limits (lgsp.kit.ratelimit): Redis-backed when LGSP_REDIS_URL is set.
    limiter: Limiter = field(default_factory=lambda: Limiter.from_settings(None, enabled=False))
    # Background services (relay, workers, sealer) started by start_background().
    background: list[Any] = field(default_factory=list)
    # Set after a commit that added outbox rows, so the relay need not wait for its next poll.
    outbox_signal: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def build(cls, settings: Settings, *, engine: Engine | None = None) -> Platform:
        engine = engine or make_engine(settings.database_url)
        sessions = make_sessionmaker(engine)
        keys = KeyStore(sessions, settings)
        revocations = RevocationList(sessions, refresh_seconds=settings.token_state_refresh_seconds)
        verifier = TokenVerifier(settings, keys, revocations)
        oauth = LGSPAuthorizationServer(sessions, settings, keys, verifier)
        schemas = SchemaCatalogue(settings.schemas_dir)
        directory = DirectoryCache(sessions)
        adapters = AdapterPool(directory)
        writer = GroupCommitter(sessions)
        limiter = Limiter.from_settings(
            settings.redis_url, enabled=settings.rate_limits_enabled, prefix=settings.redis_prefix
        )
        return cls(
            settings,
            engine,
            sessions,
            keys,
            verifier,
            oauth,
            schemas,
            directory,
            adapters,
            writer,
            limiter,
        )

    @functools.cached_property
    def seal_keys(self) -> KeyStore:
        """The keys that sign log batches (``keys`` signs access tokens)."""
        return KeyStore(self.sessions, self.settings, purpose="seal")

    def start(self) -> None:
        """Prepare for serving: the first signing keys, a warm directory."""
        # Outside development, demo clients or defaulted secrets in the database stop start-up.
        refuse_demo_credentials(self.settings, self.sessions)
        self.keys.ensure_active_key()
        self.seal_keys.ensure_active_key()
        self.directory.snapshot()
        # A broken adapter configuration stops start-up here, with the adapter's own error.
        self.adapters.validate_all()

    def stop_background(self) -> None:
        for service in reversed(self.background):
            service.stop()
        self.background.clear()

    def close(self) -> None:
        self.stop_background()
        self.writer.stop()
        self.adapters.close()
        self.limiter.close()
        self.engine.dispose()


def refuse_demo_credentials(settings: Settings, sessions: sessionmaker[Session]) -> None:
    """Outside development, :class:`InsecureSettingsError` when the database has clients that
    log in with a demo secret or endpoints whose stored settings give a secret a default."""
    if settings.env == "development":
        return
    with sessions() as session:
        reasons = demo_credentials(session)
    if reasons:
        raise InsecureSettingsError("refusing to start: " + "; ".join(reasons))


def demo_credentials(session: Session) -> list[str]:
    """What :func:`refuse_demo_credentials` refuses, one line each. Clients are matched against
    the printed hashes only: every API process checks at start, and ``config apply`` has already
    refused a demo secret hashed anew."""
    reasons = []
    for client in session.scalars(select(OAuthClient).where(OAuthClient.disabled_at.is_(None))):
        why = secret_hash_reason(client.secret_hash, rehashed=False)
        if why:
            reasons.append(f"client {client.client_id} logs in with {why}; disable or rotate it")
    for endpoint in session.scalars(select(Endpoint)):
        for path, why in endpoint_secret_problems(endpoint.settings or {}, None):
            where = envref.format_path(path)
            reasons.append(f"endpoint of {endpoint.agency_code}: settings.{where} {why}")
    return reasons
