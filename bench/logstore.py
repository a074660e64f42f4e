"""B5: the message log at scale. Fills ``log_entries`` with realistic rows by bulk insert (COPY on
PostgreSQL, executemany on SQLite), seals them with the sealer itself
(:func:`lgsp.messagelog.sealer.seal_pending`), then measures a dossier-code look-up, a filtered
admin page (:func:`lgsp.messagelog.repository.search`) and ``verify_log``."""

from __future__ import annotations

import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select

from bench import deploy
from bench.measure import latency_summary

KINDS = [
    ("message.accepted", 30),
    ("delivery.delivered", 40),
    ("delivery.failed", 5),
    ("call.request", 10),
    ("call.response", 10),
    ("inbox.acked", 4),
    ("delivery.dead", 1),
]
AGENCIES = [f"000.00.{n:02d}.H56" for n in range(1, 41)]
START = datetime(2026, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=180)


def _rows(n: int, seed: int = 5) -> tuple[list[tuple[Any, ...]], list[str]]:
    """``n`` entries in id order: about five per dossier, ``at`` rising over half a year."""
    rnd = random.Random(seed)
    kinds = [k for k, w in KINDS for _ in range(w)]
    dossiers: list[str] = []
    rows = []
    step = SPAN / n
    message_id = str(uuid.UUID(int=rnd.getrandbits(128)))
    for i in range(n):
        if i % 5 == 0 or not dossiers:
            day = START + timedelta(days=i * 180 // n)
            dossiers.append(f"{rnd.choice(AGENCIES)}-{day:%y%m%d}-{i % 10000:04d}")
        key = dossiers[-1] if rnd.random() < 0.9 else rnd.choice(dossiers)
        if i % 2 == 0:
            message_id = str(uuid.UUID(int=rnd.getrandbits(128)))
        kind = kinds[rnd.randrange(len(kinds))]
        detail = {
            "recipient": rnd.choice(AGENCIES),
            "attempt": 1,
            "status_code": 200,
            "duration_ms": round(rnd.random() * 40, 2),
            "type": "dossier",
        }
        rows.append(
            (
                START + step * i,
                kind,
                "platform" if kind.startswith("delivery") else f"client-{rnd.randrange(50)}",
                rnd.choice(AGENCIES),
                message_id,
                key,
                orjson.dumps(detail).decode(),
                format(rnd.getrandbits(256), "064x"),
            )
        )
    return rows, dossiers


def _insert_pg(url: str, rows: list[tuple[Any, ...]]) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY log_entries (at, kind, actor, agency, message_id, correlation_key, detail,"
                " body_sha256) FROM STDIN"
            ) as copy,
        ):
            for row in rows:
                copy.write_row(row)
        conn.execute("ANALYZE log_entries")


def _insert_sqlite(path: Path, rows: list[tuple[Any, ...]]) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executemany(
            "INSERT INTO log_entries (at, kind, actor, agency, message_id, correlation_key,"
            " detail, body_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (r[0].replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds"), *r[1:])
                for r in rows
            ),
        )
        conn.commit()
        conn.execute("ANALYZE")
    finally:
        conn.close()


def run_one(database_url: str, entries: int, lookups: int) -> dict[str, Any]:
    from lgsp.auth.keys import KeyStore
    from lgsp.auth.models import SigningKey
    from lgsp.kit import migrate
    from lgsp.kit.db import make_engine, make_sessionmaker
    from lgsp.messagelog.repository import search
    from lgsp.messagelog.sealer import seal_pending
    from lgsp.messagelog.verify import verify_log
    from lgsp.settings import Settings

    migrate.upgrade(database_url)
    t0 = time.perf_counter()
    rows, dossiers = _rows(entries)
    generated = time.perf_counter() - t0
    t0 = time.perf_counter()
    if database_url.startswith("sqlite"):
        _insert_sqlite(Path(database_url.removeprefix("sqlite:///")), rows)
    else:
        _insert_pg(database_url, rows)
    inserted = time.perf_counter() - t0
    del rows
    settings = Settings(env="test", secret_key=deploy.SECRET, database_url=database_url)
    engine = make_engine(database_url, pool_size=2)
    sessions = make_sessionmaker(engine)
    keys = KeyStore(sessions, settings, purpose="seal")
    keys.ensure_active_key()
    t0 = time.perf_counter()
    sealed = seal_pending(sessions, keys.sign_compact, max_entries=10000)
    seal_seconds = time.perf_counter() - t0
    if sealed != entries:
        raise deploy.BenchFailure(f"sealed {sealed} of {entries} entries")

    rnd = random.Random(7)
    kinds = [k for k, _ in KINDS]
    lookup_ms, page_ms, found = [], [], 0
    for _ in range(lookups):
        key = rnd.choice(dossiers)
        t = time.perf_counter()
        with sessions() as session:
            hits = search(session, correlation_key=key, limit=100)
        lookup_ms.append((time.perf_counter() - t) * 1000)
        found += bool(hits)
    if found != lookups:
        raise deploy.BenchFailure(f"only {found} of {lookups} dossier look-ups found entries")
    for _ in range(lookups):
        since = START + timedelta(days=rnd.randrange(170))
        t = time.perf_counter()
        with sessions() as session:
            search(
                session,
                kind=rnd.choice(kinds),
                agency=rnd.choice(AGENCIES),
                since=since,
                until=since + timedelta(days=7),
                limit=50,
            )
        page_ms.append((time.perf_counter() - t) * 1000)
    with sessions() as session:
        jwks = {"keys": [dict(j) for j in session.scalars(select(SigningKey.public_jwk))]}
    report = verify_log(sessions, jwks)
    engine.dispose()
    if not report.ok or report.entries != entries:
        raise deploy.BenchFailure(f"verify_log: {report.summary()}")
    return {
        "entries": entries,
        "generate_s": round(generated, 2),
        "insert_s": round(inserted, 2),
        "seal_s": round(seal_seconds, 2),
        "seal_entries_per_s": round(entries / seal_seconds),
        "lookup": latency_summary(lookup_ms),
        "filtered_page": latency_summary(page_ms),
        "verify_s": round(report.seconds, 2),
        "verify_entries_per_s": round(report.entries_per_second),
    }


def run(entries: int, lookups: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lgsp-bench-log-") as tmp:
        sqlite = run_one(f"sqlite:///{tmp}/log.db", entries, lookups)
    try:
        postgres = run_one(deploy.recreate_pg(), entries, lookups)
    finally:
        deploy.drop_pg()
    return {"sqlite": sqlite, "postgresql": postgres}
