"""Running processes report what they can load; `config apply` warns before it names an adapter
a running process cannot load, the platform holds what it cannot build (503 for services, the
endpoint named in /readyz, `lgsp status`), and all of it clears once the plug-in is installed.
Against a served platform on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lgsp.admin.province import apply
from lgsp.directory.config import load_config
from lgsp.processes.presence import Presence
from tests.api.test_accept import assert_problem
from tests.support.cli import run_cli
from tests.support.platform import ONE_STOP, SAMPLE_CONFIG, LivePlatform, live_platform
from tests.support.plugin import NAME, Plugin

LAND_OFFICE = "000.01.12.H56"
LOOKUP = f"/v1/services/{LAND_OFFICE}/LookupCertificate"


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[Plugin]:
    plugin = Plugin(tmp_path / "site")
    yield plugin
    plugin.uninstall()


@pytest.fixture
def live(database_url: str) -> Iterator[LivePlatform]:
    with live_platform(database_url, heartbeat_seconds=3600.0) as live:
        yield live


def presence(live: LivePlatform) -> Presence:
    found = [s for s in live.platform.background if isinstance(s, Presence)]
    assert len(found) == 1
    return found[0]


def plugin_config(tmp_path: Path) -> Path:
    """The sample province with the land office's endpoint on the plug-in."""
    target = tmp_path / "config"
    shutil.copytree(SAMPLE_CONFIG, target)
    path = target / "agencies.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for agency in data["agencies"]:
        if agency["code"] == LAND_OFFICE:
            reply = {"Found": False, "Certificate": None}
            agency["endpoint"] = {
                "mode": "push",
                "adapter": NAME,
                "settings": {"responses": {"LookupCertificate": reply}},
            }
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    return target


def warnings_of(live: LivePlatform, config: Path) -> list[str]:
    report = apply(
        live.platform.sessions, load_config(config), actor="test", heartbeat_seconds=3600.0
    )
    live.platform.directory.invalidate()  # as the directory's few seconds of caching run out
    return [w for w in report.warnings if NAME in w]


def status(live: LivePlatform) -> tuple[int, dict[str, Any]]:
    result = run_cli(live.settings, "status", "--json")
    return result.returncode, json.loads(result.stdout)


def lookup(live: LivePlatform) -> Any:
    with live.http() as http:
        return http.post(LOOKUP, json={"SoPhatHanh": "CY 000123"}, headers=live.auth(ONE_STOP))


def test_apply_warns_and_the_platform_holds_until_the_plugin_is_installed(
    live: LivePlatform, plugin: Plugin, tmp_path: Path
) -> None:
    config = plugin_config(tmp_path)

    # The running process reported its adapters at start: the plug-in is not among them.
    [warning] = warnings_of(live, config)
    assert f"adapter {NAME!r} (endpoint of {LAND_OFFICE})" in warning
    assert f"running api process {os.getpid()}" in warning and "not installed there" in warning

    # The configuration is live: a call to the land office cannot be built here.
    refused = lookup(live)
    assert_problem(refused, 503, "unavailable")
    assert NAME not in refused.text  # why is for the operators, not for the caller
    with live.http() as http:
        ready = http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["held_endpoints"] == 1  # public: a count, the names in `lgsp status`
    presence(live).beat()
    code, report = status(live)
    [me] = [p for p in report["processes"] if p["pid"] == os.getpid()]
    assert me["kind"] == "api" and NAME not in me["adapters"]
    assert me["unbuildable"][LAND_OFFICE]["adapter"] == NAME

    # Installed where the process runs: found at the next try, the warning gone after a report.
    plugin.install()
    r = lookup(live)
    assert r.status_code == 200, r.text
    assert r.json() == {"Found": False, "Certificate": None}
    with live.http() as http:
        assert "held_endpoints" not in http.get("/readyz").json()
    presence(live).beat()
    assert warnings_of(live, config) == []
    code, report = status(live)
    [me] = [p for p in report["processes"] if p["pid"] == os.getpid()]
    assert NAME in me["adapters"] and me["unbuildable"] == {}
    assert code == 0 and report["held"] == 0


def test_a_stopped_process_is_no_longer_counted(database_url: str, tmp_path: Path) -> None:
    with live_platform(database_url, heartbeat_seconds=3600.0) as live:
        settings = live.settings
        assert warnings_of(live, plugin_config(tmp_path))
    # Its row went with it: nothing running, so nothing to warn about and nothing listed.
    with live_platform(database_url, heartbeat_seconds=3600.0) as other:
        for service in other.platform.background:
            if isinstance(service, Presence):
                service.stop()
        assert warnings_of(other, plugin_config(tmp_path / "again")) == []
    result = run_cli(settings, "status", "--json")
    assert json.loads(result.stdout)["processes"] == []
