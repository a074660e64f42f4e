from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import ECKey
from sqlalchemy.orm import Session, sessionmaker

from lgsp.kit.db import Base, make_engine, make_sessionmaker, transaction
from lgsp.messagelog.models import LogBatch, LogEntry
from lgsp.messagelog.service import append


@dataclass
class Signer:
    key: ECKey
    kid: str

    def sign(self, payload: bytes) -> str:
        return jws.serialize_compact({"alg": "ES256", "kid": self.kid}, payload, self.key)

    @property
    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False)]}


def make_signer(kid: str = "k1") -> Signer:
    return Signer(ECKey.generate_key("P-256", parameters={"kid": kid}), kid)


@pytest.fixture
def signer() -> Signer:
    return make_signer()


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    """The log tables on SQLite and on PostgreSQL (a fresh database each)."""
    engine = make_engine(database_url, pool_size=5)
    Base.metadata.create_all(engine, tables=[LogBatch.__table__, LogEntry.__table__])
    yield make_sessionmaker(engine)
    engine.dispose()


def add_entries(sessions: sessionmaker[Session], count: int, **fields: Any) -> list[int]:
    """Append ``count`` entries in one transaction; returns their ids."""
    with transaction(sessions) as session:
        entries = [
            append(
                session,
                fields.get("kind", "message.accepted"),
                actor=fields.get("actor", "c_sender"),
                agency=fields.get("agency", "000.00.12.H02"),
                message_id=fields.get("message_id", f"msg-{i}"),
                correlation_key=fields.get("correlation_key", f"000.00.12.H02-261126-{i:04d}"),
                detail=fields.get("detail", {"type": "dvcqg.dossier.sync", "n": i, "ok": True}),
                body_sha256=fields.get("body_sha256"),
            )
            for i in range(count)
        ]
        session.flush()
        return [e.id for e in entries]
