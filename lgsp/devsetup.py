"""Development set-up behind `lgsp dev` / `make run`: a database with the sample province,
demo clients whose secrets are written to ``.var/demo-clients.json``, and the simulators."""

from __future__ import annotations

import json
import logging
from typing import Any

from lgsp.admin import clients, province
from lgsp.directory.config import check_config, load_config
from lgsp.directory.repository import DirectoryCache
from lgsp.kit import migrate
from lgsp.kit.db import make_engine, make_sessionmaker
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
    """One client per agency (``demo-<code>``) and an administrator (``demo-admin``); secrets
    are kept in ``<var_dir>/demo-clients.json`` so the demo and a second terminal can use them."""
    path = settings.var_dir / DEMO_CLIENTS
    engine = make_engine(settings.database_url, pool_size=1)
    sessions = make_sessionmaker(engine)
    known: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    out: dict[str, Any] = {}
    directory = DirectoryCache(sessions).refresh()
    agencies = sorted(code for code, a in directory.agencies.items() if a.active)
    wanted = [(f"demo-{code}", code, AGENCY_SCOPES) for code in agencies]
    if agencies:
        wanted.append(("demo-admin", agencies[0], ["admin", "audit", "messages:read"]))
    existing = {c.client_id for c in clients.list_clients(sessions)}
    for client_id, agency, scopes in wanted:
        entry = known.get(client_id)
        if client_id in existing and entry is not None:
            out[client_id] = entry
            continue
        # A client whose secret is not on file is made again, so the file can hold it.
        _, secret = clients.create_client(
            sessions, agency, scopes, name="demo", actor="dev", client_id=client_id, replace=True
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
    problems = check_config(settings.config_dir)
    if problems:
        for p in problems:
            log.error("%s: %s: %s", p.file, p.key, p.reason)
        raise SystemExit(f"the configuration in {settings.config_dir} has problems")
    engine = make_engine(settings.database_url, pool_size=1)
    province.apply(make_sessionmaker(engine), load_config(settings.config_dir), actor="dev")
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
