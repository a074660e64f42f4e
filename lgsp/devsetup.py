"""Development set-up behind `lgsp dev` / `make run`: a database with the sample province,
demo clients whose secrets are written to ``.var/demo-clients.json``, and the simulators.

Simulators register themselves in the ``lgsp.simulators`` entry-point group (the lgsp-sims
distribution does, see adapters/sims/pyproject.toml); the core never names them. Each one is
served on the platform's port plus its ``port_offset``, so ``LGSP_PORT`` moves the platform and
every simulator together; the variables each declares (``LGSP_DVCQG_URL``, ...) are set to its
address unless already set, before the province configuration is read, and the addresses are
written to ``<var_dir>/simulators.json`` for `lgsp demo`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol

from lgsp.admin import clients, province
from lgsp.directory.config import check_config, load_config
from lgsp.directory.repository import DirectoryCache
from lgsp.kit import migrate, threadserver
from lgsp.kit.db import make_engine, make_sessionmaker
from lgsp.settings import Settings

log = logging.getLogger("lgsp.dev")
DEMO_CLIENTS = "demo-clients.json"
SIMULATOR_URLS = "simulators.json"
SIMULATOR_GROUP = "lgsp.simulators"
AGENCY_SCOPES = [
    "messages:send",
    "messages:read",
    "inbox:read",
    "services:call",
    "schemas:validate",
]


def ensure_demo_clients(settings: Settings) -> dict[str, Any]:
    """One client per agency (``demo-<code>``), an administrator (``demo-admin``) and an
    auditor (``demo-auditor``); secrets are kept in ``<var_dir>/demo-clients.json`` so the demo
    and a second terminal can use them."""
    path = settings.var_dir / DEMO_CLIENTS
    engine = make_engine(settings.database_url, pool_size=1)
    sessions = make_sessionmaker(engine)
    known: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    out: dict[str, Any] = {}
    directory = DirectoryCache(sessions).refresh()
    agencies = sorted(code for code, a in directory.agencies.items() if a.active)
    wanted = [(f"demo-{code}", code, AGENCY_SCOPES) for code in agencies]
    if agencies:
        # Two people, two roles: the administrator does not read the log, the auditor does.
        wanted.append(("demo-admin", agencies[0], ["admin"]))
        wanted.append(("demo-auditor", agencies[0], ["audit", "messages:read"]))
    existing = {c.client_id for c in clients.list_clients(sessions)}
    for client_id, agency, scopes in wanted:
        entry = known.get(client_id)
        if client_id in existing and entry is not None and entry.get("scope") == " ".join(scopes):
            out[client_id] = entry
            continue
        # A client whose secret is not on file (or whose scopes changed) is made again.
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


class SimulatorSpec(Protocol):
    """What an entry of the ``lgsp.simulators`` group names."""

    @property
    def port_offset(self) -> int: ...

    @property
    def environment(self) -> Mapping[str, str]: ...

    def create_app(self) -> Any: ...


class SimulatorStartError(RuntimeError):
    """A simulator could not be loaded or could not listen."""


def registered_simulators() -> dict[str, SimulatorSpec]:
    """Every simulator an installed distribution registers, by entry-point name."""
    found: dict[str, SimulatorSpec] = {}
    for point in entry_points(group=SIMULATOR_GROUP):
        try:
            found[point.name] = point.load()
        except Exception as exc:
            raise SimulatorStartError(
                f"simulator {point.name!r} ({point.value}) cannot be loaded: {exc}"
            ) from exc
    return found


@dataclass
class RunningSimulators:
    """Handle on started simulators: their base URLs and apps (``app.state`` holds each
    simulator's state object)."""

    urls: dict[str, str] = field(default_factory=dict)
    apps: dict[str, Any] = field(default_factory=dict)
    _servers: list[threadserver.ThreadServer] = field(default_factory=list)

    def stop(self, timeout: float = 10.0) -> None:
        for server in self._servers:
            server.stop(timeout)
        self._servers.clear()

    def __enter__(self) -> RunningSimulators:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def start_simulators(
    specs: Mapping[str, SimulatorSpec],
    ports: Mapping[str, int],
    host: str = "127.0.0.1",
    *,
    only: Iterable[str] | None = None,
    startup_timeout: float = 10.0,
) -> RunningSimulators:
    """Serve simulators (all of ``specs``, or ``only`` these) with uvicorn in daemon threads,
    each on ``ports[name]`` (0 picks a free port; see ``.urls``). A port that is taken raises
    :class:`SimulatorStartError` naming the simulator and the port."""
    chosen = list(only) if only is not None else list(specs)
    unknown = (set(chosen) | set(ports)) - set(specs)
    if unknown:
        raise ValueError(f"unknown simulators {sorted(unknown)}; one of {sorted(specs)}")
    handle = RunningSimulators()
    try:
        for name in chosen:
            app = specs[name].create_app()
            try:
                server = threadserver.start(
                    app,
                    host=host,
                    port=ports[name],
                    name=f"simulator {name!r}",
                    startup_timeout=startup_timeout,
                )
            except threadserver.PortTaken as exc:
                raise SimulatorStartError(f"{exc}; {_MOVE_HINT}") from exc
            except RuntimeError as exc:
                raise SimulatorStartError(str(exc)) from exc
            handle._servers.append(server)
            handle.urls[name] = server.url
            handle.apps[name] = app
    except BaseException:
        handle.stop()
        raise
    return handle


_MOVE_HINT = (
    "is another `make run` using it? Set LGSP_PORT to move the platform and all its simulators"
)


def start_dev_simulators(settings: Settings) -> RunningSimulators:
    """Start every registered simulator at ``settings.port + port_offset``, point the sample
    province's variables at them and write their addresses to ``<var_dir>/simulators.json``."""
    specs = registered_simulators()
    ports = {name: settings.port + spec.port_offset for name, spec in specs.items()}
    clashes = [
        n for n, p in ports.items() if p == settings.port or list(ports.values()).count(p) > 1
    ]
    if clashes:
        raise SimulatorStartError(
            f"simulators {sorted(clashes)} share a port with each other or the platform "
            f"({settings.port}); their port offsets must differ"
        )
    handle = start_simulators(specs, ports, "127.0.0.1")
    for name, spec in specs.items():
        for variable, suffix in spec.environment.items():
            value = handle.urls[name] + suffix
            if os.environ.setdefault(variable, value) != value:
                log.info("%s is set; not pointing it at the %s simulator", variable, name)
    path = settings.var_dir / SIMULATOR_URLS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(handle.urls, indent=2))
    log.info("simulators: %s", ", ".join(f"{n} {u}" for n, u in sorted(handle.urls.items())))
    return handle


def _check_platform_port(settings: Settings) -> None:
    try:
        threadserver.bind(settings.host, settings.port, "the platform").close()
    except threadserver.PortTaken as exc:
        raise SimulatorStartError(f"{exc}; {_MOVE_HINT}") from exc


def prepare(settings: Settings, *, simulators: bool = True) -> RunningSimulators | None:
    """Everything `lgsp dev` does before serving. The simulators start first: they set the
    variables the province configuration reads their addresses from."""
    if settings.env == "production":
        raise SystemExit("`lgsp dev` is for development; use `lgsp serve` in production")
    try:
        _check_platform_port(settings)
        handle = start_dev_simulators(settings) if simulators else None
    except SimulatorStartError as exc:
        raise SystemExit(str(exc)) from None
    try:
        _prepare_database(settings)
    except BaseException:
        if handle is not None:
            handle.stop()
        raise
    return handle


def _prepare_database(settings: Settings) -> None:
    migrate.upgrade(settings.database_url)
    problems = check_config(settings.config_dir, development=True)
    if problems:
        for p in problems:
            log.error("%s: %s: %s", p.file, p.key, p.reason)
        raise SystemExit(f"the configuration in {settings.config_dir} has problems")
    engine = make_engine(settings.database_url, pool_size=1)
    province.apply(
        make_sessionmaker(engine), load_config(settings.config_dir, development=True), actor="dev"
    )
    engine.dispose()
    clients = ensure_demo_clients(settings)
    log.info(
        "demo clients (secrets in %s): %s",
        settings.var_dir / DEMO_CLIENTS,
        ", ".join(sorted(clients)),
    )
