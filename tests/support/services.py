"""Reaching the real services the tests use, and failing (not skipping) in CI when one is
missing: `.ci/run` sets LGSP_REQUIRE_SERVICES=1."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PG_ADMIN_URL = os.environ.get("LGSP_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
RABBIT_URL = os.environ.get("LGSP_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def services_required() -> bool:
    return os.environ.get("LGSP_REQUIRE_SERVICES") == "1"


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def require(service: str) -> None:
    """Skip the test when ``service`` is down on a developer machine; fail it in CI."""
    port = {"postgresql": 5432, "rabbitmq": 5672, "redis": 6379}[service]
    if _port_open("127.0.0.1", port):
        return
    message = f"{service} is not answering on 127.0.0.1:{port}"
    if services_required():
        pytest.fail(message + " (LGSP_REQUIRE_SERVICES=1)")
    pytest.skip(message)


@contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards; yields its URL."""
    import psycopg

    require("postgresql")
    name = "lgsp_t_" + secrets.token_hex(6)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
