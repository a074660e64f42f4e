"""A provider cannot hold a call open past its timeout by answering slowly: the timeout bounds
the whole exchange (connect, headers, body), not each read. The server here sends a byte every
50 ms, each well within the per-read timeout, for three seconds in all."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from lgsp_adapters import deadline
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


# --- the one timer thread behind every deadline -------------------------------------------------


def test_overlapping_deadlines_each_end_their_own_exchange_at_their_own_time(
    drip_url: str,
) -> None:
    """Many exchanges share one timer thread: each is cut at its own deadline, a short one is not
    held up by a longer one scheduled before it, and no thread is started per exchange."""
    pool = http.make_pool(pool_size=8, verify_tls=True)
    ended: dict[float, float] = {}

    def call(timeout: float) -> None:
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout):
            http.send(
                pool, "GET", drip_url, body=None, headers={}, timeout=timeout, max_reply_bytes=10**6
            )
        ended[timeout] = time.monotonic() - started

    calls = [threading.Thread(target=call, args=(t,)) for t in (1.6, 0.4, 1.0, 0.2)]
    for thread in calls:
        thread.start()
    time.sleep(0.1)
    running = threading.enumerate()
    assert not [t for t in running if isinstance(t, threading.Timer)]
    assert [t.name for t in running].count("lgsp-deadlines") == 1
    for thread in calls:
        thread.join()
    for timeout, took in ended.items():
        assert timeout <= took < timeout + 0.5, (timeout, took)


def test_a_cancelled_deadline_never_fires_and_is_forgotten() -> None:
    watcher = deadline._Watcher()
    fired: list[int] = []
    entries = [watcher.watch(0.3, lambda i=i: fired.append(i)) for i in range(600)]
    late = watcher.watch(0.3, lambda: fired.append(-1))
    for entry in entries:
        watcher.cancel(entry)
    # Cancelled watches are dropped once they outnumber the live ones; the live one stays.
    assert watcher.pending() < 300
    time.sleep(0.6)
    assert fired == [-1]
    assert late.fired and not any(entry.fired for entry in entries)
    assert watcher.pending() == 0


def test_cancel_waits_for_a_cut_in_progress() -> None:
    """After cancel returns the socket may be closed: a cut never runs on a closed descriptor."""
    watcher = deadline._Watcher()
    started, finished = threading.Event(), threading.Event()

    def slow_cut() -> None:
        started.set()
        time.sleep(0.3)
        finished.set()

    entry = watcher.watch(0.0, slow_cut)
    assert started.wait(2)
    watcher.cancel(entry)
    assert finished.is_set() and entry.fired


def test_a_forked_child_gets_its_own_timer_thread() -> None:
    watcher = deadline._Watcher()
    watcher.cancel(watcher.watch(5, lambda: None))  # the parent's thread is running
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its deadline must fire although the parent's thread is not here
        ok = threading.Event()
        watcher.watch(0.05, ok.set)
        os.write(write_end, b"1" if ok.wait(2) else b"0")
        os._exit(0)
    os.close(write_end)
    try:
        assert os.read(read_end, 1) == b"1"
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
