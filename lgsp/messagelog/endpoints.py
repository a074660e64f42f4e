"""Auditors' view of the message log: search (masked by default) and live verification."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from lgsp.auth.deps import Auditor
from lgsp.kit import openapi
from lgsp.kit.db import transaction
from lgsp.kit.timeutil import LocalDateTime
from lgsp.messagelog import repository
from lgsp.messagelog.service import append as log_append
from lgsp.messagelog.service import entry_view

router = APIRouter(prefix="/v1/audit", tags=["audit"])

_SINCE = (
    "entries at or after this time: an RFC 3339 date-time, or a date (2026-12-02) or local "
    "time without an offset, read in the platform's time zone (Asia/Ho_Chi_Minh, UTC+7)"
)
_UNTIL = "entries before this time; the same forms as `since`"


@router.get("/log", summary="Search the message log", responses=openapi.LOG)
async def search_log(
    request: Request,
    principal: Auditor,
    message_id: str | None = None,
    correlation_key: Annotated[str | None, Query(description="e.g. a dossier code")] = None,
    kind: str | None = None,
    agency: str | None = None,
    since: Annotated[LocalDateTime | None, Query(description=_SINCE)] = None,
    until: Annotated[LocalDateTime | None, Query(description=_UNTIL)] = None,
    after_id: Annotated[int | None, Query(description="last id of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    oldest_first: bool = False,
    unmask: Annotated[bool, Query(description="show personal data; this is itself logged")] = (
        False
    ),
) -> dict[str, Any]:
    """Entries newest first (keyset pages: pass the last ``id`` as ``after_id``). Personal
    identifiers in payloads and raw exchanges are masked unless ``unmask=true``, which writes
    an ``audit.unmask`` entry naming the caller and the entries shown before answering."""
    platform = request.app.state.platform
    filters = {
        "message_id": message_id,
        "correlation_key": correlation_key,
        "kind": kind,
        "agency": agency,
        "since": since,
        "until": until,
        "after_id": after_id,
    }

    def run() -> list[dict[str, Any]]:
        with platform.sessions() as session:
            entries = repository.search(
                session,
                message_id=message_id,
                correlation_key=correlation_key,
                kind=kind,
                agency=agency,
                since=since,
                until=until,
                after_id=after_id,
                limit=limit,
                newest_first=not oldest_first,
            )
            views = [entry_view(e, unmask=unmask) for e in entries]
        if unmask:
            with transaction(platform.sessions) as session:
                log_append(
                    session,
                    "audit.unmask",
                    actor=principal.client_id,
                    agency=principal.agency,
                    detail={
                        "via": "api",
                        "filters": {k: str(v) for k, v in filters.items() if v is not None},
                        "entry_ids": [v["id"] for v in views],
                    },
                )
        return views

    items = await run_in_threadpool(run)
    return {"items": items, "next_after_id": items[-1]["id"] if len(items) == limit else None}


@router.post("/log/verify", summary="Verify the live message log", responses=openapi.VERIFY)
async def verify(request: Request, principal: Auditor) -> dict[str, Any]:
    """Checks every sealed batch's signature, the hash chain and every entry's hash, and names
    the first bad entry or batch. For evidence that does not rely on this server, export the log
    (`lgsp log export`) and verify it offline with keys obtained separately."""
    from lgsp.messagelog.verify import verify_log

    platform = request.app.state.platform
    report = await run_in_threadpool(verify_log, platform.sessions, platform.keys.all_public_jwks())
    result: dict[str, Any] = report.to_dict()
    return result
