"""The README's first command, as a user runs it: `make run` serves the platform with the sample
province and its simulators, a demo client gets a token, and `lgsp demo` walks a dossier through."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from lgsp_sims.runner import SIMULATORS
from lgsp_testkit.servers import free_port

from lgsp.settings import PROJECT_ROOT
from tests.support.cli import LGSP


def _ports_free() -> bool:
    import socket

    for port in SIMULATORS.values():
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return False
    return True


@pytest.mark.slow
def test_make_run_serves_the_platform_and_the_demo_completes(tmp_path: Path) -> None:
    if not _ports_free():
        pytest.skip("a simulator port is taken (is `make run` already running here?)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LGSP_")}
    env.update(
        LGSP_PORT=str(port),
        LGSP_ISSUER=url,
        LGSP_DATABASE_URL=f"sqlite:///{tmp_path / 'lgsp.db'}",
        LGSP_VAR_DIR=str(tmp_path / "var"),
    )
    log = (tmp_path / "make-run.log").open("w")
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
            assert proc.poll() is None, (tmp_path / "make-run.log").read_text()[-3000:]
            try:
                if httpx.get(url + "/healthz", timeout=2).json() == {"status": "ok"}:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "make run did not serve /healthz in time"
            time.sleep(0.5)
        clients = json.loads((tmp_path / "var" / "demo-clients.json").read_text())
        office = clients["demo-000.00.01.H56"]
        r = httpx.post(
            url + "/token",
            data={"grant_type": "client_credentials"},
            auth=(office["client_id"], office["client_secret"]),
        )
        assert r.status_code == 200 and r.json()["token_type"] == "Bearer"
        demo = subprocess.run(
            [
                LGSP,
                "demo",
                "--url",
                url,
                "--clients-file",
                str(tmp_path / "var" / "demo-clients.json"),
                "--timeout",
                "60",
            ],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "at status 10" in demo.stdout
        verify = subprocess.run(
            [LGSP, "log", "verify"],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert verify.returncode == 0, verify.stdout + verify.stderr
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()
