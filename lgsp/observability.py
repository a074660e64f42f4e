"""Health, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from lgsp.auth.deps import MetricsRead
from lgsp.kit import openapi

router = APIRouter(tags=["operations"])

MESSAGES_ACCEPTED = Counter("lgsp_messages_accepted_total", "Messages accepted", ["type"])
DELIVERY_OUTCOMES = Counter(
    "lgsp_delivery_attempts_total", "Delivery attempts by outcome", ["outcome"]
)
DELIVERY_LATENCY = Histogram(
    "lgsp_accept_to_delivery_seconds",
    "Time from acceptance to confirmed delivery",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
ADAPTERS_UNBUILDABLE = Gauge(
    "lgsp_adapters_unbuildable",
    "Endpoints whose adapter this process cannot build (their deliveries are held)",
)
SERVICE_CALLS = Counter(
    "lgsp_service_calls_total", "Synchronous mediated calls by outcome", ["provider", "outcome"]
)


@router.get("/healthz", summary="Liveness: the process answers", responses=openapi.HEALTH)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: the database answers", responses=openapi.READY)
async def readyz(request: Request) -> Response:
    engine = request.app.state.platform.engine

    def ping() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    try:
        await run_in_threadpool(ping)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return JSONResponse(
            {"status": "unavailable", "database": type(exc).__name__}, status_code=503
        )
    body: dict[str, Any] = {"status": "ready", "database": "ok"}
    # Still ready (messages are accepted and kept), but the operator must see that some are
    # held. Only a count: this endpoint is public; `lgsp status` and the log name them.
    held = request.app.state.platform.adapters.unbuildable()
    if held:
        body["held_endpoints"] = len(held)
    return JSONResponse(body)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses=openapi.METRICS,
)
async def metrics(principal: MetricsRead) -> Response:
    """Prometheus text format, for a client holding the ``metrics`` scope (Prometheus fetches
    its token itself: ``oauth2`` with client credentials in the scrape configuration)."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
