"""The benchmark run: every scenario in turn, the results JSON and the table in
docs/benchmarks.md. Exits non-zero, naming the scenario, if one lost or duplicated messages or
could not run."""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import accept, deploy, logstore, machine, report, sync

RESULTS = Path(__file__).parent / "results"
# Raw py-spy stacks (large, not committed); their summaries go into the results.
PROFILES = Path(".var/bench")


@dataclass(frozen=True)
class Plan:
    quick: bool
    ref_messages: int
    b1_seconds: float
    b2_seconds: float
    b3_seconds: float
    b7_seconds: float
    soap_calls: int
    log_entries: int
    log_lookups: int
    profile_seconds: float
    connections: int = 32


QUICK = Plan(True, 20000, 15, 20, 10, 8, 500, 200_000, 300, 8)
FULL = Plan(False, 50000, 60, 60, 30, 30, 2000, 1_000_000, 1000, 20)


def reference_publish(plan: Plan) -> dict[str, Any]:
    queue = f"lgspbench.reference.{int(time.time())}"
    with deploy.stack() as s:
        try:
            result = deploy.run_loadgen(
                s,
                {
                    "mode": "rabbit",
                    "url": deploy.BROKER_URL,
                    "queue": queue,
                    "count": plan.ref_messages,
                    "window": 1000,
                    "size": len(accept.dossier_body()),
                },
            )
        finally:
            _delete_queue(queue)
    if result["ok"] != plan.ref_messages:
        raise deploy.BenchFailure(f"reference publisher: {result}")
    return result


def _delete_queue(queue: str) -> None:
    import pika

    conn = pika.BlockingConnection(pika.URLParameters(deploy.BROKER_URL))
    try:
        conn.channel().queue_delete(queue)
    finally:
        conn.close()


def run(plan: Plan, only: set[str] | None) -> tuple[dict[str, Any], list[str]]:
    raw: dict[str, Any] = {}
    failures: list[str] = []
    RESULTS.mkdir(exist_ok=True)
    PROFILES.mkdir(parents=True, exist_ok=True)

    def step(name: str, fn: Any, *args: Any, **kw: Any) -> Any:
        started = time.monotonic()
        print(f"[bench] {name} ...", flush=True)
        try:
            value = fn(*args, **kw)
        except deploy.BenchFailure as exc:
            failures.append(f"{name}: {exc}")
            print(f"[bench] {name} FAILED: {exc}", flush=True)
            return {"error": str(exc)}
        except Exception as exc:
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
            traceback.print_exc()
            return {"error": f"{type(exc).__name__}: {exc}"}
        print(f"[bench] {name} done in {time.monotonic() - started:.0f} s", flush=True)
        return value

    def wanted(*ids: str) -> bool:
        return only is None or bool(only.intersection(ids))

    if wanted("B1", "B2", "B6", "B7"):
        raw["reference_publish"] = step(
            "B1 reference: raw RabbitMQ publishing", reference_publish, plan
        )
        raw["B1"] = step(
            "B1 durable accept (amqp, 1 API process)",
            accept.accept_run,
            transport="amqp",
            api_processes=1,
            drain_workers=1,
            connections=plan.connections,
            duration=plan.b1_seconds,
            warmup=200,
            profile_seconds=plan.profile_seconds,
            profile_out=PROFILES / "profile-B1-api.txt",
        )
    if wanted("B2"):
        b1_rate = raw.get("B1", {}).get("rate") or 100.0
        raw["B2"] = step(
            "B2 end to end at half of B1's rate",
            accept.end_to_end,
            rate=round(b1_rate / 2, 1),
            duration=plan.b2_seconds,
            connections=64,
            warmup=100,
            profile_seconds=plan.profile_seconds,
            profile_out=PROFILES / "profile-B2-worker.txt",
        )
    if wanted("B3", "B4"):
        raw["sync"] = step(
            "B3/B4 synchronous calls",
            sync.run,
            duration=plan.b3_seconds,
            connections=plan.connections,
            soap_calls=plan.soap_calls,
            profile_seconds=plan.profile_seconds,
            profile_out=PROFILES / "profile-B3-api.txt",
        )
    if wanted("B5"):
        raw["B5"] = step(
            f"B5 message log with {plan.log_entries:,} entries",
            logstore.run,
            plan.log_entries,
            plan.log_lookups,
        )
    if wanted("B7"):
        raw["B7"] = []
        for transport, api, workers in (("amqp", 2, 2), ("embedded", 1, 1), ("embedded", 1, 2)):
            raw["B7"].append(
                step(
                    f"B7 {transport}: {api} API process(es), drain with {workers} worker(s)",
                    accept.accept_run,
                    transport=transport,
                    api_processes=api,
                    drain_workers=workers,
                    connections=plan.connections,
                    duration=plan.b7_seconds,
                    warmup=100,
                )
            )
    return raw, failures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("run", help="run the benchmarks")
    cmd.add_argument("--quick", action="store_true", help="shorter runs, fewer log entries")
    cmd.add_argument("--only", help="comma-separated scenario ids, e.g. B1,B3 (for development)")
    cmd.add_argument("--no-write", action="store_true", help="do not touch the committed outputs")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    only = {x.strip().upper() for x in args.only.split(",")} if args.only else None
    started = time.monotonic()
    described = machine.describe()
    raw, failures = run(plan, only)
    results = report.build(plan, described, raw, failures)
    results["run"]["seconds"] = round(time.monotonic() - started)
    results["run"]["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    table = report.markdown(results)
    print(table)
    if not args.no_write:
        report.write(results, table, RESULTS / "latest.json", Path("docs/benchmarks.md"))
    try:
        deploy.drop_pg()
    except Exception as exc:
        print(f"[bench] could not drop the bench database: {exc}", file=sys.stderr)
    if failures:
        print("\nBENCHMARK FAILED:", file=sys.stderr)
        for failure in failures:
            print(f"  - {failure}", file=sys.stderr)
        sys.exit(1)
