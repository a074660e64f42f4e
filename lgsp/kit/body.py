"""Reading JSON request bodies strictly: the media type, well-formed UTF-8 JSON, the model."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from lgsp.kit import jsonutil
from lgsp.kit.errors import InvalidEnvelope, MalformedBody, UnsupportedMediaType

M = TypeVar("M", bound=BaseModel)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def read_json(request: Request) -> Any:
    if not _is_json(request.headers.get("content-type", "")):
        raise UnsupportedMediaType("the request body must be JSON (Content-Type: application/json)")
    body = await request.body()
    if not body:
        raise MalformedBody("the request body is empty")
    try:
        return jsonutil.loads(body)
    except jsonutil.JSONDecodeError as exc:
        raise MalformedBody(f"the request body is not valid JSON: {exc}") from exc


def pydantic_errors(exc: ValidationError) -> list[dict[str, Any]]:
    out = []
    for e in exc.errors():
        pointer = "/" + "/".join(str(p) for p in e["loc"])
        out.append(
            {
                "pointer": pointer if pointer != "/" else "",
                "message": e["msg"],
                "keyword": e["type"],
            }
        )
    return out


async def read_model(request: Request, model: type[M]) -> M:
    data = await read_json(request)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = pydantic_errors(exc)
        raise InvalidEnvelope(f"{len(errors)} error(s) in the request envelope", errors) from exc
