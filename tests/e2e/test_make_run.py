"""The README's first command, as a user runs it: `make run` serves the platform with the sample
province and its simulators, a demo client gets a token, and `lgsp demo` walks a dossier through.

Two instances run side by side: the second differs from the first by ``LGSP_PORT``, which moves
its API, its issuer and its whole set of simulators (each instance has its own database and
``.var`` folder, as two checkouts would). A taken port stops `lgsp dev` with one clear line."""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from lgsp.devsetup import registered_simulators
from lgsp.settings import PROJECT_ROOT
from tests.support.cli import LGSP

OFFSETS = [0] + [spec.port_offset for spec in registered_simulators().values()]


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_base_ports(count: int, taken: tuple[int, ...] = ()) -> list[int]:
    """Platform ports whose simulator ports (port + offset) are all free, far apart."""
    found: list[int] = []
    while len(found) < count:
        base = random.randrange(20000, 40000, 200)
        if base not in taken and base not in found and all(_free(base + o) for o in OFFSETS):
            found.append(base)
    return found


def instance_env(tmp: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LGSP_")}
    env.update(
        LGSP_PORT=str(port),
        LGSP_DATABASE_URL=f"sqlite:///{tmp / 'lgsp.db'}",
        LGSP_VAR_DIR=str(tmp / "var"),
    )
    return env


@contextmanager
def make_run(tmp: Path, env: dict[str, str]) -> Iterator[str]:
    """`make run` in the project with ``env``; yields the platform's URL once it is healthy."""
    url = f"http://127.0.0.1:{env['LGSP_PORT']}"
    tmp.mkdir(parents=True, exist_ok=True)
    log_path = tmp / "make-run.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            ["make", "run"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 300
            while True:
                assert proc.poll() is None, log_path.read_text()[-3000:]
                try:
                    if httpx.get(url + "/healthz", timeout=2).json() == {"status": "ok"}:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "make run did not serve /healthz in time"
                time.sleep(0.5)
            yield url
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def lgsp(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LGSP, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def claims(token: str) -> dict[str, object]:
    body = token.split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return decoded


@pytest.mark.slow
def test_two_make_runs_side_by_side_and_both_demos_complete(tmp_path: Path) -> None:
    ports = free_base_ports(2)
    envs = [instance_env(tmp_path / f"i{n}", port) for n, port in enumerate(ports)]
    assert {k: v for k, v in envs[0].items() if envs[1].get(k) != v} == {
        "LGSP_PORT": str(ports[0]),
        "LGSP_DATABASE_URL": envs[0]["LGSP_DATABASE_URL"],
        "LGSP_VAR_DIR": envs[0]["LGSP_VAR_DIR"],
    }
    with ExitStack() as stack:
        # One after the other, so a first `make run` that reinstalls is not raced by the second.
        urls = [stack.enter_context(make_run(tmp_path / f"i{n}", e)) for n, e in enumerate(envs)]
        for port, env, url in zip(ports, envs, urls, strict=True):
            var = Path(env["LGSP_VAR_DIR"])
            simulators = json.loads((var / "simulators.json").read_text())
            assert simulators["dvcqg"] == f"http://127.0.0.1:{port + 101}"
            assert {int(u.rsplit(":", 1)[1]) - port for u in simulators.values()} == set(
                OFFSETS[1:]
            )
            office = json.loads((var / "demo-clients.json").read_text())["demo-000.00.01.H56"]
            r = httpx.post(
                url + "/token",
                data={"grant_type": "client_credentials"},
                auth=(office["client_id"], office["client_secret"]),
            )
            assert r.status_code == 200 and r.json()["token_type"] == "Bearer"
            assert claims(r.json()["access_token"])["iss"] == url  # the issuer followed the port
        # Both demos at once, with nothing but each instance's environment.
        demos = [
            subprocess.Popen(
                [LGSP, "demo", "--timeout", "90"],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for env in envs
        ]
        for demo, url in zip(demos, urls, strict=True):
            out, _ = demo.communicate(timeout=400)
            assert demo.returncode == 0, out
            assert "at status 10" in out and url in out
        for env in envs:
            verify = lgsp(env, "log", "verify")
            assert verify.returncode == 0, verify.stdout + verify.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("offset", "who"), [(0, "the platform"), (102, "simulator 'onestop'")], ids=["api", "sim"]
)
def test_a_taken_port_is_one_clear_line(tmp_path: Path, offset: int, who: str) -> None:
    [port] = free_base_ports(1)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port + offset))
        holder.listen()
        run = lgsp(instance_env(tmp_path, port), "dev")
    assert run.returncode != 0
    assert "Traceback" not in run.stderr + run.stdout
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith(f"{who} cannot listen on 127.0.0.1:{port + offset}"), lines
    assert "LGSP_PORT" in lines[0]
