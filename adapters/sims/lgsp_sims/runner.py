"""The simulated external systems ``lgsp dev`` starts beside the platform, and a runner that
serves them on loopback ports in background threads.

    name           port  what                                module (create_app)
    dvcqg          8181  national public service portal      lgsp_sims.dvcqg.simulator
    onestop        8182  one-stop office (REST)              lgsp_sims.agencies.onestop_sim
    land-registry  8183  land registration office (SOAP)     lgsp_sims.agencies.land_registry_sim
    justice        8184  Department of Justice (REST)        lgsp_sims.agencies.onestop_sim
    ioc            8185  operations centre (REST)            lgsp_sims.agencies.onestop_sim
    vnpost         8186  postal service (REST)               lgsp_sims.agencies.onestop_sim
    sms            8187  SMS gateway (REST)                  lgsp_sims.agencies.onestop_sim
    paygov         8188  payment platform (REST)             lgsp_sims.agencies.onestop_sim
    department     8189  processing department (SOAP)        lgsp_sims.agencies.department_sim

Justice, the IOC, VNPost, the SMS gateway and PayGov are served by the generic REST receiver
until they have adapters and simulators speaking their own wire formats.

Each simulator has simulator-only ``/_sim/...`` endpoints to look at what it received and to make
it fail (see each module's docstring).
"""

from __future__ import annotations

import importlib
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import uvicorn

SIMULATORS: dict[str, tuple[str, int]] = {
    "dvcqg": ("lgsp_sims.dvcqg.simulator:create_app", 8181),
    "onestop": ("lgsp_sims.agencies.onestop_sim:create_app", 8182),
    "land-registry": ("lgsp_sims.agencies.land_registry_sim:create_app", 8183),
    "justice": ("lgsp_sims.agencies.onestop_sim:create_app", 8184),
    "ioc": ("lgsp_sims.agencies.onestop_sim:create_app", 8185),
    "vnpost": ("lgsp_sims.agencies.onestop_sim:create_app", 8186),
    "sms": ("lgsp_sims.agencies.onestop_sim:create_app", 8187),
    "paygov": ("lgsp_sims.agencies.onestop_sim:create_app", 8188),
    "department": ("lgsp_sims.agencies.department_sim:create_app", 8189),
}


def load_app(name: str) -> Any:
    """A fresh app of the simulator ``name``."""
    try:
        target = SIMULATORS[name][0]
    except KeyError:
        raise ValueError(f"unknown simulator {name!r}; one of {sorted(SIMULATORS)}") from None
    module_name, _, factory = target.partition(":")
    return getattr(importlib.import_module(module_name), factory)()


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


def run_simulators(
    host: str = "127.0.0.1",
    ports: Mapping[str, int] | None = None,
    *,
    only: Iterable[str] | None = None,
    startup_timeout: float = 10.0,
) -> RunningSimulators:
    """Start simulators (all, or ``only`` these) with uvicorn in daemon threads, quietly.
    ``ports`` overrides default ports by name; port 0 picks a free one (see ``.urls``)."""
    chosen = list(only) if only is not None else list(SIMULATORS)
    overrides = dict(ports or {})
    unknown = (set(chosen) | set(overrides)) - set(SIMULATORS)
    if unknown:
        raise ValueError(f"unknown simulators {sorted(unknown)}; one of {sorted(SIMULATORS)}")
    handle = RunningSimulators()
    try:
        for name in chosen:
            app = load_app(name)
            port = overrides.get(name, SIMULATORS[name][1])
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
            sock = _listening_socket(host, port, name)
            server = _ThreadServer(config)
            thread = threading.Thread(
                target=server.run, kwargs={"sockets": [sock]}, name=f"sim-{name}", daemon=True
            )
            handle._servers.append((server, thread, sock))
            thread.start()
            deadline = time.monotonic() + startup_timeout
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"simulator {name!r} did not start on {host}:{port}")
                time.sleep(0.01)
            bound = server.servers[0].sockets[0].getsockname()[1]
            handle.urls[name] = f"http://{host}:{bound}"
            handle.apps[name] = app
    except BaseException:
        handle.stop()
        raise
    return handle


def _listening_socket(host: str, port: int, name: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise RuntimeError(f"simulator {name!r} cannot listen on {host}:{port}: {exc}") from exc
    return sock
