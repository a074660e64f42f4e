"""Servers the scenarios talk to, each run as its own process (``python -m bench.servers``):

    sink         the REST recipient: POST /deliver records (message id, arrival time); GET
                 /_records returns them; POST /lookup answers a 1 KB JSON document (the REST
                 provider of the synchronous-call scenario)
    passthrough  the B3 reference: a bare FastAPI app that forwards POST /lookup to the sink's
                 /lookup with urllib3 (the client the REST adapter uses, chosen by measurement)
    aiopass      the fastest Python passthrough measured here: aiohttp's server and client on
                 one event loop (uvloop when installed) forwarding POST /lookup's bytes
    soap         the land registry SOAP service of the adapter test kit (B4's provider)

nginx proxy_pass, the non-Python reference, is started by bench.deploy.start_nginx.

All listen on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import orjson
import uvicorn

LOOPBACK = "127.0.0.1"

# The synchronous call's reply: a 1 KB JSON document.
LOOKUP_REPLY = orjson.dumps(
    {
        "SoPhatHanh": "CY 000123",
        "ThuaDatSo": "125",
        "DienTich": 152.5,
        "GhiChu": "x" * 950,
    }
)
assert 1000 <= len(LOOKUP_REPLY) <= 1100


async def _read_body(receive: Any) -> bytes:
    chunks, more = [], True
    while more:
        event = await receive()
        chunks.append(event.get("body", b""))
        more = event.get("more_body", False)
    return b"".join(chunks)


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        event = await receive()
        if event["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif event["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def sink_app() -> Any:
    """A raw ASGI app (no framework) so the sink costs as little CPU as possible."""
    records: list[tuple[str, float]] = []
    json_headers = [(b"content-type", b"application/json")]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        body = await _read_body(receive)
        path, method = scope["path"], scope["method"]
        status, reply = 404, b'{"detail":"no such path"}'
        if method == "POST" and path == "/deliver":
            message_id = ""
            for key, value in scope["headers"]:
                if key == b"x-lgsp-message-id":
                    message_id = value.decode("latin-1")
            if not message_id or not body:
                status, reply = 400, b'{"detail":"no message id or body"}'
            else:
                records.append((message_id, time.time()))
                status, reply = 201, b'{"ok":true}'
        elif method == "POST" and path == "/lookup":
            status, reply = 200, LOOKUP_REPLY
        elif method == "GET" and path == "/_count":
            status, reply = 200, orjson.dumps({"count": len(records)})
        elif method == "GET" and path == "/_records":
            status, reply = 200, orjson.dumps(records)
        elif method == "POST" and path == "/_reset":
            records.clear()
            status, reply = 200, b"{}"
        elif method == "GET" and path == "/healthz":
            status, reply = 200, b"{}"
        await send({"type": "http.response.start", "status": status, "headers": json_headers})
        await send({"type": "http.response.body", "body": reply})

    return app


def passthrough_app(upstream: str) -> Any:
    """What a hand-written proxy in FastAPI looks like: parse the JSON request, forward it with a
    pooled urllib3 client from the thread pool (as the platform's REST adapter does), return the
    upstream's bytes."""
    import urllib3
    from fastapi import Body, FastAPI
    from fastapi.responses import Response

    pool = urllib3.PoolManager(maxsize=64, retries=False, timeout=urllib3.Timeout(10.0))
    app = FastAPI()

    @app.post("/lookup")
    def lookup(payload: dict[str, Any] = Body(...)) -> Response:
        reply = pool.request(
            "POST",
            upstream + "/lookup",
            body=orjson.dumps(payload),
            headers={"Content-Type": "application/json"},
        )
        return Response(reply.data, status_code=reply.status, media_type="application/json")

    @app.get("/healthz")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def run_aiohttp_passthrough(port: int, upstream: str) -> None:
    """Forward POST /lookup to the upstream with one pooled aiohttp client session: no JSON
    parsing, no framework beyond aiohttp's own server. The ceiling for a Python passthrough."""
    from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        pass

    async def make_app() -> web.Application:
        app = web.Application()

        async def session_ctx(app: web.Application) -> Any:
            connector = TCPConnector(limit=64, keepalive_timeout=30)
            async with ClientSession(connector=connector, timeout=ClientTimeout(10)) as session:
                app["session"] = session
                yield

        app.cleanup_ctx.append(session_ctx)

        async def lookup(request: web.Request) -> web.Response:
            body = await request.read()
            async with request.app["session"].post(
                upstream + "/lookup", data=body, headers={"Content-Type": "application/json"}
            ) as reply:
                data = await reply.read()
                return web.Response(body=data, status=reply.status, content_type="application/json")

        async def health(request: web.Request) -> web.Response:
            return web.json_response({"status": "ok"})

        app.router.add_post("/lookup", lookup)
        app.router.add_get("/healthz", health)
        return app

    web.run_app(
        make_app(),
        host=LOOPBACK,
        port=port,
        access_log=None,
        print=None,
    )


def soap_app() -> Any:
    from lgsp_testkit.soap_service import LandRegistryService

    inner = LandRegistryService().asgi_app()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/healthz":
            await _read_body(receive)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})
            return
        await inner(scope, receive, send)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["sink", "passthrough", "aiopass", "soap"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", default="")
    args = parser.parse_args()
    if args.kind == "aiopass":
        run_aiohttp_passthrough(args.port, args.upstream)
        return
    if args.kind == "sink":
        app = sink_app()
    elif args.kind == "passthrough":
        app = passthrough_app(args.upstream)
    else:
        app = soap_app()
    uvicorn.run(
        app,
        host=LOOPBACK,
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="on" if args.kind == "sink" else "auto",
    )


if __name__ == "__main__":
    main()
