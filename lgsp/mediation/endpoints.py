"""``POST /v1/services/{provider}/{service}``: synchronous calls through the platform."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from lgsp.auth.deps import ServicesCall
from lgsp.kit import openapi
from lgsp.kit.body import read_json
from lgsp.mediation.paths import UnsafeSubPath
from lgsp.mediation.service import Mediator

router = APIRouter(prefix="/v1/services", tags=["services"])


def _mediator(request: Request) -> Mediator:
    state = request.app.state
    mediator: Mediator | None = getattr(state, "mediator", None)
    if mediator is None:
        mediator = state.mediator = Mediator(state.platform)
    return mediator


async def _call(
    request: Request, principal: Any, provider: str, service: str, path: str
) -> JSONResponse:
    body = await request.body()
    payload = await read_json(request) if body else {}
    outcome = await run_in_threadpool(
        _mediator(request).call,
        principal,
        provider,
        service,
        payload=payload,
        path=path,
        query=dict(request.query_params),
        request_id=getattr(request.state, "request_id", ""),
    )
    return JSONResponse(outcome.body, status_code=outcome.status_code)


def raw_sub_path(request: Request, path: str) -> str:
    """The sub-path as the caller wrote it (still percent-encoded): the router matched on the
    decoded path, where an encoded slash or dot segment can no longer be told apart."""
    raw = request.scope.get("raw_path")
    target = raw.decode("latin-1") if isinstance(raw, bytes) else request.url.path
    parts = target.split("/")
    wanted = "/" + path
    for start in range(len(parts) - 1, 0, -1):
        tail = "/" + "/".join(parts[start:])
        if unquote(tail) == wanted:
            return tail
    raise UnsafeSubPath("the sub-path cannot be read from the request target")


@router.post(
    "/{provider}/{service}",
    summary="Call a provider's service",
    responses=openapi.SERVICE_CALL,
    openapi_extra=openapi.SERVICE_CALL_BODY,
)
async def call_service(
    request: Request, provider: str, service: str, principal: ServicesCall
) -> JSONResponse:
    """Calls ``service`` of agency ``provider`` through its adapter (SOAP or REST), converting
    formats both ways, and answers with the provider's reply as JSON. The request and the reply
    are validated against the service's schemas where it has them, and both are logged."""
    return await _call(request, principal, provider, service, "")


@router.post(
    "/{provider}/{service}/{path:path}",
    summary="Call a sub-path of a service",
    responses=openapi.SERVICE_CALL,
    openapi_extra=openapi.SERVICE_CALL_BODY,
)
async def call_service_path(
    request: Request, provider: str, service: str, path: str, principal: ServicesCall
) -> JSONResponse:
    """The same call with a sub-path appended to the service's address. Only the sub-paths the
    service declares are accepted; dot segments, encoded slashes, backslashes, ``?`` and ``#``
    are refused (400) before anything reaches the provider."""
    return await _call(request, principal, provider, service, raw_sub_path(request, path))
