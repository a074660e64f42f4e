"""Run an ASGI app (uvicorn) or a WSGI app (wsgiref, threaded) in a background thread.

Both context managers bind 127.0.0.1 on a free port, yield the base URL once the server accepts
connections, and stop the server (and join its thread) on exit.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import uvicorn

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on at the time of the call (also handy as a
    'connection refused' target)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


class _ThreadedServer(uvicorn.Server):
    # Signal handlers belong to the main thread; a server in a thread must not install them.
    def install_signal_handlers(self) -> None:
        return None


@contextmanager
def serve_asgi(
    app: Any,
    *,
    port: int = 0,
    startup_timeout: float = 10.0,
    graceful_shutdown: int = 2,
) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a daemon thread; yield ``http://127.0.0.1:<port>``."""
    config = uvicorn.Config(
        app,
        host=LOOPBACK,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="auto",
        timeout_graceful_shutdown=graceful_shutdown,
    )
    server = _ThreadedServer(config)
    thread = threading.Thread(target=server.run, name="asgi-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the test ASGI server did not start")
        time.sleep(0.01)
    bound_port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{LOOPBACK}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=startup_timeout + graceful_shutdown)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # The standard library's backlog of 5 drops connections when many deliveries arrive at once.
    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Any]


@contextmanager
def serve_wsgi(app: WSGIApp, *, port: int = 0) -> Iterator[str]:
    """Serve a WSGI ``app`` with the standard library's server, one thread per request (so a
    stalled request holds up no other); yield ``http://127.0.0.1:<port>``."""
    server = make_server(
        LOOPBACK, port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="wsgi-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
