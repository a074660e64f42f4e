"""`lgsp status`: the running platform processes and where deliveries stand."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from lgsp.admin.status import PlatformStatus, platform_status
from lgsp.cli.common import console, print_json, session_factory, settings

# The order states are shown in; any other state follows.
_STATES = ("pending", "retrying", "held", "inbox", "delivered", "acked", "dead")


def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Running API and worker processes (what adapters each cannot load or build) and
    deliveries per recipient: pending, retrying, held (waiting for an adapter the platform
    cannot build), delivered, dead. Exits 1 when deliveries are held."""
    s = settings()
    report = platform_status(session_factory(s), heartbeat_seconds=s.heartbeat_seconds)
    if as_json:
        print_json({**asdict(report), "held": report.held})
    else:
        _print(report)
    if report.held:
        raise typer.Exit(1)


def _print(report: PlatformStatus) -> None:
    if not report.processes:
        console.print("processes: none running (none reported in the last heartbeats)")
    for p in report.processes:
        console.print(
            f"{p.kind} {p.host}:{p.pid} (lgsp {p.version}, since "
            f"{p.started_at:%Y-%m-%d %H:%M:%S}Z, seen {p.seen_at:%H:%M:%S}Z): "
            f"{len(p.adapters)} adapter(s) loadable",
            markup=False,
            highlight=False,
        )
        for name, why in sorted(p.adapter_errors.items()):
            console.print(f"  cannot load adapter {name!r}: {why}", markup=False)
        for agency, failure in sorted(p.unbuildable.items()):
            console.print(
                f"  cannot build {failure['adapter']!r} for {agency} since {failure['since']}: "
                f"{failure['reason']}",
                markup=False,
                highlight=False,
            )
    if not report.deliveries:
        console.print("deliveries: none")
    for recipient, states in report.deliveries.items():
        ordered = [s for s in _STATES if s in states] + sorted(set(states) - set(_STATES))
        counts = ", ".join(f"{states[s]} {s}" for s in ordered)
        console.print(f"{recipient}: {counts}", markup=False, highlight=False)
    if report.held:
        console.print(
            f"{report.held} delivery(ies) held: an adapter cannot be built (see above)",
            markup=False,
        )


def register(app: typer.Typer) -> None:
    app.command("status")(status)
