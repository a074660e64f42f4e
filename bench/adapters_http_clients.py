"""Which HTTP client should the REST adapter use? Loopback POSTs of a 2 KB JSON body.

Run: ``.venv/bin/python bench/adapters_http_clients.py [--requests 3000] [--threads 8]``

Each blocking client keeps one pooled, keep-alive client object shared by all threads (as the
adapter does); each asyncio client (aiohttp, httpx's AsyncClient) keeps one pooled client on one
event loop and runs as many concurrent tasks as the blocking ones have threads. All post the same
2 KB JSON document to a minimal uvicorn app on 127.0.0.1, served by a separate process (so the
server does not share the client's interpreter lock), and check every answer (status 200 and the
byte count the server read) so a fast but wrong client cannot win. Besides the rate, the client
process's own CPU time per request is reported (all its threads): on a busy machine the rate
moves with the load, the CPU per request much less.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp
import httpx
import orjson
import requests
import urllib3
from lgsp_testkit import free_port

BODY = orjson.dumps({"MaHoSo": "000.00.12.H02-261126-0007", "data": "x" * 1960})
assert 1900 <= len(BODY) <= 2100
HEADERS = {"Content-Type": "application/json", "X-LGSP-Message-Id": "bench"}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    size = 0
    more = True
    while more:
        event = await receive()
        size += len(event.get("body", b""))
        more = event.get("more_body", False)
    reply = orjson.dumps({"received": size})
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": reply})


Post = Callable[[str], int]  # returns the byte count the server reports


def httpx_client() -> tuple[Post, Callable[[], None]]:
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    client = httpx.Client(timeout=10.0, limits=limits)

    def post(url: str) -> int:
        response = client.post(url, content=BODY, headers=HEADERS)
        assert response.status_code == 200
        return int(orjson.loads(response.content)["received"])

    return post, client.close


def urllib3_client() -> tuple[Post, Callable[[], None]]:
    pool = urllib3.PoolManager(maxsize=16, retries=False, timeout=urllib3.Timeout(10.0))

    def post(url: str) -> int:
        response = pool.request("POST", url, body=BODY, headers=HEADERS)
        assert response.status == 200
        return int(orjson.loads(response.data)["received"])

    return post, pool.clear


def requests_client() -> tuple[Post, Callable[[], None]]:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16)
    session.mount("http://", adapter)

    def post(url: str) -> int:
        response = session.post(url, data=BODY, headers=HEADERS, timeout=10.0)
        assert response.status_code == 200
        return int(orjson.loads(response.content)["received"])

    return post, session.close


CLIENTS: dict[str, Callable[[], tuple[Post, Callable[[], None]]]] = {
    "httpx": httpx_client,
    "urllib3": urllib3_client,
    "requests": requests_client,
}


AsyncPost = Callable[[str], Any]  # a coroutine function returning the byte count


def aiohttp_client() -> tuple[AsyncPost, Callable[[], Any]]:
    holder: dict[str, aiohttp.ClientSession] = {}

    async def post(url: str) -> int:
        if "session" not in holder:
            connector = aiohttp.TCPConnector(limit=16)
            holder["session"] = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(10)
            )
        async with holder["session"].post(url, data=BODY, headers=HEADERS) as response:
            assert response.status == 200
            return int(orjson.loads(await response.read())["received"])

    async def close() -> None:
        if "session" in holder:
            await holder.pop("session").close()

    return post, close


def httpx_async_client() -> tuple[AsyncPost, Callable[[], Any]]:
    holder: dict[str, httpx.AsyncClient] = {}

    async def post(url: str) -> int:
        if "client" not in holder:
            limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
            holder["client"] = httpx.AsyncClient(timeout=10.0, limits=limits)
        response = await holder["client"].post(url, content=BODY, headers=HEADERS)
        assert response.status_code == 200
        return int(orjson.loads(response.content)["received"])

    async def close() -> None:
        if "client" in holder:
            await holder.pop("client").aclose()

    return post, close


ASYNC_CLIENTS: dict[str, Callable[[], tuple[AsyncPost, Callable[[], Any]]]] = {
    "aiohttp": aiohttp_client,
    "httpx-async": httpx_async_client,
}


def run_async_rounds(
    factory: Callable[[], tuple[AsyncPost, Callable[[], Any]]],
    url: str,
    total: int,
    tasks: int,
    rounds: int,
) -> list[tuple[float, float]]:
    """(requests per second, client CPU ms per request) for each round, on one event loop."""

    async def main() -> list[tuple[float, float]]:
        post, close = factory()

        async def worker(count: int) -> None:
            for _ in range(count):
                if await post(url) != len(BODY):
                    raise AssertionError("server saw a different body")

        async def one(count: int) -> tuple[float, float]:
            share = count // tasks
            start, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(worker(share) for _ in range(tasks)))
            done = share * tasks
            rate = done / (time.perf_counter() - start)
            return rate, (time.process_time() - cpu) * 1000 / done

        try:
            await one(200)  # warm up connections
            return [await one(total) for _ in range(rounds)]
        finally:
            await close()

    return asyncio.run(main())


def run(post: Post, url: str, total: int, threads: int) -> tuple[float, float]:
    """(requests per second, client CPU ms per request) for ``total`` POSTs spread over
    ``threads`` threads."""
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(count: int) -> None:
        try:
            for _ in range(count):
                if post(url) != len(BODY):
                    raise AssertionError("server saw a different body")
        except BaseException as exc:
            with lock:
                errors.append(exc)

    share = total // threads
    start, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(threads):
            pool.submit(worker, share)
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    done = share * threads
    return done / elapsed, (time.process_time() - cpu) * 1000 / done


def _serve(port: int) -> None:
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _wait_listening(port: int, timeout: float = 15.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"the test server did not listen on {port}")


def _line(name: str, label: str, results: list[tuple[float, float]]) -> str:
    rates = [r for r, _ in results]
    cpu = statistics.median(c for _, c in results)
    return (
        f"{name:12s} {label}: median {statistics.median(rates):8.0f} req/s, "
        f"client CPU {cpu:.3f} ms/req (rounds: {', '.join(f'{r:.0f}' for r in rates)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()} nproc={os.cpu_count()} python={platform.python_version()}"
    )
    print(
        f"httpx {httpx.__version__}, urllib3 {urllib3.__version__}, requests {requests.__version__}"
        f", aiohttp {aiohttp.__version__}"
    )
    port = free_port()
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(port,), daemon=True)
    server.start()
    try:
        _wait_listening(port)
        url = f"http://127.0.0.1:{port}/deliver"
        for threads in (1, args.threads):
            for name, factory in CLIENTS.items():
                post, close = factory()
                try:
                    run(post, url, 200, threads)  # warm up connections
                    results = [run(post, url, args.requests, threads) for _ in range(args.rounds)]
                finally:
                    close()
                print(_line(name, f"threads={threads}", results))
            for name, afactory in ASYNC_CLIENTS.items():
                results = run_async_rounds(afactory, url, args.requests, threads, args.rounds)
                print(_line(name, f"tasks={threads}  ", results))
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    main()
