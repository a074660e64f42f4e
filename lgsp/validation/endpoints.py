"""The shared schemas, served to integrators, and a dry-run validation endpoint."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from lgsp.auth.deps import SchemasValidate
from lgsp.kit import openapi
from lgsp.kit.body import read_json
from lgsp.kit.errors import BadRequest, MalformedBody, NotFound

router = APIRouter(prefix="/v1/schemas", tags=["schemas"])


def _schema_id(request: Request, type_name: str) -> str:
    platform = request.app.state.platform
    mtype = platform.directory.snapshot().message_types.get(type_name)
    if mtype is not None:
        return str(mtype.schema_id)
    try:
        return str(platform.schemas.latest(type_name))
    except KeyError:
        # The type is the resource named by the path: an unknown one is not found.
        raise NotFound(f"no message type {type_name!r}; GET /v1/schemas lists them") from None


# The keys of a send's body (POST /v1/messages); no message schema has a top-level "payload".
_ENVELOPE_KEYS = frozenset({"type", "to", "correlation_id", "payload"})


def _payload_of(body: Any, type_name: str) -> dict[str, Any]:
    """The payload to check: the body itself, or the ``payload`` of a send's envelope."""
    if not isinstance(body, dict):
        raise MalformedBody("the body must be a JSON object: a payload or a send's envelope")
    if "payload" in body and set(body) <= _ENVELOPE_KEYS:
        if body.get("type", type_name) != type_name:
            raise BadRequest(
                f"the envelope's type {body['type']!r} is not {type_name!r}, the type in the path"
            )
        body = body["payload"]
        if not isinstance(body, dict):
            raise MalformedBody("the envelope's payload must be a JSON object")
    return body


@router.get("", summary="The shared schemas", responses=openapi.SCHEMAS)
async def list_schemas(request: Request) -> dict[str, Any]:
    """Every message type with the schema its payload must satisfy."""
    platform = request.app.state.platform
    types = platform.directory.snapshot().message_types
    return {
        "types": [
            {
                "type": name,
                "schema": t.schema_id,
                "description": t.description,
                "url": f"/v1/schemas/{name}",
            }
            for name, t in sorted(types.items())
        ],
        "schemas": platform.schemas.ids(),
    }


@router.get("/{type_name}", summary="One type's JSON Schema (2020-12)", responses=openapi.SCHEMA)
async def get_schema(request: Request, type_name: str) -> dict[str, Any]:
    platform = request.app.state.platform
    try:
        schema: dict[str, Any] = platform.schemas.get(_schema_id(request, type_name))
    except KeyError:
        raise NotFound(f"no schema for {type_name!r}") from None
    return schema


@router.post(
    "/{type_name}/validate",
    summary="Check a payload without sending it",
    responses=openapi.VALIDATE,
    openapi_extra=openapi.VALIDATE_BODY,
)
async def validate(request: Request, type_name: str, principal: SchemasValidate) -> dict[str, Any]:
    """Validates a payload and answers exactly as a send would: ``422`` with every error
    (pointers relative to the payload), or ``200`` when it is valid. The body is either the
    payload alone or the whole body of a send (``{type, payload, ...}``), whose ``type``, if
    given, must be the type in the path."""
    schema_id = _schema_id(request, type_name)
    payload = _payload_of(await read_json(request), type_name)
    await run_in_threadpool(request.app.state.platform.schemas.check, schema_id, payload)
    return {"valid": True, "schema": schema_id}
