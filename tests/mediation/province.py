"""A copy of the sample province for one test, edited in YAML: endpoints pointed at the servers
the test started, extra services and grants. Shared by the mediation and admin tests."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from tests.support.platform import SAMPLE_CONFIG

JUSTICE = "000.00.16.H56"  # Department of Justice (REST endpoint in the sample)
LAND_REGISTRY = "000.01.12.H56"  # Land Registration Office (SOAP endpoint in the sample)
SMS_GATEWAY = "H56.91"  # SMS brandname gateway (REST endpoint in the sample)


class Province:
    """``config/`` copied under ``root``; edit the loaded files, then :meth:`save`."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "province"
        shutil.copytree(SAMPLE_CONFIG, self.dir, ignore=shutil.ignore_patterns("*.md"))
        self._files: dict[str, dict[str, Any]] = {}

    def file(self, name: str) -> dict[str, Any]:
        if name not in self._files:
            self._files[name] = yaml.safe_load((self.dir / f"{name}.yaml").read_text("utf-8"))
        return self._files[name]

    def endpoint(self, agency: str) -> dict[str, Any]:
        """The endpoint mapping of ``agency`` in agencies.yaml, to edit in place. Anchored
        settings shared with other agencies are unshared first."""
        for entry in self.file("agencies")["agencies"]:
            if entry["code"] == agency:
                endpoint: dict[str, Any] = entry["endpoint"]
                endpoint["settings"] = dict(endpoint.get("settings") or {})
                return endpoint
        raise KeyError(agency)

    def add_service(self, provider: str, name: str, **fields: Any) -> None:
        self.file("services")["services"].append({"provider": provider, "name": name, **fields})

    def service(self, provider: str, name: str) -> dict[str, Any]:
        for entry in self.file("services")["services"]:
            if (entry["provider"], entry["name"]) == (provider, name):
                found: dict[str, Any] = entry
                return found
        raise KeyError(f"{provider}/{name}")

    def add_grant(self, **grant: Any) -> None:
        self.file("grants")["grants"].append(grant)

    def save(self) -> Path:
        for name, data in self._files.items():
            (self.dir / f"{name}.yaml").write_text(
                yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8"
            )
        return self.dir
