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

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from lgsp.adapterpool import AdapterPool
from lgsp.auth.keys import KeyStore
from lgsp.auth.server import LGSPAuthorizationServer
from lgsp.auth.tokens import RevocationList, TokenVerifier
from lgsp.directory.config_guard import refuse_demo_credentials
from lgsp.directory.repository import DirectoryCache
from lgsp.kit.db import make_engine, make_sessionmaker
from lgsp.kit.groupcommit import GroupCommitter
from lgsp.kit.ratelimit import Limiter
from lgsp.settings import Settings
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
