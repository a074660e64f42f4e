"""The adapter test kit as an integrator uses it: the contract suite from the installed kit, a
fake recipient made of the kit's bookkeeping and servers (here a WSGI one, carrying the
concurrency rule), and pytest's assertion rewriting reaching the contract's assertions."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lgsp_testkit import ScriptedRecipient, free_port, serve_wsgi
from lgsp_testkit.contract import AdapterContract

StartResponse = Callable[..., Any]


def wsgi_fake(
    fake: ScriptedRecipient,
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """A recipient speaking plain HTTP+JSON, deduplicating on Idempotency-Key."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        outcome = fake.next_outcome()
        if outcome.kind == "fail":
            start_response("503 Service Unavailable", [("Content-Type", "application/json")])
            return [b'{"detail": "maintenance"}']
        if outcome.kind == "reject":
            start_response("422 Unprocessable Content", [("Content-Type", "application/json")])
            return [b'{"detail": "MaHoSo is missing"}']
        if outcome.kind == "stall":
            time.sleep(outcome.seconds)
        fake.accept(environ["HTTP_IDEMPOTENCY_KEY"])
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"ok": true}']

    return app


class TestRestAdapterAgainstAWsgiFake(AdapterContract):
    adapter_name = "rest"
    bad_settings = [({}, "url: Field required")]

    def payload(self, n: int) -> dict[str, Any]:
        return {"MaHoSo": f"000.00.12.H02-261202-{n:04d}"}

    @pytest.fixture
    def recipient(self) -> Iterator[ScriptedRecipient]:
        fake = ScriptedRecipient()
        with serve_wsgi(wsgi_fake(fake)) as url:
            fake.url = url  # type: ignore[attr-defined]
            yield fake

    @pytest.fixture
    def settings(self, recipient: ScriptedRecipient) -> dict[str, Any]:
        return {"url": recipient.url, "path": "/messages"}  # type: ignore[attr-defined]

    @pytest.fixture
    def unreachable_settings(self) -> dict[str, Any]:
        return {"url": f"http://127.0.0.1:{free_port()}", "path": "/messages"}


def test_scripted_recipient_bookkeeping() -> None:
    fake = ScriptedRecipient()
    fake.fail_next(2)
    fake.stall_next(1.5)
    fake.reject_next()
    kinds = [fake.next_outcome() for _ in range(5)]
    assert [(o.kind, o.seconds) for o in kinds] == [
        ("fail", 0.0),
        ("fail", 0.0),
        ("stall", 1.5),
        ("reject", 0.0),
        ("accept", 0.0),
    ]
    assert fake.accept("b") and fake.accept("a") and not fake.accept("b")
    assert (fake.received_ids(), fake.times_received("b")) == (["b", "a"], 2)


BROKEN_ADAPTER_TEST = '''
from typing import Any

import pytest
from lgsp_adapters.memory import store
from lgsp_testkit.contract import AdapterContract


class LosingRecipient:
    """Claims to have received nothing: the first contract rule must fail, with its values."""

    def received_ids(self) -> list[str]:
        return ["not-the-message"]

    def fail_next(self, times: int = 1) -> None:
        store.script("000.00.01.H22", "fail", times)

    def reject_next(self, times: int = 1) -> None:
        store.script("000.00.01.H22", "reject", times)

    def stall_next(self, seconds: float) -> None:
        store.script("000.00.01.H22", "slow", delay=seconds)


class TestBroken(AdapterContract):
    adapter_name = "memory"

    def payload(self, n: int) -> dict[str, Any]:
        return {"MaHoSo": f"M-{n}"}

    @pytest.fixture
    def recipient(self) -> LosingRecipient:
        store.clear()
        return LosingRecipient()

    @pytest.fixture
    def settings(self) -> dict[str, Any]:
        return {}
'''


def test_a_failing_contract_rule_prints_the_values_it_compared(tmp_path: Path) -> None:
    # An integrator's project: its own directory, no conftest, the kit found as installed.
    (tmp_path / "test_broken.py").write_text(textwrap.dedent(BROKEN_ADAPTER_TEST))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "test_broken.py::TestBroken::test_delivers_and_recipient_sees_message_id",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "AssertionError: assert ['not-the-message'] == [" in run.stdout, run.stdout
    assert "At index 0 diff: 'not-the-message' !=" in run.stdout, run.stdout
