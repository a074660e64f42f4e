"""Every query on the message log: admin search, and the fast tuple streams that the sealer, the
verifier and the exporter read (Core selects, no ORM objects, raw column text where it saves a
conversion).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    String,
    Text,
    cast,
    func,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker

from lgsp.messagelog.chain import ENTRY_TAG, BatchRow, EntryRow, format_at, parse_skipped
from lgsp.messagelog.models import LogBatch, LogEntry

# A select of any row shape (SQLAlchemy 2.1 types rows as a variadic tuple).
AnySelect = Select[*tuple[Any, ...]]

_PG_AT_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'
_STREAM_CHUNK = 5000
_cursor_names = itertools.count(1)


# ---- admin search ---------------------------------------------------------------------------


def search_statement(
    *,
    message_id: str | None = None,
    correlation_key: str | None = None,
    kind: str | None = None,
    agency: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_id: int | None = None,
    limit: int = 100,
    newest_first: bool = True,
) -> Select[LogEntry]:
    """The query behind :func:`search` (separate so its plan can be inspected)."""
    stmt = select(LogEntry)
    if message_id is not None:
        stmt = stmt.where(LogEntry.message_id == message_id)
    if correlation_key is not None:
        stmt = stmt.where(LogEntry.correlation_key == correlation_key)
    if kind is not None:
        stmt = stmt.where(LogEntry.kind == kind)
    if agency is not None:
        stmt = stmt.where(LogEntry.agency == agency)
    if since is not None:
        stmt = stmt.where(LogEntry.at >= since)
    if until is not None:
        stmt = stmt.where(LogEntry.at < until)
    if after_id is not None:
        stmt = stmt.where(LogEntry.id < after_id if newest_first else LogEntry.id > after_id)
    stmt = stmt.order_by(LogEntry.id.desc() if newest_first else LogEntry.id.asc())
    return stmt.limit(max(1, min(limit, 10_000)))


def search(
    session: Session,
    *,
    message_id: str | None = None,
    correlation_key: str | None = None,
    kind: str | None = None,
    agency: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_id: int | None = None,
    limit: int = 100,
    newest_first: bool = True,
) -> list[LogEntry]:
    """Entries matching every given filter, keyset-paginated by id.

    Pass the last id of a page as ``after_id`` to get the next page (older ids when
    ``newest_first``, newer otherwise). A lookup by ``correlation_key`` or ``message_id`` is one
    range scan of the (key, id) index, whatever the size of the log; ``limit`` is capped at
    10,000.
    """
    stmt = search_statement(
        message_id=message_id,
        correlation_key=correlation_key,
        kind=kind,
        agency=agency,
        since=since,
        until=until,
        after_id=after_id,
        limit=limit,
        newest_first=newest_first,
    )
    return list(session.scalars(stmt))


# ---- row streams ----------------------------------------------------------------------------


def _at_text(column: Any, dialect_name: str) -> ColumnElement[Any]:
    if dialect_name == "postgresql":
        return func.to_char(func.timezone("UTC", column), _PG_AT_FORMAT)
    # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" (UTC); normalise_at turns it into the hashed form.
    return type_coerce(column, String)


def entry_select(dialect_name: str) -> AnySelect:
    """Entry columns in EntryRow order, with ``at`` and ``detail`` as raw text."""
    detail = (
        cast(LogEntry.detail, Text)
        if dialect_name == "postgresql"
        else type_coerce(LogEntry.detail, Text)
    )
    return select(
        LogEntry.id,
        _at_text(LogEntry.at, dialect_name),
        LogEntry.kind,
        LogEntry.actor,
        LogEntry.agency,
        LogEntry.message_id,
        LogEntry.correlation_key,
        detail,
        LogEntry.body_sha256,
        LogEntry.batch_id,
    )


def batch_select(dialect_name: str) -> AnySelect:
    return select(
        LogBatch.id,
        LogBatch.first_entry_id,
        LogBatch.last_entry_id,
        LogBatch.count,
        LogBatch.skipped_ids,
        LogBatch.entry_hashes,
        LogBatch.prev_hash,
        LogBatch.hash,
        LogBatch.signature,
        LogBatch.kid,
        _at_text(LogBatch.sealed_at, dialect_name),
    )


def normalise_at(raw: Any) -> str:
    """The canonical ``...ffffffZ`` text of a stored timestamp, whichever form the driver gave."""
    if isinstance(raw, str):
        if len(raw) == 26 and raw[10] == " " and raw[19] == ".":
            return raw[:10] + "T" + raw[11:] + "Z"
        if len(raw) == 27 and raw[10] == "T" and raw[26] == "Z":
            return raw
        raw = datetime.fromisoformat(raw)
    if isinstance(raw, datetime):
        return format_at(raw if raw.tzinfo else raw.replace(tzinfo=UTC))
    raise ValueError(f"unreadable timestamp {raw!r}")


def to_entry(row: Any) -> EntryRow:
    raw_detail = row[7]
    return EntryRow(
        row[0],
        normalise_at(row[1]),
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        None if raw_detail is None else orjson.loads(raw_detail),
        row[8],
        row[9],
    )


def to_batch(row: Any) -> BatchRow:
    return BatchRow(
        row[0],
        row[1],
        row[2],
        row[3],
        parse_skipped(row[4]),
        bytes(row[5]),
        row[6],
        row[7],
        row[8],
        row[9],
        normalise_at(row[10]),
    )


def engine_of(session_factory: sessionmaker[Session]) -> Engine:
    bind = session_factory.kw.get("bind")
    if not isinstance(bind, Engine):
        raise TypeError("the session factory must be bound to an Engine")
    return bind


class Snapshot:
    """A read-only transaction on one raw connection in which several result streams can be
    open at once and all see the same committed state."""

    def __init__(self, dbapi_conn: Any, dialect: Dialect) -> None:
        self._conn = dbapi_conn
        self.dialect = dialect

    def stream(self, stmt: AnySelect) -> Iterator[tuple[Any, ...]]:
        sql = str(stmt.compile(dialect=self.dialect, compile_kwargs={"literal_binds": True}))
        if self.dialect.name == "postgresql":
            # A named (server-side) cursor: rows arrive in chunks, never all in memory.
            cur = self._conn.driver_connection.cursor(name=f"lgsp_log_{next(_cursor_names)}")
            cur.itersize = _STREAM_CHUNK
        else:
            cur = self._conn.cursor()
        try:
            cur.execute(sql)
            while rows := cur.fetchmany(_STREAM_CHUNK):
                yield from rows
        finally:
            cur.close()


@contextmanager
def read_snapshot(session_factory: sessionmaker[Session]) -> Iterator[Snapshot]:
    """Open a consistent read-only snapshot without taking any write lock.

    SQLAlchemy sessions from ``make_engine`` open SQLite transactions with BEGIN IMMEDIATE (the
    write lock); a verification that reads a million rows must not block writers, so this goes
    to the raw connection and opens a deferred (read) transaction instead.
    """
    engine = engine_of(session_factory)
    raw = engine.raw_connection()
    try:
        if engine.dialect.name == "postgresql":
            cur = raw.cursor()
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cur.close()
        else:
            raw.driver_connection.execute("BEGIN")  # type: ignore[union-attr]
        yield Snapshot(raw, engine.dialect)
    finally:
        raw.rollback()
        raw.close()


def _entries_raw(snapshot: Snapshot, from_id: int) -> Iterator[tuple[Any, ...]]:
    stmt = entry_select(snapshot.dialect.name).order_by(LogEntry.id)
    if from_id:
        stmt = stmt.where(LogEntry.id >= from_id)
    return snapshot.stream(stmt)


def entries_stream(snapshot: Snapshot, *, from_id: int = 0) -> Iterator[EntryRow]:
    return map(to_entry, _entries_raw(snapshot, from_id))


def entry_digests_stream(
    snapshot: Snapshot, *, from_id: int = 0
) -> Iterator[tuple[int, int | None, bytes]]:
    """(id, batch_id, digest) of every entry, ascending: the verifier's hot loop.

    Computes exactly :func:`lgsp.messagelog.chain.entry_digest` (orjson with OPT_SORT_KEYS is
    what ``canonical`` does), inlined because this runs a million times per verification.
    """
    sha256 = hashlib.sha256
    dumps = orjson.dumps
    loads = orjson.loads
    sort_keys = orjson.OPT_SORT_KEYS
    tag = ENTRY_TAG
    for r in _entries_raw(snapshot, from_id):
        at = r[1]
        if len(at) == 26 and at[10] == " " and at[19] == ".":
            at = at[:10] + "T" + at[11:] + "Z"
        elif not (len(at) == 27 and at[26] == "Z"):
            at = normalise_at(at)
        raw_detail = r[7]
        yield (
            r[0],
            r[9],
            sha256(
                dumps(
                    [
                        tag,
                        r[0],
                        at,
                        r[2],
                        r[3],
                        r[4],
                        r[5],
                        r[6],
                        None if raw_detail is None else loads(raw_detail),
                        r[8],
                    ],
                    option=sort_keys,
                )
            ).digest(),
        )


def batches_stream(snapshot: Snapshot, *, from_id: int = 0) -> Iterator[BatchRow]:
    stmt = batch_select(snapshot.dialect.name).order_by(LogBatch.id)
    if from_id:
        stmt = stmt.where(LogBatch.id >= from_id)
    return map(to_batch, snapshot.stream(stmt))


def batch_before(snapshot: Snapshot, batch_id: int) -> tuple[str, int] | None:
    """(hash, last_entry_id) of the newest batch older than ``batch_id``."""
    rows = list(
        snapshot.stream(
            select(LogBatch.hash, LogBatch.last_entry_id)
            .where(LogBatch.id < batch_id)
            .order_by(LogBatch.id.desc())
            .limit(1)
        )
    )
    return (rows[0][0], rows[0][1]) if rows else None


# ---- sealer queries -------------------------------------------------------------------------


def last_batch(session: Session) -> tuple[int, str, int] | None:
    """(id, hash, last_entry_id) of the newest batch."""
    row = session.execute(
        select(LogBatch.id, LogBatch.hash, LogBatch.last_entry_id)
        .order_by(LogBatch.id.desc())
        .limit(1)
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def unsealed_after(session: Session, after_id: int, limit: int) -> list[EntryRow]:
    dialect_name = session.get_bind().dialect.name
    stmt = (
        entry_select(dialect_name)
        .where(LogEntry.batch_id.is_(None), LogEntry.id > after_id)
        .order_by(LogEntry.id)
        .limit(limit)
    )
    return [to_entry(row) for row in session.execute(stmt)]


def attach_to_batch(session: Session, batch_id: int, first: int, last: int) -> int:
    """Point the unsealed entries in [first, last] at the batch; returns how many."""
    result = session.execute(
        update(LogEntry)
        .where(LogEntry.id.between(first, last), LogEntry.batch_id.is_(None))
        .values(batch_id=batch_id)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def pg_try_lock(session: Session, key: int) -> bool:
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}))


def pg_id_horizon_start(session: Session) -> tuple[int, list[str]]:
    """The highest entry id handed out so far, then the transactions that might hold one.

    Read in this order: any transaction that took an id before the first read holds the
    table's RowExclusiveLock (taken before the INSERT draws from the sequence and kept until
    it ends), so it is still in the second result or already finished.
    """
    last = session.scalar(
        text(
            "SELECT pg_sequence_last_value("
            "CAST(pg_get_serial_sequence(CAST(to_regclass('log_entries') AS text), 'id')"
            " AS regclass))"
        )
    )
    holders = session.scalars(
        text(
            "SELECT DISTINCT virtualtransaction FROM pg_locks WHERE locktype = 'relation'"
            " AND relation = to_regclass('log_entries') AND mode = 'RowExclusiveLock'"
            " AND pid IS DISTINCT FROM pg_backend_pid()"
        )
    ).all()
    return int(last or 0), list(holders)


def pg_still_running(session: Session, holders: list[str]) -> int:
    return int(
        session.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'relation'"
                " AND relation = to_regclass('log_entries') AND virtualtransaction = ANY(:v)"
            ),
            {"v": holders},
        )
        or 0
    )
