"""Client administration: create clients, rotate their secrets, disable them. Every change is an
entry in the message log.

The OAuth client rows belong to auth (which reads them to issue tokens); these use cases are the
code that changes them by hand. Each function is one unit of work opened on the session factory
it is given.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lgsp.auth.models import OAuthClient
from lgsp.auth.server import SCOPES
from lgsp.directory import repository as directory
from lgsp.kit.db import transaction
from lgsp.kit.errors import BadRequest, NotFound
from lgsp.kit.secrets import hash_secret, new_client_id, new_secret
from lgsp.kit.timeutil import utcnow
from lgsp.messagelog.service import append as log_append


def _check_scopes(scopes: Sequence[str]) -> None:
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise BadRequest(f"unknown scope(s): {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    if not scopes:
        raise BadRequest("a client needs at least one scope")
    if {"admin", "audit"} <= set(scopes):
        # Administrators and auditors are different people (docs/security.md).
        raise BadRequest("a client is an administrator ('admin') or an auditor ('audit'), not both")


def create_client(
    sessions: sessionmaker[Session],
    agency_code: str,
    scopes: Sequence[str],
    *,
    name: str = "",
    actor: str = "cli",
    client_id: str | None = None,
    secret: str | None = None,
    replace: bool = False,
) -> tuple[OAuthClient, str]:
    """A new client of ``agency_code``; returns it with its secret, which is never stored.
    With ``replace``, a client of the same id is removed first (in the same transaction)."""
    _check_scopes(scopes)
    with transaction(sessions) as session:
        if directory.get_agency(session, agency_code) is None:
            raise NotFound(f"no agency {agency_code!r}; apply the province configuration first")
        if replace and client_id is not None:
            old = session.get(OAuthClient, client_id)
            if old is not None:
                session.delete(old)
                session.flush()
        secret = secret or new_secret()
        client = OAuthClient(
            client_id=client_id or new_client_id(),
            agency_code=agency_code,
            name=name,
            secret_hash=hash_secret(secret),
            scopes=" ".join(dict.fromkeys(scopes)),
            created_at=utcnow(),
        )
        session.add(client)
        session.flush()
        log_append(
            session,
            "admin.client_created",
            actor=actor,
            agency=agency_code,
            detail={"client_id": client.client_id, "scopes": client.scopes, "name": name},
        )
    return client, secret


def rotate_secret(sessions: sessionmaker[Session], client_id: str, *, actor: str = "cli") -> str:
    with transaction(sessions) as session:
        client = session.get(OAuthClient, client_id)
        if client is None:
            raise NotFound(f"no client {client_id!r}")
        secret = new_secret()
        client.secret_hash = hash_secret(secret)
        client.secret_rotated_at = utcnow()
        log_append(
            session,
            "admin.client_secret_rotated",
            actor=actor,
            agency=client.agency_code,
            detail={"client_id": client_id},
        )
    return secret


def set_disabled(
    sessions: sessionmaker[Session], client_id: str, disabled: bool, *, actor: str = "cli"
) -> None:
    with transaction(sessions) as session:
        client = session.get(OAuthClient, client_id)
        if client is None:
            raise NotFound(f"no client {client_id!r}")
        client.disabled_at = utcnow() if disabled else None
        log_append(
            session,
            "admin.client_disabled" if disabled else "admin.client_enabled",
            actor=actor,
            agency=client.agency_code,
            detail={"client_id": client_id},
        )


def list_clients(
    sessions: sessionmaker[Session], agency_code: str | None = None
) -> Sequence[OAuthClient]:
    query = select(OAuthClient).order_by(OAuthClient.agency_code, OAuthClient.created_at)
    if agency_code:
        query = query.where(OAuthClient.agency_code == agency_code)
    with sessions() as session:
        return session.scalars(query).all()
