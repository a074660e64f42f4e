"""Serve an ASGI app with uvicorn in a background thread: the simulators of `lgsp dev` and the
test kit's loopback servers. The socket is bound by the caller's thread, so a taken port is an
error there (:class:`PortTaken`, naming what wanted it), not a trace in the server's thread."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

import uvicorn


class PortTaken(RuntimeError):
    """The port cannot be bound (another process listens on it)."""


class _ThreadServer(uvicorn.Server):
    # Signal handlers belong to the main thread.
    def install_signal_handlers(self) -> None:
        return None


@dataclass
class ThreadServer:
    """A started server: its base URL; ``stop()`` ends it and joins its thread."""

    url: str
    port: int
    _server: _ThreadServer
    _thread: threading.Thread
    _socket: socket.socket

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        self._socket.close()


def url_host(host: str) -> str:
    """``host`` as it goes in a URL (a wildcard address is reached on loopback)."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - reading an address, not binding
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def bind(host: str, port: int, what: str) -> socket.socket:
    """A socket bound to ``host:port``; :class:`PortTaken` naming ``what`` otherwise."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortTaken(f"{what} cannot listen on {host}:{port} ({exc.strerror or exc})") from exc
    return sock


def start(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    name: str = "server",
    lifespan: Literal["auto", "on", "off"] = "off",
    startup_timeout: float = 10.0,
    graceful_shutdown: int = 2,
) -> ThreadServer:
    """Serve ``app`` quietly in a daemon thread; return once it accepts connections. Port 0
    picks a free port (see ``.port``)."""
    sock = bind(host, port, name)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        log_config=None,
        access_log=False,
        lifespan=lifespan,
        timeout_graceful_shutdown=graceful_shutdown,
    )
    server = _ThreadServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(startup_timeout)
            sock.close()
            raise RuntimeError(f"{name} did not start on {host}:{port}")
        time.sleep(0.01)
    bound: int = server.servers[0].sockets[0].getsockname()[1]
    return ThreadServer(f"http://{url_host(host)}:{bound}", bound, server, thread, sock)
