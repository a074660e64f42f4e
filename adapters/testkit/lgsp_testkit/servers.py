"""Run an ASGI app (uvicorn) or a WSGI app (wsgiref, threaded) in a background thread.

Both context managers bind 127.0.0.1 on a free port, yield the base URL once the server accepts
connections, and stop the server (and join its thread) on exit.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from lgsp.kit import threadserver

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on at the time of the call (also handy as a
    'connection refused' target)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_asgi(
    app: Any,
    *,
    port: int = 0,
    startup_timeout: float = 10.0,
    graceful_shutdown: int = 2,
) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a daemon thread; yield ``http://127.0.0.1:<port>``."""
    server = threadserver.start(
        app,
        host=LOOPBACK,
        port=port,
        name="asgi-test-server",
        lifespan="auto",
        startup_timeout=startup_timeout,
        graceful_shutdown=graceful_shutdown,
    )
    try:
        yield server.url
    finally:
        server.stop(timeout=startup_timeout + graceful_shutdown)


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
