"""The synchronous scenarios: a mediated REST call (B3) against a bare FastAPI passthrough, and
a SOAP mediation (B4) against the same call made directly with zeep."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import orjson

from bench import deploy
from bench.deploy import BenchFailure, Stack
from bench.measure import latency_summary, percentile, summarize_profile

LOOKUP_REQUEST = orjson.dumps({"SoPhatHanh": "CY 000123", "MaHoSo": "000.00.01.H56-260101-0001"})


def _call_spec(port: int, path: str, token: str | None, body: bytes, **kw: Any) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return {
        "mode": "http",
        "port": port,
        "method": "POST",
        "path": path,
        "headers": headers,
        "body": body.decode(),
        "expect": [200],
        **kw,
    }


def _closed_loop(
    s: Stack, spec: dict[str, Any], duration: float, connections: int
) -> dict[str, Any]:
    deploy.run_loadgen(s, {**spec, "connections": connections, "count": 300})  # warm-up
    cpu0 = s.cpu_by_role()
    result = deploy.run_loadgen(s, {**spec, "connections": connections, "duration": duration})
    cpu1 = s.cpu_by_role()
    if result["ok"] != result["requests"]:
        raise BenchFailure(f"calls failed: {result['statuses']} {result['errors'][:3]}")
    cpu = sum(cpu1.values()) - sum(cpu0.values())
    return {
        "rate": result["rate"],
        "calls": result["ok"],
        "latency": latency_summary(result["latencies_ms"]),
        "cpu_ms_per_call": 1000 * cpu / max(1, result["ok"]) if cpu1 else None,
    }


def run(
    *,
    duration: float,
    connections: int,
    soap_calls: int,
    profile_seconds: float = 0.0,
    profile_out: Path | None = None,
) -> dict[str, Any]:
    with deploy.stack() as s:
        _, sink_url = deploy.start_server(s, "sink")
        _, soap_url = deploy.start_server(s, "soap")
        wsdl = soap_url + "/land-registry?wsdl"
        # The references, each in front of the same upstream and measured like the platform:
        # FastAPI + urllib3 (a hand-written Python proxy), aiohttp server + client (the fastest
        # Python passthrough measured here) and nginx proxy_pass (when installed).
        references: dict[str, dict[str, Any]] = {}
        for kind, name in (("passthrough", "fastapi_urllib3"), ("aiopass", "aiohttp")):
            proc, url = deploy.start_server(s, kind, "--upstream", sink_url)
            references[name] = _reference(s, proc, url, duration, connections)
        nginx = deploy.start_nginx(s, sink_url, workers=1)
        if nginx is not None:
            references["nginx"] = _reference(s, *nginx, duration, connections)
        fastest = max(references, key=lambda name: references[name]["rate"])

        database_url = deploy.recreate_pg()
        province = deploy.write_province(s.workdir / "province", sink_url=sink_url, soap_wsdl=wsdl)
        client_id, secret = deploy.prepare_database(database_url, province)
        port = deploy.free_port()
        env = deploy.platform_env(database_url, port, province, inprocess_workers=False)
        deploy.start_api(s, env, port, migrate=False)
        token = deploy.token(f"http://127.0.0.1:{port}", client_id, secret)
        rest_path = f"/v1/services/{deploy.PROVIDER}/{deploy.REST_SERVICE}"
        platform = _closed_loop(
            s, _call_spec(port, rest_path, token, LOOKUP_REQUEST), duration, connections
        )

        profile: dict[str, Any] | None = None
        if profile_seconds and profile_out is not None:
            api = next(p for p in s.procs if p.role == "api")
            profile = _profile_pass(
                s,
                api.popen.pid,
                _call_spec(port, rest_path, token, LOOKUP_REQUEST, connections=connections),
                profile_seconds,
                profile_out,
            )

        # B4: one call at a time, so the figure is the added latency, not queueing.
        soap_path = f"/v1/services/{deploy.LAND}/{deploy.SOAP_SERVICE}"
        soap_body = orjson.dumps({"SoPhatHanh": "CY 000123"})
        mediated = deploy.run_loadgen(
            s, _call_spec(port, soap_path, token, soap_body, connections=1, count=soap_calls + 50)
        )
        if mediated["ok"] != mediated["requests"]:
            raise BenchFailure(
                f"SOAP calls failed: {mediated['statuses']} {mediated['errors'][:3]}"
            )
        direct = deploy.run_loadgen(
            s,
            {
                "mode": "zeep",
                "wsdl": wsdl,
                "operation": "LookupCertificate",
                "args": {"SoPhatHanh": "CY 000123"},
                "count": soap_calls,
                "warmup": 50,
            },
        )
        mediated_ms = mediated["latencies_ms"][50:]
        b3 = {
            "connections": connections,
            "platform": platform,
            "references": references,
            "fastest_reference": fastest,
            "reference_fastapi_urllib3": references["fastapi_urllib3"],
            "profile": profile,
            "nginx_note": "nginx proxy_pass (1 worker process) measured"
            if "nginx" in references
            else "nginx is not installed on this machine: no proxy_pass reference "
            "(bench/setup.sh installs it)",
        }
        b4 = {
            "calls": soap_calls,
            "mediated": latency_summary(mediated_ms),
            "direct_zeep": latency_summary(direct["latencies_ms"]),
            "added_p50_ms": round(
                (percentile(mediated_ms, 50) or 0) - (percentile(direct["latencies_ms"], 50) or 0),
                3,
            ),
        }
        return {"B3": b3, "B4": b4}


def _reference(
    s: Stack, proc: deploy.Proc, url: str, duration: float, connections: int
) -> dict[str, Any]:
    """One reference passthrough measured like the platform (its CPU counted), then stopped."""
    proc.platform = True
    port = int(url.rsplit(":", 1)[1])
    result = _closed_loop(
        s, _call_spec(port, "/lookup", None, LOOKUP_REQUEST), duration, connections
    )
    s.stop(proc)
    proc.platform = False
    return result


def _profile_pass(
    s: Stack, pid: int, spec: dict[str, Any], seconds: float, out: Path
) -> dict[str, Any]:
    holder: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: holder.update(path=deploy.profile(pid, seconds, out, subprocesses=True))
    )
    thread.start()
    time.sleep(0.5)
    deploy.run_loadgen(s, {**spec, "duration": seconds})
    thread.join()
    path = holder.get("path")
    if path is None:
        return {"error": "py-spy could not sample the process"}
    return {"file": out.name, **summarize_profile(path)}
