"""Standing up what a scenario measures: a database, the bench province, platform processes
(``lgsp serve`` / ``lgsp worker`` as subprocesses configured through ``LGSP_*`` variables),
helper servers, and the measuring of their CPU time and memory from /proc (psutil)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import create_engine, text

from lgsp.settings import PROJECT_ROOT

PG_ADMIN_URL = os.environ.get(
    "BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PG_DB = "lgsp_bench"
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
SECRET = "bench-secret-key-0123456789abcdef0123456789"
LGSP = str(Path(sys.executable).parent / "lgsp")
PYTHON = sys.executable

SENDER = "000.00.01.H56"  # the one-stop office: sends dossiers, calls services
RECIPIENT = "000.00.16.H56"  # Department of Justice: receives dossiers at the sink (REST push)
PROVIDER = "000.00.13.H56"  # Information and Communications: a REST service (B3)
LAND = "000.01.12.H56"  # Land registration office: the SOAP service (B4)
REST_SERVICE = "TraCuu"
SOAP_SERVICE = "LookupCertificate"


class BenchFailure(Exception):
    """A scenario lost or duplicated messages, or could not run: the run fails loudly."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_province(directory: Path, *, sink_url: str, soap_wsdl: str | None) -> Path:
    """The bench province: a sender, one REST recipient (the sink), a REST service and a SOAP
    service provider (only with ``soap_wsdl``: the platform loads the WSDL at start-up)."""
    directory.mkdir(parents=True, exist_ok=True)
    land = f"""
  - code: "{LAND}"
    name_vi: "Văn phòng Đăng ký đất đai"
    name_en: "Land Registration Office"
    kind: land_registry
    endpoint:
      mode: push
      adapter: soap
      settings: {{wsdl: "{soap_wsdl}", operation: ReceiveDossier, payload_param: Dossier}}
      timeout_seconds: 10
"""
    land_service = f"""
  - provider: "{LAND}"
    name: {SOAP_SERVICE}
    description: "Certificate look-up over SOAP"
    operation: {{operation: LookupCertificate}}
    timeout_seconds: 10
"""
    files = {
        "province.yaml": """
province: {code: H56, name_vi: "Hà Lam", name_en: "Ha Lam", timezone: Asia/Ho_Chi_Minh}
""",
        "agencies.yaml": f"""
agencies:
  - code: "{SENDER}"
    name_vi: "Trung tâm Phục vụ hành chính công"
    name_en: "One-stop office"
    kind: one_stop_office
  - code: "{RECIPIENT}"
    name_vi: "Sở Tư pháp"
    name_en: "Department of Justice"
    kind: department
    endpoint:
      mode: push
      adapter: rest
      settings: {{url: "{sink_url}", path: /deliver}}
      timeout_seconds: 10
  - code: "{PROVIDER}"
    name_vi: "Sở Thông tin và Truyền thông"
    name_en: "Department of Information and Communications"
    kind: department
    endpoint:
      mode: push
      adapter: rest
      settings: {{url: "{sink_url}"}}
      timeout_seconds: 10
"""
        + (land if soap_wsdl else ""),
        "message-types.yaml": """
message_types:
  dossier: {schema_id: dossier/1, description: "One-stop dossier", correlation_pointer: /MaHoSo}
""",
        "grants.yaml": f"""
grants:
  - {{agency: "{SENDER}", send: [dossier], to: ["{RECIPIENT}"]}}
  - {{agency: "{SENDER}", call: ["{PROVIDER}/{REST_SERVICE}"]}}
"""
        + (f'  - {{agency: "{SENDER}", call: ["{LAND}/{SOAP_SERVICE}"]}}\n' if soap_wsdl else ""),
        "services.yaml": f"""
services:
  - provider: "{PROVIDER}"
    name: {REST_SERVICE}
    description: "A look-up answering 1 KB of JSON"
    operation: {{method: POST, path: /lookup}}
    timeout_seconds: 10
"""
        + (land_service if soap_wsdl else ""),
    }
    for name, body in files.items():
        (directory / name).write_text(body.lstrip(), "utf-8")
    return directory


# --- databases ---------------------------------------------------------------------------------


def pg_url(name: str = PG_DB) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def recreate_pg(name: str = PG_DB) -> str:
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return pg_url(name)


def drop_pg(name: str = PG_DB) -> None:
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def prepare_database(database_url: str, province: Path) -> tuple[str, str]:
    """Migrate, apply the province, create the sender's client; returns (client_id, secret)."""
    from lgsp.admin.clients import create_client
    from lgsp.admin.province import apply
    from lgsp.directory.config import load_config
    from lgsp.kit import migrate
    from lgsp.kit.db import make_engine, make_sessionmaker

    migrate.upgrade(database_url)
    engine = make_engine(database_url, pool_size=1)
    sessions = make_sessionmaker(engine)
    apply(sessions, load_config(province), actor="bench")
    client, secret = create_client(
        sessions, SENDER, ["messages:send", "messages:read", "services:call"], name="bench"
    )
    client_id = client.client_id
    engine.dispose()
    return client_id, secret


def delete_amqp(prefix: str, agencies: list[str]) -> None:
    """Remove the exchanges and queues a run declared under ``prefix``."""
    import pika

    try:
        connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
    except Exception:
        return
    try:
        for queue in [f"{prefix}.deliver.{a}" for a in agencies] + [f"{prefix}.dead-letters"]:
            channel = connection.channel()
            with suppress(Exception):
                channel.queue_delete(queue)
        for exchange in (f"{prefix}.deliver", f"{prefix}.dead"):
            channel = connection.channel()
            with suppress(Exception):
                channel.exchange_delete(exchange)
    finally:
        with suppress(Exception):
            connection.close()


# --- processes ---------------------------------------------------------------------------------


@dataclass
class Proc:
    role: str  # api, worker, sink, soap, passthrough, loadgen
    popen: subprocess.Popen[bytes]
    log: Path
    platform: bool  # counted in the platform's CPU and memory

    def tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.popen.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.tree():
            try:
                t = proc.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def rss_each(self) -> list[int]:
        out = []
        for proc in self.tree():
            with suppress(psutil.NoSuchProcess):
                out.append(proc.memory_info().rss)
        return out

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Stack:
    """The processes of one scenario; everything started here is stopped on exit."""

    workdir: Path
    procs: list[Proc] = field(default_factory=list)

    def start(
        self,
        role: str,
        args: list[str],
        *,
        env: dict[str, str] | None = None,
        platform: bool = False,
        health: str | None = None,
    ) -> Proc:
        log = self.workdir / f"{role}-{len(self.procs)}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                args,
                cwd=PROJECT_ROOT,
                env=env or dict(os.environ),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Proc(role, popen, log, platform)
        self.procs.append(proc)
        if health is not None:
            wait_healthy(health, proc)
        return proc

    def platform_procs(self) -> list[Proc]:
        return [p for p in self.procs if p.platform and p.popen.poll() is None]

    def cpu_by_role(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for p in self.procs:
            if p.platform:
                out[p.role] = out.get(p.role, 0.0) + p.cpu_seconds()
        return out

    def stop(self, proc: Proc, timeout: float = 20.0) -> None:
        if proc.popen.poll() is None:
            os.killpg(proc.popen.pid, signal.SIGTERM)
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait(10)

    def close(self) -> None:
        for proc in reversed(self.procs):
            with suppress(ProcessLookupError):
                self.stop(proc)

    def check_alive(self) -> None:
        for p in self.procs:
            code = p.popen.poll()
            if code is not None and p.role != "loadgen":
                raise BenchFailure(f"{p.role} process exited with {code}:\n{p.tail()}")


@contextmanager
def stack() -> Iterator[Stack]:
    workdir = Path(tempfile.mkdtemp(prefix="lgsp-bench-"))
    s = Stack(workdir)
    try:
        yield s
    finally:
        s.close()
        shutil.rmtree(workdir, ignore_errors=True)


def wait_healthy(url: str, proc: Proc, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise BenchFailure(f"{proc.role} exited during start-up:\n{proc.tail()}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise BenchFailure(f"{proc.role} did not become healthy at {url}:\n{proc.tail()}")


def platform_env(
    database_url: str, port: int, province: Path, *, broker: str | None = None, **extra: Any
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LGSP_")}
    env.update(
        LGSP_ENV="test",
        LGSP_SECRET_KEY=SECRET,
        LGSP_DATABASE_URL=database_url,
        LGSP_ISSUER=f"http://127.0.0.1:{port}",
        LGSP_CONFIG_DIR=str(province),
        LGSP_ACCESS_TOKEN_TTL_SECONDS="3600",
        LGSP_SEAL_INTERVAL_SECONDS="1.0",
    )
    # The load generator is one address and a few clients: the limiter runs (its cost is part
    # of what is measured) with budgets no run can exhaust.
    unlimited = '{"per_second": 1000000, "burst": 1000000}'
    for name in ("ADDRESS", "CLIENT", "TOKEN_ADDRESS", "TOKEN_CLIENT"):
        env[f"LGSP_RATE_LIMIT_{name}"] = unlimited
    if broker:
        env["LGSP_BROKER_URL"] = broker
    for key, value in extra.items():
        env[f"LGSP_{key.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


def start_api(
    s: Stack, env: dict[str, str], port: int, *, processes: int = 1, migrate: bool = True
) -> Proc:
    args = [LGSP, "serve", "--port", str(port), "--log-level", "warning", "--workers"]
    args.append(str(processes))
    if not migrate:
        args.append("--no-migrate")
    return s.start("api", args, env=env, platform=True, health=f"http://127.0.0.1:{port}/healthz")


def start_worker(s: Stack, env: dict[str, str]) -> Proc:
    return s.start("worker", [LGSP, "worker", "--log-level", "warning"], env=env, platform=True)


def start_server(s: Stack, kind: str, *extra: str) -> tuple[Proc, str]:
    port = free_port()
    proc = s.start(
        kind,
        [PYTHON, "-m", "bench.servers", kind, "--port", str(port), *extra],
        health=f"http://127.0.0.1:{port}/healthz",
    )
    return proc, f"http://127.0.0.1:{port}"


NGINX_CONF = """\
worker_processes {workers};
daemon off;
master_process on;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    # The load generator keeps its connections for the whole run (nginx closes one after 1,000
    # requests by default, which the other servers never do).
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_temp_path {workdir}/nginx-body;
    proxy_temp_path {workdir}/nginx-proxy;
    upstream sink {{ server {upstream}; keepalive 64; keepalive_requests 1000000; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://sink;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def nginx_binary() -> str | None:
    """nginx from PATH or Debian's sbin (`make bench` installs it through bench/setup.sh)."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    return found


def start_nginx(s: Stack, upstream_url: str, workers: int) -> tuple[Proc, str] | None:
    """nginx proxy_pass in front of ``upstream_url`` with keep-alive upstream connections, or
    None when nginx is not installed."""
    binary = nginx_binary()
    if binary is None:
        return None
    port = free_port()
    conf = s.workdir / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            workers=workers,
            workdir=s.workdir,
            upstream=upstream_url.removeprefix("http://"),
            port=port,
        )
    )
    proc = s.start(
        "nginx",
        [binary, "-c", str(conf), "-p", str(s.workdir)],
        health=f"http://127.0.0.1:{port}/healthz",
    )
    return proc, f"http://127.0.0.1:{port}"


def token(base_url: str, client_id: str, secret: str) -> str:
    r = httpx.post(
        base_url + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=10,
    )
    if r.status_code != 200:
        raise BenchFailure(f"no token: {r.status_code} {r.text}")
    value: str = r.json()["access_token"]
    return value


class Sampler:
    """Samples the RSS of every platform process (each process of a tree separately) while a
    load runs: B6 is the peak per process."""

    def __init__(self, s: Stack) -> None:
        self._stack = s
        self.peak: dict[str, int] = {}

    def sample(self) -> None:
        for p in self._stack.platform_procs():
            for n, rss in enumerate(p.rss_each()):
                key = f"{p.role}#{p.popen.pid}" + (f".{n}" if n else "")
                self.peak[key] = max(self.peak.get(key, 0), rss)


def run_loadgen(
    s: Stack, spec: dict[str, Any], *, sampler: Sampler | None = None, timeout: float = 900
) -> dict[str, Any]:
    """Run one load generator process to completion (sampling memory meanwhile)."""
    import orjson

    spec_path = s.workdir / f"spec-{len(s.procs)}.json"
    out = s.workdir / f"out-{len(s.procs)}.json"
    spec = {**spec, "out": str(out)}
    spec_path.write_bytes(orjson.dumps(spec))
    proc = s.start("loadgen", [PYTHON, "-m", "bench.loadgen", str(spec_path)])
    deadline = time.monotonic() + timeout
    while proc.popen.poll() is None:
        if time.monotonic() > deadline:
            s.stop(proc)
            raise BenchFailure(f"load generator ran past {timeout} s")
        if sampler is not None:
            sampler.sample()
        time.sleep(0.25)
    if proc.popen.returncode != 0 or not out.exists():
        raise BenchFailure(f"load generator failed ({proc.popen.returncode}):\n{proc.tail()}")
    result: dict[str, Any] = orjson.loads(out.read_bytes())
    return result


def profile(pid: int, seconds: float, out: Path, *, subprocesses: bool = False) -> Path | None:
    """Sample ``pid`` with py-spy for ``seconds``; collapsed stacks in ``out`` (None when py-spy
    is unavailable or not permitted here)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        return None
    args = [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200"]
    # --gil: only the thread holding the interpreter lock, i.e. where the CPU goes; without it
    # a thread waiting to retake the lock after a syscall counts as busy in the frame it is in.
    args += ["--format", "raw", "--output", str(out), "--nonblocking", "--gil"]
    if subprocesses:
        args.append("--subprocesses")
    result = subprocess.run(args, capture_output=True, timeout=seconds + 60)
    return out if result.returncode == 0 and out.exists() else None
