"""Serve the registered simulators in background threads, for tests and scripts.

``lgsp dev`` starts the same simulators itself (lgsp.devsetup), from the ``lgsp.simulators``
entry-point group; this module serves them on explicit or free ports. The list of simulators,
their port offsets and the variables they set is in :mod:`lgsp_sims.registration`.

Each simulator has simulator-only ``/_sim/...`` endpoints to look at what it received and to make
it fail (see each module's docstring).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lgsp.devsetup import RunningSimulators, registered_simulators, start_simulators
from lgsp.settings import Settings

__all__ = ["SIMULATORS", "RunningSimulators", "load_app", "run_simulators"]

# name -> port with the default platform port (every registered simulator, not only this
# distribution's).
SIMULATORS: dict[str, int] = {
    name: Settings.model_fields["port"].default + spec.port_offset
    for name, spec in registered_simulators().items()
}


def load_app(name: str) -> Any:
    """A fresh app of the simulator ``name``."""
    specs = registered_simulators()
    if name not in specs:
        raise ValueError(f"unknown simulator {name!r}; one of {sorted(specs)}")
    return specs[name].create_app()


def run_simulators(
    host: str = "127.0.0.1",
    ports: Mapping[str, int] | None = None,
    *,
    only: Iterable[str] | None = None,
    startup_timeout: float = 10.0,
) -> RunningSimulators:
    """Start simulators (all, or ``only`` these) quietly. ``ports`` overrides the default port
    by name; port 0 picks a free one (see ``.urls``)."""
    specs = registered_simulators()
    chosen = {**SIMULATORS, **(ports or {})}
    return start_simulators(specs, chosen, host, only=only, startup_timeout=startup_timeout)
