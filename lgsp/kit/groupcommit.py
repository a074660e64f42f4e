"""Group commit: rows written by many concurrent requests share one transaction.

A request hands its rows to the writer and blocks until they are durable. The writer thread
takes whatever is queued, up to ``max_batch`` jobs. It waits for no one, so a lone request pays
no delay: batches form from what arrives while the previous commit is in flight (``max_wait``
may add a short wait for company). It inserts each table's rows with one multi-row statement in
foreign-key order and commits once. If the batch fails on a constraint (an idempotency key
raced, say), every job is retried alone so each caller gets its own answer; any other failure
(the database is down) is every caller's failure. A caller is never told its rows are written
unless the commit that holds them succeeded.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from lgsp.kit.db import Base, transaction

log = logging.getLogger("lgsp.groupcommit")

Rows = list[tuple[type[Base], dict[str, Any]]]


_ORDER: dict[str, int] = {}


def _table_order(table: Table) -> int:
    # Foreign-key order, computed when first needed (every model is imported by then).
    if table.name not in _ORDER:
        _ORDER.update({t.name: i for i, t in enumerate(Base.metadata.sorted_tables)})
    return _ORDER[table.name]


Work = Callable[[Session], Any]


@dataclass
class _Job:
    rows: Rows
    work: Work | None = None
    result: Any = None
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class GroupCommitter:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        max_batch: int = 256,
        max_wait: float = 0.0,
    ) -> None:
        self._sessions = sessions
        self._max_batch = max_batch
        self._max_wait = max_wait
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches = 0
        self.jobs = 0

    def write(self, rows: Rows, *, timeout: float = 60.0) -> None:
        """Insert ``rows`` (model, column values) durably; raise what the database raised."""
        self._submit(_Job(rows), timeout)

    def run(self, work: Work, *, timeout: float = 60.0) -> Any:
        """Run ``work(session)`` inside a shared transaction and return its result once that
        transaction committed. ``work`` must only use the session it is given (Core statements
        are best) and may run twice if its batch has to be retried job by job."""
        return self._submit(_Job([], work), timeout)

    def _submit(self, job: _Job, timeout: float) -> Any:
        self._ensure_started()
        self._queue.put(job)
        if not job.done.wait(timeout):
            raise TimeoutError("the database did not commit in time")
        if job.error is not None:
            raise job.error
        return job.result

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="lgsp-group-commit", daemon=True
                    )
                    self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(30)
            self._thread = None

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            stopping = False
            try:
                while len(jobs) < self._max_batch:
                    nxt = (
                        self._queue.get(timeout=self._max_wait)
                        if self._max_wait > 0
                        else self._queue.get_nowait()
                    )
                    if nxt is None:
                        stopping = True
                        break
                    jobs.append(nxt)
            except queue.Empty:
                pass
            self._commit(jobs)
            if stopping:
                return

    def _commit(self, jobs: list[_Job]) -> None:
        try:
            self._execute(jobs)
        except IntegrityError:
            for job in jobs:  # find who conflicted; the others still succeed
                try:
                    self._execute([job])
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    job.error = exc
        except BaseException as exc:  # noqa: BLE001 - every caller gets the failure
            for job in jobs:
                job.error = exc
        self.batches += 1
        self.jobs += len(jobs)
        for job in jobs:
            job.done.set()

    def _execute(self, jobs: list[_Job]) -> None:
        by_table: dict[Table, list[dict[str, Any]]] = defaultdict(list)
        for job in jobs:
            for model, values in job.rows:
                by_table[model.__table__].append(values)  # type: ignore[index]
        results = []
        with transaction(self._sessions) as session:
            for table in sorted(by_table, key=_table_order):
                session.execute(insert(table), by_table[table])
            for job in jobs:
                results.append(job.work(session) if job.work is not None else None)
        # Only now, with the commit done, do the results count.
        for job, result in zip(jobs, results, strict=True):
            job.result = result
