"""The asynchronous scenarios: durable accept (B1), end to end at a fixed load (B2), memory
during B1 (B6) and the scaling runs (B7).

An accept run: a fresh PostgreSQL database, the sink, ``lgsp serve`` (1 or 2 processes), a warm-up,
a closed-loop load of ``connections`` senders for ``duration`` seconds with the CPU time of every
platform process read before and after, optionally a py-spy pass; then ``lgsp worker`` processes
drain the backlog to the sink and every accepted message is checked there and in the database.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import create_engine, text

from bench import deploy
from bench.deploy import BenchFailure, Stack
from bench.measure import latency_summary, percentile, summarize_profile
from lgsp.settings import PROJECT_ROOT

MARKER = "@@MAHOSO@@"
_sequences = itertools.count(0, 1_000_000)


def dossier_body() -> str:
    """The 2 KB dossier of the schema's example, addressed to the recipient; the dossier code is
    filled in per request by the load generator (each message its own dossier)."""
    payload = orjson.loads((PROJECT_ROOT / "schemas/dossier/examples/1.json").read_bytes())
    payload["MaHoSo"] = MARKER
    envelope = {"type": "dossier", "to": deploy.RECIPIENT, "payload": payload}
    return orjson.dumps(envelope).decode()


def send_spec(port: int, token: str, **kw: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "mode": "http",
        "port": port,
        "method": "POST",
        "path": "/v1/messages",
        "headers": {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        "body": dossier_body(),
        "template": {"marker": MARKER, "agency": deploy.SENDER, "start": next(_sequences)},
        "expect": [202],
        "collect_ids": True,
    }
    spec.update(kw)
    return spec


@dataclass
class Deployment:
    stack: Stack
    database_url: str
    port: int
    token: str
    env: dict[str, str]
    sink_url: str
    transport: str
    prefix: str
    accepted: dict[str, str] = field(default_factory=dict)  # id -> accepted_at
    http_errors: Counter[str] = field(default_factory=Counter)

    def record(self, result: dict[str, Any]) -> None:
        for message_id, at in result["ids"]:
            if message_id in self.accepted:
                raise BenchFailure(f"the platform answered the same id {message_id} twice")
            self.accepted[message_id] = at
        for status, n in result["statuses"].items():
            if status not in ("202",):
                self.http_errors[status] += n

    def sink_count(self) -> int:
        return int(httpx.get(self.sink_url + "/_count", timeout=10).json()["count"])

    def sink_records(self) -> list[tuple[str, float]]:
        return [tuple(r) for r in httpx.get(self.sink_url + "/_records", timeout=60).json()]  # type: ignore[misc]

    def sql(self, query: str) -> list[Any]:
        engine = create_engine(self.database_url.replace("postgresql://", "postgresql+psycopg://"))
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(query)))
        finally:
            engine.dispose()


def deploy_accept(
    s: Stack, *, transport: str, api_processes: int = 1, inprocess_workers: bool = False
) -> Deployment:
    database_url = deploy.recreate_pg()
    _, sink_url = deploy.start_server(s, "sink")
    province = deploy.write_province(s.workdir / "province", sink_url=sink_url, soap_wsdl=None)
    client_id, secret = deploy.prepare_database(database_url, province)
    port = deploy.free_port()
    prefix = f"lgspbench{uuid.uuid4().hex[:8]}"
    env = deploy.platform_env(
        database_url,
        port,
        province,
        broker=deploy.BROKER_URL if transport == "amqp" else None,
        amqp_prefix=prefix,
        inprocess_workers=inprocess_workers,
    )
    deploy.start_api(s, env, port, processes=api_processes, migrate=False)
    token = deploy.token(f"http://127.0.0.1:{port}", client_id, secret)
    return Deployment(s, database_url, port, token, env, sink_url, transport, prefix)


def drain(d: Deployment, workers: int, timeout: float) -> dict[str, Any]:
    """Start ``workers`` worker processes (none for in-process delivery), wait until the sink
    has every accepted message and nothing is open; CPU and time of the drain."""
    s = d.stack
    cpu0 = s.cpu_by_role()
    t0 = time.perf_counter()
    for _ in range(workers):
        deploy.start_worker(s, d.env)
    expected = len(d.accepted)
    deadline = time.monotonic() + timeout
    sampler = deploy.Sampler(s)
    while True:
        s.check_alive()
        sampler.sample()
        count = d.sink_count()
        if count >= expected:
            open_rows = d.sql(
                "SELECT count(*) FROM deliveries WHERE state IN ('pending', 'retrying')"
            )[0][0]
            if not open_rows:
                break
        if time.monotonic() > deadline:
            raise BenchFailure(
                f"drain timed out: the sink has {count} of {expected} messages "
                f"after {timeout:.0f} s"
            )
        time.sleep(0.1)
    elapsed = time.perf_counter() - t0
    cpu1 = s.cpu_by_role()
    cpu = {role: cpu1.get(role, 0.0) - cpu0.get(role, 0.0) for role in cpu1}
    return {
        "seconds": elapsed,
        "delivered": expected,
        "rate": expected / elapsed if elapsed else 0.0,
        "cpu_seconds": cpu,
        "peak_rss": sampler.peak,
    }


def verify(d: Deployment, *, settle: float = 1.0) -> dict[str, Any]:
    """Every accepted message reached the sink exactly once and is delivered in the database;
    raises BenchFailure otherwise."""
    time.sleep(settle)  # a duplicate still in flight would arrive now
    records = d.sink_records()
    seen = Counter(message_id for message_id, _ in records)
    expected = set(d.accepted)
    lost = expected - set(seen)
    duplicated = {m: n for m, n in seen.items() if n > 1}
    unknown = set(seen) - expected
    states = dict(d.sql("SELECT state, count(*) FROM deliveries GROUP BY state"))
    messages = d.sql("SELECT count(*) FROM messages")[0][0]
    problems = []
    if lost:
        problems.append(f"{len(lost)} accepted messages never reached the sink (e.g. {min(lost)})")
    if duplicated:
        example = next(iter(duplicated.items()))
        problems.append(f"{len(duplicated)} messages reached the sink more than once {example}")
    if unknown:
        problems.append(f"{len(unknown)} messages at the sink were never accepted")
    if messages != len(expected):
        problems.append(f"{messages} messages in the database, {len(expected)} accepted")
    if states != {"delivered": len(expected)}:
        problems.append(f"delivery states {states}, expected all {len(expected)} delivered")
    if problems:
        raise BenchFailure("; ".join(problems))
    return {"messages": len(expected), "sink_copies": len(records), "states": states}


def accept_run(
    *,
    transport: str,
    api_processes: int,
    drain_workers: int,
    connections: int,
    duration: float,
    warmup: int,
    profile_seconds: float = 0.0,
    profile_out: Path | None = None,
) -> dict[str, Any]:
    with deploy.stack() as s:
        d = deploy_accept(s, transport=transport, api_processes=api_processes)
        d.record(deploy.run_loadgen(s, send_spec(d.port, d.token, connections=8, count=warmup)))
        sampler = deploy.Sampler(s)
        cpu0 = s.cpu_by_role()
        result = deploy.run_loadgen(
            s,
            send_spec(d.port, d.token, connections=connections, duration=duration),
            sampler=sampler,
        )
        cpu1 = s.cpu_by_role()
        d.record(result)
        s.check_alive()
        api_cpu = cpu1["api"] - cpu0["api"]
        out: dict[str, Any] = {
            "transport": transport,
            "api_processes": api_processes,
            "connections": connections,
            "duration_s": round(result["elapsed"], 2),
            "accepted": result["ok"],
            "rate": result["rate"],
            "http_errors": {k: v for k, v in result["statuses"].items() if k != "202"},
            "error_samples": result["errors"][:3],
            "latency": latency_summary(result["latencies_ms"]),
            "api_cpu_ms_per_accepted": 1000 * api_cpu / max(1, result["ok"]),
            "api_cpu_utilisation": api_cpu / result["elapsed"],
            "peak_rss": dict(sampler.peak),
        }
        if profile_seconds and profile_out is not None:
            spec = send_spec(d.port, d.token, connections=connections, duration=profile_seconds)
            out["profile"] = _profile_pass(d, "api", profile_seconds, profile_out, spec)
        drained = drain(d, drain_workers, timeout=max(120.0, len(d.accepted) / 20))
        out["peak_rss"].update(drained["peak_rss"])
        out["drain"] = {
            "workers": drain_workers,
            "delivered": drained["delivered"],
            "seconds": round(drained["seconds"], 2),
            "rate": drained["rate"],
            "cpu_ms_per_delivered": 1000
            * sum(drained["cpu_seconds"].values())
            / max(1, drained["delivered"]),
            "cpu_seconds_by_role": {k: round(v, 2) for k, v in drained["cpu_seconds"].items()},
        }
        out["correctness"] = verify(d)
        if d.http_errors:
            out["correctness"]["http_errors"] = dict(d.http_errors)
        if transport == "amqp":
            deploy.delete_amqp(d.prefix, [deploy.RECIPIENT, deploy.PROVIDER])
        return out


def _profile_pass(
    d: Deployment, role: str, seconds: float, out: Path, spec: dict[str, Any]
) -> dict[str, Any]:
    """A separate load (``spec``) while py-spy samples the first ``role`` process: not during
    the measured window, where the sampler's own cost would distort the figure."""
    import threading

    process = next(p for p in d.stack.procs if p.role == role)
    holder: dict[str, Any] = {}

    def spy() -> None:
        holder["path"] = deploy.profile(process.popen.pid, seconds, out, subprocesses=True)

    thread = threading.Thread(target=spy)
    thread.start()
    time.sleep(0.5)
    d.record(deploy.run_loadgen(d.stack, spec))
    thread.join()
    path = holder.get("path")
    if path is None:
        return {"error": "py-spy could not sample the process"}
    return {"file": str(out.name), **summarize_profile(path)}


def end_to_end(
    *,
    rate: float,
    duration: float,
    connections: int,
    warmup: int,
    profile_seconds: float = 0.0,
    profile_out: Path | None = None,
) -> dict[str, Any]:
    """B2: API and one worker running, a fixed offered load; accept-to-delivery latency from the
    database (accepted_at to finished_at) and at the sink; the backlog sampled every 0.5 s; then,
    with ``profile_seconds``, a separate pass profiling the worker."""
    import threading

    with deploy.stack() as s:
        d = deploy_accept(s, transport="amqp")
        deploy.start_worker(s, d.env)
        d.record(deploy.run_loadgen(s, send_spec(d.port, d.token, connections=8, count=warmup)))
        drain(d, 0, timeout=60)
        warm_ids = set(d.accepted)
        backlog: list[tuple[float, int]] = []
        stop = threading.Event()
        engine = create_engine(d.database_url.replace("postgresql://", "postgresql+psycopg://"))

        def watch() -> None:
            t0 = time.perf_counter()
            with engine.connect() as conn:
                while not stop.is_set():
                    n = conn.execute(
                        text(
                            "SELECT count(*) FROM deliveries WHERE state IN ('pending','retrying')"
                        )
                    ).scalar_one()
                    conn.commit()
                    backlog.append((time.perf_counter() - t0, int(n)))
                    stop.wait(0.5)

        watcher = threading.Thread(target=watch)
        cpu0 = s.cpu_by_role()
        watcher.start()
        sampler = deploy.Sampler(s)
        result = deploy.run_loadgen(
            s,
            send_spec(d.port, d.token, connections=connections, duration=duration, rate=rate),
            sampler=sampler,
        )
        d.record(result)
        end_backlog = backlog[-1][1] if backlog else 0
        drained = drain(d, 0, timeout=120)
        stop.set()
        watcher.join()
        engine.dispose()
        cpu1 = s.cpu_by_role()
        cpu = sum(cpu1.values()) - sum(cpu0.values())
        correctness = verify(d)
        rows = d.sql(
            "SELECT m.id, m.accepted_at, d.finished_at FROM messages m "
            "JOIN deliveries d ON d.message_id = m.id"
        )
        measured = [r for r in rows if r[0] not in warm_ids]
        profile = None
        if profile_seconds and profile_out is not None:
            # The same offered load again, the worker sampled; its deliveries drain afterwards
            # and are not in the figures above.
            spec = send_spec(
                d.port, d.token, connections=connections, duration=profile_seconds, rate=rate
            )
            profile = _profile_pass(d, "worker", profile_seconds, profile_out, spec)
            drain(d, 0, timeout=120)
        db_latency = [(r[2] - r[1]).total_seconds() * 1000 for r in measured]
        accepted_at = {r[0]: r[1].timestamp() for r in measured}
        sink_latency = [
            (t - accepted_at[m]) * 1000 for m, t in d.sink_records() if m in accepted_at
        ]
        deploy.delete_amqp(d.prefix, [deploy.RECIPIENT, deploy.PROVIDER])
        n = len(measured)
        half = len(backlog) // 2
        first = [b for _, b in backlog[:half]] or [0]
        second = [b for _, b in backlog[half:]] or [0]
        return {
            "offered_rate": rate,
            "achieved_rate": result["ok"] / result["elapsed"],
            "duration_s": round(result["elapsed"], 2),
            "messages": n,
            "http_errors": {k: v for k, v in result["statuses"].items() if k != "202"},
            "accept_latency": latency_summary(result["latencies_ms"]),
            "delivery_latency_db": latency_summary(db_latency),
            "delivery_latency_sink": latency_summary(sink_latency),
            "backlog": {
                "mean_first_half": sum(first) / len(first),
                "mean_second_half": sum(second) / len(second),
                "max": max(b for _, b in backlog) if backlog else 0,
                "at_end_of_load": end_backlog,
                "drain_after_load_s": round(drained["seconds"], 2),
                "p99": percentile([float(b) for _, b in backlog], 99),
            },
            "cpu_ms_per_message": 1000 * cpu / max(1, n),
            "cpu_seconds_by_role": {k: round(cpu1[k] - cpu0.get(k, 0.0), 2) for k in cpu1},
            "peak_rss": sampler.peak,
            "correctness": correctness,
            **({"profile": profile} if profile is not None else {}),
        }


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
