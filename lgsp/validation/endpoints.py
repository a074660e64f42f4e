"""The shared schemas, served to integrators, and a dry-run validation endpoint."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from lgsp.auth.deps import SchemasValidate
from lgsp.kit.body import read_json
from lgsp.kit.errors import MalformedBody, NotFound, UnknownMessageType

router = APIRouter(prefix="/v1/schemas", tags=["schemas"])


def _schema_id(request: Request, type_name: str) -> str:
    platform = request.app.state.platform
    mtype = platform.directory.snapshot().message_types.get(type_name)
    if mtype is not None:
        return str(mtype.schema_id)
    try:
        return str(platform.schemas.latest(type_name))
    except KeyError:
        raise UnknownMessageType(f"unknown message type {type_name!r}") from None


@router.get("", summary="The shared schemas")
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


@router.get("/{type_name}", summary="One type's JSON Schema (2020-12)")
async def get_schema(request: Request, type_name: str) -> dict[str, Any]:
    platform = request.app.state.platform
    try:
        schema: dict[str, Any] = platform.schemas.get(_schema_id(request, type_name))
    except KeyError:
        raise NotFound(f"no schema for {type_name!r}") from None
    return schema


@router.post("/{type_name}/validate", summary="Check a payload without sending it")
async def validate(request: Request, type_name: str, principal: SchemasValidate) -> dict[str, Any]:
    """Validates the body (the payload alone, as it would appear in ``payload`` of a send) and
    answers exactly as a send would: ``422`` with every error, or ``200`` when it is valid."""
    schema_id = _schema_id(request, type_name)
    payload = await read_json(request)
    if not isinstance(payload, dict):
        raise MalformedBody("the payload must be a JSON object")
    await run_in_threadpool(request.app.state.platform.schemas.check, schema_id, payload)
    return {"valid": True, "schema": schema_id}
