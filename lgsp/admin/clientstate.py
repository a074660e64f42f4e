"""Clients of the province configuration: `config apply` marks the clients it declares and
disables those it no longer declares, so a client removed from the configuration loses its
tokens (lgsp.auth.models sets its valid-after time) and gets no new ones."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from lgsp.auth.models import OAuthClient
from lgsp.kit.timeutil import utcnow
from lgsp.messagelog.service import append as log_append


@dataclass
class Reconciled:
    disabled: list[str] = field(default_factory=list)
    # Declared but disabled (by an admin, or after an earlier removal): apply leaves them so.
    still_disabled: list[str] = field(default_factory=list)

    def warnings(self) -> list[str]:
        return [
            f"client {client_id} is declared but disabled; apply does not enable clients"
            for client_id in self.still_disabled
        ]


def reconcile_config_clients(session: Session, declared: Collection[str]) -> Reconciled:
    """Mark ``declared`` clients as the configuration's; disable the configuration's clients
    missing from it. Flushes only."""
    out = Reconciled()
    wanted = set(declared)
    for client in session.scalars(select(OAuthClient).order_by(OAuthClient.client_id)):
        if client.client_id in wanted:
            client.from_config = True
            if client.disabled_at is not None:
                out.still_disabled.append(client.client_id)
        elif client.from_config and client.disabled_at is None:
            client.disabled_at = utcnow()
            out.disabled.append(client.client_id)
            log_append(
                session,
                "admin.client_disabled",
                actor="config",
                agency=client.agency_code,
                detail={"client_id": client.client_id, "reason": "removed from configuration"},
            )
    session.flush()
    return out
