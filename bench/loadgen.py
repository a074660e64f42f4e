"""Load generators, each run as a separate process: ``python -m bench.loadgen SPEC.json``.

The spec's ``mode`` picks one:

    http    keep-alive HTTP/1.1 over raw asyncio streams (uvloop), closed loop (``connections``
            requests in flight) or open loop (``rate`` requests per second, latency measured
            from the scheduled send time so a stalled server cannot hide its queueing); bounded
            by ``duration`` seconds and/or ``count`` requests
    zeep    the same SOAP call made directly with zeep, one at a time (B4's reference)
    rabbit  raw RabbitMQ persistent publishing with pipelined publisher confirms (B1's reference)

Results are written as JSON to ``spec["out"]``. A hand-rolled HTTP client keeps the generator's
own CPU small: on a two-core machine every cycle it spends is taken from the platform.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

# Dossier codes {agency}-{yyMMdd}-{NNNN}: 10,000 per day, so the day moves on every 10,000.
_BASE_DAY = date(2026, 1, 1)


def dossier_code(agency: str, seq: int) -> str:
    day = _BASE_DAY + timedelta(days=seq // 10000)
    return f"{agency}-{day:%y%m%d}-{seq % 10000:04d}"


class _Request:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.method = spec.get("method", "POST")
        self.path = spec["path"]
        self.port = int(spec["port"])
        self.headers = spec.get("headers", {})
        self.body = spec.get("body", "").encode()
        template = spec.get("template")
        self.marker = template["marker"].encode() if template else None
        self.agency = template["agency"] if template else ""
        self.seq = int(template["start"]) if template else 0

    def next(self) -> bytes:
        body = self.body
        if self.marker is not None:
            body = body.replace(self.marker, dossier_code(self.agency, self.seq).encode())
            self.seq += 1
        head = [f"{self.method} {self.path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        head += [f"{k}: {v}" for k, v in self.headers.items()]
        if body or self.method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
) -> tuple[int, bytes]:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.index(b"\r\n", at + 2)
        body = await reader.readexactly(int(lower[at + 17 : end]))
    elif b"transfer-encoding: chunked" in lower:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            parts.append(chunk[:-2])
        body = b"".join(parts)
    else:
        body = b""
    return status, body


async def run_http(spec: dict[str, Any]) -> dict[str, Any]:
    request = _Request(spec)
    connections = int(spec.get("connections", 1))
    duration = float(spec.get("duration", 0)) or None
    count = spec.get("count")
    rate = spec.get("rate")
    expect = set(spec.get("expect", [200]))
    collect = bool(spec.get("collect_ids"))
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    ids: list[tuple[str, str]] = []
    errors: list[str] = []
    issued = 0
    start = time.perf_counter()
    deadline = start + duration if duration else float("inf")
    slots: asyncio.Queue[float] | None = None

    def take() -> bool:
        nonlocal issued
        if count is not None and issued >= count:
            return False
        issued += 1
        return True

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", request.port)
        try:
            while True:
                if slots is not None:
                    scheduled = await slots.get()
                    if scheduled < 0:
                        return
                else:
                    if time.perf_counter() >= deadline or not take():
                        return
                    scheduled = time.perf_counter()
                raw = request.next()
                try:
                    status, body = await _exchange(reader, writer, raw)
                except (OSError, asyncio.IncompleteReadError) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    statuses[0] += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", request.port)
                    continue
                latencies.append(time.perf_counter() - scheduled)
                statuses[status] += 1
                if status in expect:
                    if collect:
                        doc = orjson.loads(body)
                        ids.append((doc["id"], doc.get("accepted_at", "")))
                elif len(errors) < 20:
                    errors.append(f"{status}: {body[:300]!r}")
        finally:
            writer.close()

    tasks = [asyncio.create_task(connection()) for _ in range(connections)]
    if rate:
        # Open loop: a scheduler hands out send times; connections take them when free.
        slots = asyncio.Queue()
        interval = 1.0 / float(rate)
        n = 0
        while True:
            at = start + n * interval
            if at >= deadline or not take():
                break
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            slots.put_nowait(at)
            n += 1
        for _ in range(connections):
            slots.put_nowait(-1.0)
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    ok = sum(n for s, n in statuses.items() if s in expect)
    return {
        "ok": ok,
        "requests": sum(statuses.values()),
        "statuses": {str(k): v for k, v in statuses.items()},
        "elapsed": elapsed,
        "rate": ok / elapsed if elapsed else 0.0,
        "latencies_ms": [round(x * 1000, 3) for x in latencies],
        "ids": ids,
        "errors": errors[:20],
    }


def run_zeep(spec: dict[str, Any]) -> dict[str, Any]:
    import zeep

    client = zeep.Client(spec["wsdl"])
    args = spec.get("args", {})
    operation = getattr(client.service, spec["operation"])
    for _ in range(int(spec.get("warmup", 20))):
        operation(**args)
    latencies = []
    start = time.perf_counter()
    for _ in range(int(spec["count"])):
        t0 = time.perf_counter()
        reply = operation(**args)
        latencies.append(time.perf_counter() - t0)
        if not reply or not getattr(reply, "Found", None):
            raise AssertionError(f"unexpected SOAP reply {reply!r}")
    elapsed = time.perf_counter() - start
    return {
        "ok": len(latencies),
        "elapsed": elapsed,
        "rate": len(latencies) / elapsed,
        "latencies_ms": [round(x * 1000, 3) for x in latencies],
    }


def run_rabbit(spec: dict[str, Any]) -> dict[str, Any]:
    """Publish ``count`` persistent messages of ``size`` bytes to a quorum queue (the queue type
    the platform declares per recipient), keeping ``window`` unconfirmed at a time."""
    import pika

    total, window, queue = int(spec["count"]), int(spec["window"]), spec["queue"]
    payload = b"x" * int(spec["size"])
    properties = pika.BasicProperties(delivery_mode=2, content_type="application/json")
    state = {"sent": 0, "acked": 0, "nacked": 0, "start": 0.0, "end": 0.0}
    params = pika.URLParameters(spec["url"])
    connection: Any = None

    def publish_more(channel: Any) -> None:
        while state["sent"] < total and state["sent"] - state["acked"] - state["nacked"] < window:
            channel.basic_publish("", queue, payload, properties)
            state["sent"] += 1

    seen = bytearray(total + 2)
    low = [0]  # every tag up to here is confirmed

    def on_confirm(frame: Any, channel: Any) -> None:
        method = frame.method
        nack = isinstance(method, pika.spec.Basic.Nack)
        tags = (
            range(low[0] + 1, method.delivery_tag + 1) if method.multiple else [method.delivery_tag]
        )
        for tag in tags:
            if not seen[tag]:
                seen[tag] = 1
                state["nacked" if nack else "acked"] += 1
        if method.multiple:
            low[0] = max(low[0], method.delivery_tag)
        if state["acked"] + state["nacked"] >= total:
            state["end"] = time.perf_counter()
            connection.close()
            return
        publish_more(channel)

    def on_declared(_frame: Any, channel: Any) -> None:
        state["start"] = time.perf_counter()
        publish_more(channel)

    def on_channel(channel: Any) -> None:
        channel.confirm_delivery(lambda frame: on_confirm(frame, channel))
        channel.queue_declare(
            queue,
            durable=True,
            arguments={"x-queue-type": "quorum"},
            callback=lambda frame: on_declared(frame, channel),
        )

    connection = pika.SelectConnection(
        params,
        on_open_callback=lambda conn: conn.channel(on_open_callback=on_channel),
        on_open_error_callback=lambda conn, exc: conn.ioloop.stop(),
        on_close_callback=lambda conn, reason: conn.ioloop.stop(),
    )
    connection.ioloop.start()
    elapsed = state["end"] - state["start"]
    return {
        "ok": state["acked"],
        "nacked": state["nacked"],
        "elapsed": elapsed,
        "rate": state["acked"] / elapsed if elapsed > 0 else 0.0,
    }


def main() -> None:
    spec = orjson.loads(Path(sys.argv[1]).read_bytes())
    mode = spec["mode"]
    if mode == "http":
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        result = asyncio.run(run_http(spec))
    elif mode == "zeep":
        result = run_zeep(spec)
    elif mode == "rabbit":
        result = run_rabbit(spec)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    Path(spec["out"]).write_bytes(orjson.dumps(result))


if __name__ == "__main__":
    main()
