"""Cross-checks of a province configuration: references between entries, and what no single
entry can know (duplicates, cycles, routes nobody may use, adapter settings, schemas)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import lgsp.kit.envref as envref
from lgsp.directory import config_guard
from lgsp.directory.config_schema import (
    AGENCY_CODE,
    SCOPES,
    AgencyConfig,
    KeyPath,
    RawConfig,
    expand_grants,
)
from lgsp.directory.routing import is_granted, validate_condition
from lgsp.settings import demo_secret_reason

Report = Callable[[str, KeyPath, str], None]
_SECRET_HASH = re.compile(r"^scrypt\$[0-9a-f]{2,}\$[0-9a-f]{64}$")
# Kinds that sit outside the province and so carry another letter code (G.. for ministries).
_OUTSIDE = ("national_system", "external_service")
_MIN_SECRET = 16


# Administrators and auditors are different people (docs/security.md).
ROLES_APART = "a client is an administrator ('admin') or an auditor ('audit'), not both"


def _error_text(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _check_agencies(
    raw: RawConfig,
    report: Report,
    adapter_validator: Callable[[str, dict[str, Any]], Any] | None,
    development: bool,
) -> dict[str, AgencyConfig]:
    f = "agencies.yaml"
    by_code: dict[str, AgencyConfig] = {}
    first_index: dict[str, int] = {}
    for i, a in raw.agencies:
        if a.code in by_code:
            report(
                f,
                ("agencies", i, "code"),
                f"duplicate code (first at agencies[{first_index[a.code]}])",
            )
            continue
        by_code[a.code] = a
        first_index[a.code] = i
    province = raw.province.code if raw.province else None
    for i, a in raw.agencies:
        path: KeyPath = ("agencies", i)
        if province and a.kind not in _OUTSIDE and province not in a.code.split("."):
            report(f, (*path, "code"), f"a {a.kind} of the province carries its code {province}")
        if a.parent is not None:
            if a.parent == a.code:
                report(f, (*path, "parent"), "an agency cannot be its own parent")
            elif a.parent not in raw.agency_codes:
                report(f, (*path, "parent"), f"unknown agency {a.parent}")
            else:
                seen = {a.code}
                parent: str | None = a.parent
                while parent is not None and parent in by_code:
                    if parent in seen:
                        report(f, (*path, "parent"), "parents form a cycle")
                        break
                    seen.add(parent)
                    parent = by_code[parent].parent
        ep = a.endpoint
        if ep is None:
            continue
        epath = (*path, "endpoint")
        if ep.mode == "push" and not ep.adapter:
            report(f, (*epath, "adapter"), "a push endpoint needs an adapter")
        if ep.mode == "pull" and ep.adapter:
            report(
                f,
                (*epath, "adapter"),
                "a pull endpoint has no adapter (the agency reads its inbox)",
            )
        if ep.mode == "pull" and ep.settings:
            report(f, (*epath, "settings"), "a pull endpoint has no adapter settings")
        validated = None
        # A setting naming an unset variable is already reported, with its key.
        resolvable = not envref.resolve(ep.settings).missing
        if ep.mode == "push" and ep.adapter and adapter_validator is not None and resolvable:
            try:
                validated = adapter_validator(ep.adapter, dict(ep.settings))
            except Exception as exc:  # noqa: BLE001 - any failure is the adapter's verdict
                report(f, (*epath, "settings"), _error_text(exc))
        if not development:
            for sub, reason in config_guard.endpoint_secret_problems(ep.settings, validated):
                report(f, (*epath, "settings", *sub), reason)
    return by_code


def _receiver_problem(code: str, raw: RawConfig, agencies: dict[str, AgencyConfig]) -> str | None:
    """Why ``code`` cannot receive messages, or None."""
    if code not in raw.agency_codes:
        return f"unknown agency {code}"
    agency = agencies.get(code)
    if agency is None:
        return None  # declared in a broken entry, reported there
    if agency.endpoint is None:
        return f"agency {code} has no endpoint, so it cannot receive messages"
    if not agency.active:
        return f"agency {code} is inactive"
    return None


def _check_routes(raw: RawConfig, report: Report, agencies: dict[str, AgencyConfig]) -> None:
    f = "routes.yaml"
    rows = expand_grants([g for _, g in raw.grants], raw.groups)
    for name, r in raw.routes.items():
        path: KeyPath = ("routes", name)
        if r.message_type not in raw.type_names:
            report(f, (*path, "message_type"), f"unknown message type {r.message_type!r}")
        if r.sender is not None and r.sender not in raw.agency_codes:
            report(f, (*path, "sender"), f"unknown agency {r.sender}")
        problem = _receiver_problem(r.recipient, raw, agencies)
        if problem:
            report(f, (*path, "recipient"), problem)
        elif r.sender == r.recipient:
            report(f, (*path, "recipient"), "the sender never receives its own messages")
        if r.condition is not None:
            for sub, reason in validate_condition(r.condition):
                report(f, (*path, "condition", *([sub] if sub else [])), reason)
        # A route to a recipient no sender may address is dead configuration, usually a grant
        # forgotten: the message would be refused at the door.
        senders = [r.sender] if r.sender else sorted({g.agency_code for g in rows})
        if (
            not problem
            and "grants.yaml" not in raw.unreadable
            and not any(
                is_granted(
                    rows, agency=s, action="send", target=r.message_type, recipient=r.recipient
                )
                for s in senders
            )
        ):
            who = r.sender or "any agency"
            report(
                f,
                (*path, "recipient"),
                f"no grant lets {who} send {r.message_type} to {r.recipient}",
            )


def _check_grants(raw: RawConfig, report: Report, agencies: dict[str, AgencyConfig]) -> None:
    f = "grants.yaml"
    for name, members in raw.groups.items():
        for j, code in enumerate(members):
            if code not in raw.agency_codes:
                report(f, ("groups", name, j), f"unknown agency {code}")

    def check_agency_ref(path: KeyPath, ref: str, *, wildcard: bool) -> None:
        if ref.startswith("@"):
            if ref[1:] not in raw.groups:
                report(f, path, f"unknown group {ref}")
        elif ref == "*":
            if not wildcard:
                report(f, path, "'*' is not allowed here: name the agency")
        elif ref not in raw.agency_codes:
            report(f, path, f"unknown agency {ref}")

    providers = {key.split("/", 1)[0] for key in raw.service_keys}
    for i, g in raw.grants:
        path: KeyPath = ("grants", i)
        for j, ref in enumerate(g.agency):
            check_agency_ref((*path, "agency", j), ref, wildcard=False)
        if (g.send is None) == (g.call is None):
            report(f, path, "a grant has exactly one of 'send' or 'call'")
        for j, target in enumerate(g.send or []):
            if target != "*" and target not in raw.type_names:
                report(f, (*path, "send", j), f"unknown message type {target!r}")
        if g.send is not None and not g.to:
            report(f, (*path, "to"), "required with 'send' (use '*' for any recipient)")
        if g.call is not None and g.to is not None:
            report(f, (*path, "to"), "only with 'send': a call goes to the named provider")
        for j, ref in enumerate(g.to or []):
            check_agency_ref((*path, "to", j), ref, wildcard=True)
            if AGENCY_CODE.match(ref):
                problem = _receiver_problem(ref, raw, agencies)
                if problem and ref in raw.agency_codes:
                    report(f, (*path, "to", j), problem)
        for j, target in enumerate(g.call or []):
            provider, _, service = target.partition("/")
            if target == "*" or target in raw.service_keys:
                continue
            if service == "*" and provider in providers:
                continue
            report(f, (*path, "call", j), f"unknown service {target!r} (provider/service)")


def _check_services(
    raw: RawConfig,
    report: Report,
    agencies: dict[str, AgencyConfig],
    schema_ids: set[str] | None,
) -> None:
    f = "services.yaml"
    seen: dict[tuple[str, str], int] = {}
    for i, s in raw.services:
        path: KeyPath = ("services", i)
        key = (s.provider, s.name)
        if key in seen:
            report(f, (*path, "name"), f"duplicate service (first at services[{seen[key]}])")
        seen.setdefault(key, i)
        agency = agencies.get(s.provider)
        if s.provider not in raw.agency_codes:
            report(f, (*path, "provider"), f"unknown agency {s.provider}")
        elif agency is not None and (agency.endpoint is None or agency.endpoint.mode != "push"):
            report(
                f,
                (*path, "provider"),
                f"{s.provider} has no push endpoint, so the platform cannot call its services",
            )
        for field in ("request_schema", "response_schema"):
            schema = getattr(s, field)
            if schema is not None and schema_ids is not None and schema not in schema_ids:
                report(f, (*path, field), f"unknown schema {schema!r}")


def _check_clients(raw: RawConfig, report: Report, development: bool) -> None:
    f = "clients.yaml"
    if not development:
        for where, name in raw.defaulted.get(f, []):
            if where[-1:] == ("secret",):
                report(f, where, config_guard.FALLBACK_REFUSED.format(name=name))
    seen: dict[str, int] = {}
    for i, c in raw.clients:
        path: KeyPath = ("clients", i)
        if c.client_id in seen:
            report(
                f,
                (*path, "client_id"),
                f"duplicate client id (first at clients[{seen[c.client_id]}])",
            )
        seen.setdefault(c.client_id, i)
        if c.agency not in raw.agency_codes:
            report(f, (*path, "agency"), f"unknown agency {c.agency}")
        for j, scope in enumerate(c.scopes):
            if scope not in SCOPES:
                report(
                    f, (*path, "scopes", j), f"unknown scope {scope!r} (known: {' '.join(SCOPES)})"
                )
        if {"admin", "audit"} <= set(c.scopes):
            report(f, (*path, "scopes"), ROLES_APART)
        if c.client_id in raw.missing_secrets:
            continue  # skipped by apply with a warning
        if (c.secret is None) == (c.secret_hash is None):
            report(
                f, path, "give exactly one of 'secret' (usually \"${ENV_VAR}\") or 'secret_hash'"
            )
        elif c.secret is not None and len(c.secret) < _MIN_SECRET:
            report(
                f,
                (*path, "secret"),
                f"too short: a client secret has at least {_MIN_SECRET} characters",
            )
        elif c.secret_hash is not None and not _SECRET_HASH.match(c.secret_hash):
            report(
                f,
                (*path, "secret_hash"),
                "not a hash from lgsp.kit.secrets (scrypt$<salt>$<hash>)",
            )
        elif not development:
            if c.secret is not None and (reason := demo_secret_reason(c.secret)):
                report(f, (*path, "secret"), f"the secret is {reason}")
            if c.secret_hash is not None and (
                reason := config_guard.secret_hash_reason(c.secret_hash)
            ):
                report(f, (*path, "secret_hash"), f"this is {reason}")


def cross_check(
    raw: RawConfig,
    report: Report,
    *,
    schema_ids: set[str] | None,
    adapter_validator: Callable[[str, dict[str, Any]], Any] | None,
    development: bool = False,
) -> None:
    """Report every reference and consistency problem in ``raw``; unless ``development``, also
    the secrets :mod:`lgsp.directory.config_guard` refuses."""
    agencies = _check_agencies(raw, report, adapter_validator, development)
    if schema_ids is not None:
        for name, mt in raw.message_types.items():
            if mt.schema_id not in schema_ids:
                report(
                    "message-types.yaml",
                    ("message_types", name, "schema_id"),
                    f"unknown schema {mt.schema_id!r}",
                )
    _check_routes(raw, report, agencies)
    _check_grants(raw, report, agencies)
    _check_services(raw, report, agencies, schema_ids)
    _check_clients(raw, report, development)
