"""Development set-up behind `lgsp dev` / `make run`: a database with the sample province,
demo clients whose secrets are written to ``.var/demo-clients.json``, and the simulators."""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import select

from lgsp.auth.models import OAuthClient
from lgsp.auth.service import create_client
from lgsp.directory.config import apply_config, check_config, load_config
from lgsp.directory.models import Agency
from lgsp.kit import migrate
from lgsp.kit.db import make_engine, make_sessionmaker, transaction
from lgsp.settings import Settings

log = logging.getLogger("lgsp.dev")
DEMO_CLIENTS = "demo-clients.json"
AGENCY_SCOPES = [
    "messages:send",
    "messages:read",
    "inbox:read",
    "services:call",
    "schemas:validate",
]


def ensure_demo_clients(settings: Settings) -> dict[str, Any]:
    """One client per agency (``demo-<code>``), an administrator (``demo-admin``) and an auditor
    (``demo-audit``); secrets are kept in ``<var_dir>/demo-clients.json`` so the demo and a
    second terminal can use them."""
    path = settings.var_dir / DEMO_CLIENTS
    engine = make_engine(settings.database_url, pool_size=1)
    sessions = make_sessionmaker(engine)
    known: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    out: dict[str, Any] = {}
    with transaction(sessions) as session:
        agencies = session.scalars(select(Agency).where(Agency.active.is_(True))).all()
        wanted = [(f"demo-{a.code}", a.code, AGENCY_SCOPES) for a in agencies]
        if agencies:
            wanted.append(("demo-admin", agencies[0].code, ["admin", "audit", "messages:read"]))
            # A read-only auditor; the sample province declares none (its secret would ship).
            wanted.append(("demo-audit", agencies[0].code, ["audit"]))
        for client_id, agency, scopes in wanted:
            entry = known.get(client_id)
            row = session.get(OAuthClient, client_id)
            if row is not None and entry is not None:
                out[client_id] = entry
                continue
            if row is not None:
                session.delete(row)
                session.flush()
            _, secret = create_client(
                session, agency, scopes, name="demo", actor="dev", client_id=client_id
            )
            out[client_id] = {
                "client_id": client_id,
                "client_secret": secret,
                "agency": agency,
                "scope": " ".join(scopes),
            }
    engine.dispose()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, ensure_ascii=False))
    path.chmod(0o600)
    return out


def prepare(settings: Settings, *, simulators: bool = True) -> Any:
    if settings.env == "production":
        raise SystemExit("`lgsp dev` is for development; use `lgsp serve` in production")
    migrate.upgrade(settings.database_url)
    problems = check_config(settings.config_dir, development=True)
    if problems:
        for p in problems:
            log.error("%s: %s: %s", p.file, p.key, p.reason)
        raise SystemExit(f"the configuration in {settings.config_dir} has problems")
    engine = make_engine(settings.database_url, pool_size=1)
    with transaction(make_sessionmaker(engine)) as session:
        apply_config(session, load_config(settings.config_dir, development=True))
    engine.dispose()
    clients = ensure_demo_clients(settings)
    log.info(
        "demo clients (secrets in %s): %s",
        settings.var_dir / DEMO_CLIENTS,
        ", ".join(sorted(clients)),
    )
    if not simulators:
        return None
    from lgsp_sims.runner import run_simulators

    return run_simulators()
