"""The machine and the versions a run measured, for the top of the results."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

import psutil

PACKAGES = [
    "fastapi", "starlette", "uvicorn", "uvloop", "httptools", "pydantic", "sqlalchemy",
    "psycopg", "pika", "orjson", "jsonschema-rs", "joserfc", "zeep", "lxml", "urllib3",
]  # fmt: skip


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _postgres() -> str:
    from sqlalchemy import create_engine, text

    from bench.deploy import PG_ADMIN_URL

    try:
        engine = create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            version = str(conn.execute(text("SHOW server_version")).scalar_one())
            sync = str(conn.execute(text("SHOW synchronous_commit")).scalar_one())
        engine.dispose()
        return f"{version} (synchronous_commit={sync})"
    except Exception as exc:
        return f"unavailable: {exc}"


def _rabbitmq() -> str:
    import pika

    from bench.deploy import BROKER_URL

    try:
        conn = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
        props = conn._impl.server_properties
        conn.close()
        version = props.get("version", b"?")
        return version.decode() if isinstance(version, bytes) else str(version)
    except Exception as exc:
        return f"unavailable: {exc}"


def describe() -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_model": cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "packages": versions,
        "postgresql": _postgres(),
        "rabbitmq": _rabbitmq(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
