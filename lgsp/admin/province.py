"""Applying a province configuration: make the database match a checked configuration,
idempotently, and log what changed as an admin action.

The configuration is the source of truth for agencies, endpoints, message types, routes, grants
and services: rows that vanished from it are removed. Agencies are the exception: one still
referenced by clients or by messages is only deactivated, so history keeps its meaning. Clients
are upserted but never removed (``lgsp clients`` and ``lgsp dev`` create clients of their own);
a client the configuration declared and no longer does is disabled.

:func:`apply` is the use case (one transaction, logged as ``admin.config_applied``); the steps
below it only flush.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session, sessionmaker

from lgsp.admin.clientstate import reconcile_config_clients
from lgsp.auth.models import OAuthClient
from lgsp.deliveries import repository as deliveries
from lgsp.directory.models import Agency, Endpoint, Grant, MessageType, Route, Service
from lgsp.exchange import repository as messages
from lgsp.kit.db import transaction
from lgsp.kit.secrets import hash_secret, verify_secret
from lgsp.kit.timeutil import utcnow
from lgsp.messagelog.service import append as log_append
from lgsp.processes import repository as processes
from lgsp.processes.presence import live_since

if TYPE_CHECKING:
    from lgsp.directory.config_schema import ClientConfig, ProvinceConfig

KINDS = ("agencies", "endpoints", "message_types", "routes", "grants", "services", "clients")


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    removed: int = 0
    deactivated: int = 0

    @property
    def changes(self) -> int:
        return self.created + self.updated + self.removed + self.deactivated


@dataclass
class ApplyReport:
    """What apply changed, per kind of row; ``changes`` is 0 when the database already matched."""

    counts: dict[str, Counts] = field(default_factory=lambda: {k: Counts() for k in KINDS})
    warnings: list[str] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return sum(c.changes for c in self.counts.values())

    def lines(self) -> list[str]:
        out = []
        for kind, c in self.counts.items():
            text = f"{kind}: {c.created} created, {c.updated} updated, {c.removed} removed"
            out.append(text + (f", {c.deactivated} deactivated" if c.deactivated else ""))
        return out


def _sync(row: Any, values: dict[str, Any]) -> bool:
    """Set the attributes that differ; whether any did."""
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed


def _upsert(
    session: Session,
    existing: dict[Any, Any],
    key: Any,
    model: type[Any],
    values: dict[str, Any],
    counts: Counts,
) -> None:
    row = existing.get(key)
    if row is None:
        session.add(model(**values))
        counts.created += 1
    elif _sync(row, values):
        counts.updated += 1


def _agency_is_referenced(session: Session, code: str) -> bool:
    return (
        bool(session.scalar(select(exists().where(OAuthClient.agency_code == code))))
        or messages.sent_by(session, code)
        or deliveries.addressed_to(session, code)
    )


def _apply_directory(session: Session, cfg: ProvinceConfig, report: ApplyReport) -> set[str]:
    counts = report.counts
    agencies = {a.code: a for a in session.scalars(select(Agency))}
    for a in cfg.agencies:
        values: dict[str, Any] = {
            "code": a.code,
            "name_vi": a.name_vi,
            "name_en": a.name_en,
            "kind": a.kind,
            "parent_code": a.parent,
            "active": a.active,
            "quota": a.quota.model_dump() if a.quota else None,
        }
        _upsert(session, agencies, a.code, Agency, values, counts["agencies"])
    session.flush()

    wanted = {a.code: a.endpoint for a in cfg.agencies if a.endpoint is not None}
    for ep_row in session.scalars(select(Endpoint)):
        if ep_row.agency_code not in wanted:
            session.delete(ep_row)
            counts["endpoints"].removed += 1
    endpoints = {e.agency_code: e for e in session.scalars(select(Endpoint))}
    for code, ep in wanted.items():
        values = {
            "agency_code": code,
            "mode": ep.mode,
            "adapter": ep.adapter,
            "settings": dict(ep.settings),
            "timeout_seconds": ep.timeout_seconds,
            "retry_window_seconds": ep.retry_window_seconds,
            "concurrency": ep.concurrency,
        }
        _upsert(session, endpoints, code, Endpoint, values, counts["endpoints"])

    types = {t.name: t for t in session.scalars(select(MessageType))}
    for name, mt in cfg.message_types.items():
        values = {
            "name": name,
            "schema_id": mt.schema_id,
            "description": mt.description,
            "correlation_pointer": mt.correlation_pointer,
            "dossier_role": mt.dossier,
        }
        _upsert(session, types, name, MessageType, values, counts["message_types"])
    session.flush()
    return set(types) - set(cfg.message_types)


def _apply_rules(session: Session, cfg: ProvinceConfig, report: ApplyReport) -> None:
    counts = report.counts
    routes: dict[str, Route] = {}
    for route in session.scalars(select(Route).order_by(Route.id)):
        if route.name not in cfg.routes or route.name in routes:
            session.delete(route)  # vanished, or a second row of the same name
            counts["routes"].removed += 1
        else:
            routes[route.name] = route
    for name, r in cfg.routes.items():
        values: dict[str, Any] = {
            "name": name,
            "message_type": r.message_type,
            "sender": r.sender,
            "recipient": r.recipient,
            "condition": r.condition,
            "copy": r.is_copy,
        }
        _upsert(session, routes, name, Route, values, counts["routes"])

    wanted = {(g.agency_code, g.action, g.target, g.recipient) for g in cfg.grant_rows()}
    have: set[tuple[str, str, str, str]] = set()
    for grant in session.scalars(select(Grant)):
        key = (grant.agency_code, grant.action, grant.target, grant.recipient)
        if key in wanted:
            have.add(key)
        else:
            session.delete(grant)
            counts["grants"].removed += 1
    for row in cfg.grant_rows():
        if (row.agency_code, row.action, row.target, row.recipient) not in have:
            session.add(
                Grant(
                    agency_code=row.agency_code,
                    action=row.action,
                    target=row.target,
                    recipient=row.recipient,
                )
            )
            counts["grants"].created += 1

    wanted_services = {(s.provider, s.name) for s in cfg.services}
    services: dict[tuple[str, str], Service] = {}
    for svc in session.scalars(select(Service)):
        if (svc.provider, svc.name) in wanted_services:
            services[(svc.provider, svc.name)] = svc
        else:
            session.delete(svc)
            counts["services"].removed += 1
    for s in cfg.services:
        values = {
            "provider": s.provider,
            "name": s.name,
            "description": s.description,
            "operation": dict(s.operation),
            "request_schema": s.request_schema,
            "response_schema": s.response_schema,
            "timeout_seconds": s.timeout_seconds,
        }
        _upsert(session, services, (s.provider, s.name), Service, values, counts["services"])
    session.flush()


def _client_secret_hash(c: ClientConfig, row: OAuthClient | None) -> str:
    if c.secret_hash is not None:
        return c.secret_hash
    assert c.secret is not None
    # The hash is salted: keep the stored one while it still matches, so a second apply is a
    # no-op and the secret is only rehashed when it really changed.
    if row is not None and verify_secret(c.secret, row.secret_hash):
        return row.secret_hash
    return hash_secret(c.secret)


def _apply_clients(session: Session, cfg: ProvinceConfig, report: ApplyReport) -> None:
    counts = report.counts["clients"]
    clients = {c.client_id: c for c in session.scalars(select(OAuthClient))}
    for c in cfg.clients:
        if c.client_id in cfg.missing_secrets:
            report.warnings.append(
                f"client {c.client_id} skipped: environment variable "
                f"{cfg.missing_secrets[c.client_id]} (its secret) is not set"
            )
            continue
        row = clients.get(c.client_id)
        values = {
            "client_id": c.client_id,
            "agency_code": c.agency,
            "name": c.name,
            "scopes": " ".join(dict.fromkeys(c.scopes)),
            "secret_hash": _client_secret_hash(c, row),
        }
        if row is None:
            session.add(OAuthClient(**values, created_at=utcnow()))
            counts.created += 1
        else:
            rotated = row.secret_hash != values["secret_hash"]
            if _sync(row, values):
                counts.updated += 1
                if rotated:
                    row.secret_rotated_at = utcnow()
    session.flush()
    reconciled = reconcile_config_clients(session, [c.client_id for c in cfg.clients])
    counts.deactivated += len(reconciled.disabled)
    report.warnings.extend(reconciled.warnings())


def apply(
    sessions: sessionmaker[Session],
    cfg: ProvinceConfig,
    *,
    actor: str,
    dry_run: bool = False,
    heartbeat_seconds: float = 10.0,
) -> ApplyReport:
    """Make the database match ``cfg`` in one transaction, and log it in the message log as
    ``admin.config_applied`` (who, and what changed per kind of row). Applying the same
    configuration twice reports no changes the second time. A dry run reports what would change
    and changes (and logs) nothing. Either way, the report warns of every adapter the
    configuration names that a running platform process (one that reported within three
    ``heartbeat_seconds``) cannot load."""
    with transaction(sessions) as session:
        report = apply_rows(session, cfg)
        report.warnings.extend(
            adapters_missing_in_processes(session, cfg, seen_since=live_since(heartbeat_seconds))
        )
        if dry_run:
            session.rollback()
            return report
        log_append(
            session,
            "admin.config_applied",
            actor=actor,
            detail={
                "province": cfg.province.code,
                "changes": report.changes,
                "counts": {k: asdict(c) for k, c in report.counts.items()},
                "warnings": report.warnings,
            },
        )
    return report


def adapters_missing_in_processes(
    session: Session, cfg: ProvinceConfig, *, seen_since: datetime
) -> list[str]:
    """One warning per adapter the configuration's endpoints name that a live platform process
    cannot load (its deliveries would be held there, its services answer 503)."""
    named: dict[str, list[str]] = {}
    for agency in cfg.agencies:
        endpoint = agency.endpoint
        if endpoint is not None and endpoint.mode == "push" and endpoint.adapter:
            named.setdefault(endpoint.adapter, []).append(agency.code)
    warnings = []
    for process in processes.live(session, seen_since=seen_since):
        for adapter, agencies in sorted(named.items()):
            if adapter in process.adapters:
                continue
            why = process.adapter_errors.get(adapter) or "not installed there"
            warnings.append(
                f"adapter {adapter!r} (endpoint of {', '.join(agencies)}) cannot be loaded by "
                f"the running {process.kind} process {process.pid} on {process.host}: {why}; "
                "deliveries to those endpoints wait there until it is installed where that "
                "process runs (found at the next try; an upgrade of one already loaded needs "
                "a restart)"
            )
    return warnings


def apply_rows(session: Session, cfg: ProvinceConfig) -> ApplyReport:
    """The rows of :func:`apply`, flushed in the caller's session."""
    report = ApplyReport()
    stale_types = _apply_directory(session, cfg, report)
    _apply_rules(session, cfg, report)
    _apply_clients(session, cfg, report)

    for name in sorted(stale_types):
        if messages.of_type(session, name):
            report.warnings.append(f"message type {name} kept: messages of that type exist")
            continue
        session.execute(delete(MessageType).where(MessageType.name == name))
        report.counts["message_types"].removed += 1

    declared = {a.code for a in cfg.agencies}
    for agency in session.scalars(select(Agency).where(Agency.code.not_in(declared))).all():
        if _agency_is_referenced(session, agency.code):
            if agency.active:
                agency.active = False
                report.counts["agencies"].deactivated += 1
        else:
            session.delete(agency)
            report.counts["agencies"].removed += 1
    session.flush()
    return report
