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
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol

import uvicorn
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
    """One client per agency (``demo-<code>``) and an administrator (``demo-admin``); secrets
    are kept in ``<var_dir>/demo-clients.json`` so the demo and a second terminal can use them."""
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


class _ThreadServer(uvicorn.Server):
    # Signal handlers belong to the main thread.
    def install_signal_handlers(self) -> None:
        return None


@dataclass
class RunningSimulators:
    """Handle on started simulators: their base URLs and apps (``app.state`` holds each
    simulator's state object)."""

    urls: dict[str, str] = field(default_factory=dict)
    apps: dict[str, Any] = field(default_factory=dict)
    _servers: list[tuple[_ThreadServer, threading.Thread, socket.socket]] = field(
        default_factory=list
    )

    def stop(self, timeout: float = 10.0) -> None:
        for server, _, _ in self._servers:
            server.should_exit = True
        for _, thread, sock in self._servers:
            thread.join(timeout)
            sock.close()
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
            port = ports[name]
            config = uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level="warning",
                log_config=None,
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=2,
            )
            # Bound here, so a taken port is an error in the caller, not in the server thread.
            sock = _listening_socket(host, port, f"simulator {name!r}")
            server = _ThreadServer(config)
            thread = threading.Thread(
                target=server.run, kwargs={"sockets": [sock]}, name=f"sim-{name}", daemon=True
            )
            handle._servers.append((server, thread, sock))
            thread.start()
            deadline = time.monotonic() + startup_timeout
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise SimulatorStartError(f"simulator {name!r} did not start on {host}:{port}")
                time.sleep(0.01)
            bound = server.servers[0].sockets[0].getsockname()[1]
            handle.urls[name] = f"http://{_url_host(host)}:{bound}"
            handle.apps[name] = app
    except BaseException:
        handle.stop()
        raise
    return handle


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - reading the setting, not binding
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _listening_socket(host: str, port: int, what: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SimulatorStartError(
            f"{what} cannot listen on {host}:{port} ({exc.strerror or exc}); is another "
            "`make run` using it? Set LGSP_PORT to move the platform and all its simulators"
        ) from exc
    return sock


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
    _listening_socket(settings.host, settings.port, "the platform").close()


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
    problems = check_config(settings.config_dir)
    if problems:
        for p in problems:
            log.error("%s: %s: %s", p.file, p.key, p.reason)
        raise SystemExit(f"the configuration in {settings.config_dir} has problems")
    engine = make_engine(settings.database_url, pool_size=1)
    with transaction(make_sessionmaker(engine)) as session:
        apply_config(session, load_config(settings.config_dir))
    engine.dispose()
    clients = ensure_demo_clients(settings)
    log.info(
        "demo clients (secrets in %s): %s",
        settings.var_dir / DEMO_CLIENTS,
        ", ".join(sorted(clients)),
    )
