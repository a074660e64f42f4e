"""A provider cannot hold a call open past its timeout by answering slowly: the timeout bounds
the whole exchange (connect, headers, body), not each read. The server here sends a byte every
50 ms, each well within the per-read timeout, for three seconds in all."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from lgsp_adapters.base import UpstreamTimeout
from lgsp_adapters.rest import http
from lgsp_adapters.soap.transport import GuardedTransport

DRIP_SECONDS = 3.0
TIMEOUT = 0.5


def _drip(conn: socket.socket) -> None:
    with conn:
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nConnection: close\r\n\r\n")
            end = time.monotonic() + DRIP_SECONDS
            while time.monotonic() < end:
                conn.sendall(b" ")
                time.sleep(0.05)
            conn.sendall(b"<ok/>")
        except OSError:
            pass  # the client gave up, as it should


@pytest.fixture
def drip_url() -> Iterator[str]:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=_drip, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/service"
    stop.set()
    thread.join()
    server.close()


def test_rest_calls_end_at_their_total_deadline(drip_url: str) -> None:
    pool = http.make_pool(pool_size=1, verify_tls=True)
    with pytest.raises(UpstreamTimeout, match="in full within"):
        http.send(
            pool, "GET", drip_url, body=None, headers={}, timeout=TIMEOUT, max_reply_bytes=1_000_000
        )
    pool.clear()


def test_soap_calls_end_at_their_total_deadline(drip_url: str) -> None:
    transport = GuardedTransport(
        timeout=TIMEOUT, verify_tls=True, allow_files=False, max_reply_bytes=1_000_000
    )
    transport.allow(drip_url)
    with pytest.raises(requests.Timeout, match="within the deadline"):
        transport.post(drip_url, b"<Envelope/>", {"Content-Type": "text/xml"})
    with pytest.raises(requests.Timeout, match="within the deadline"):
        transport.load(drip_url)  # WSDL fetches too
