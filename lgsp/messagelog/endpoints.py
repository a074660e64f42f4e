"""Auditors' view of the message log: search (masked by default) and live verification."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from lgsp.auth.deps import Auditor
from lgsp.kit import openapi
from lgsp.kit.ids import MAX_ROW_ID
from lgsp.kit.ratelimit import one_at_a_time
from lgsp.kit.timeutil import LocalDateTime
from lgsp.messagelog import reading

router = APIRouter(prefix="/v1/audit", tags=["audit"])

_SINCE = (
    "entries at or after this time: an RFC 3339 date-time, or a date (2026-12-02) or local "
    "time without an offset, read in the platform's time zone (Asia/Ho_Chi_Minh, UTC+7)"
)
_UNTIL = "entries before this time; the same forms as `since`"


@router.get(
    "/log",
    summary="Search the message log",
    responses={**openapi.LOG, **openapi.problems(400)},  # 400: unmask without a reason
)
async def search_log(
    request: Request,
    principal: Auditor,
    message_id: str | None = None,
    correlation_key: Annotated[str | None, Query(description="e.g. a dossier code")] = None,
    kind: str | None = None,
    agency: str | None = None,
    since: Annotated[LocalDateTime | None, Query(description=_SINCE)] = None,
    until: Annotated[LocalDateTime | None, Query(description=_UNTIL)] = None,
    after_id: Annotated[
        int | None, Query(ge=0, le=MAX_ROW_ID, description="last id of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    oldest_first: bool = False,
    unmask: Annotated[bool, Query(description="show personal data; this is itself logged")] = (
        False
    ),
    reason: Annotated[
        str | None, Query(description="why you unmask (required with unmask; logged)")
    ] = None,
) -> dict[str, Any]:
    """Entries newest first (keyset pages: pass the last ``id`` as ``after_id``). Personal
    identifiers in payloads and raw exchanges are masked unless ``unmask=true`` with a
    ``reason``, which writes an ``audit.unmask`` entry naming the caller, the reason and the
    entries shown before answering."""
    platform = request.app.state.platform
    why = reading.check_reason(unmask, reason)
    filters = reading.LogFilters(
        message_id=message_id,
        correlation_key=correlation_key,
        kind=kind,
        agency=agency,
        since=since,
        until=until,
        after_id=after_id,
    )

    def run() -> list[dict[str, Any]]:
        return reading.search(
            platform.sessions,
            filters,
            reader=reading.Reader(principal.client_id, "api", agency=principal.agency),
            limit=limit,
            newest_first=not oldest_first,
            reason=why,
        )

    items = await run_in_threadpool(run)
    return {"items": items, "next_after_id": items[-1]["id"] if len(items) == limit else None}


@router.post("/log/verify", summary="Verify the live message log", responses=openapi.VERIFY)
async def verify(request: Request, principal: Auditor) -> dict[str, Any]:
    """Checks every sealed batch's signature, the hash chain and every entry's hash, and names
    the first bad entry or batch. For evidence that does not rely on this server, export the log
    (`lgsp log export`) and verify it offline with keys obtained separately."""
    from lgsp.messagelog.verify import verify_log

    platform = request.app.state.platform

    def run() -> Any:
        # A full verification reads the whole log: one at a time on the platform, or 409.
        with one_at_a_time(platform.engine, "log-verify", "a verification of the log"):
            return verify_log(platform.sessions, platform.keys.all_public_jwks())

    report = await run_in_threadpool(run)
    result: dict[str, Any] = report.to_dict()
    return result
