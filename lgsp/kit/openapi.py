"""What the OpenAPI document says beyond what FastAPI infers from the handlers.

Route decorators take their ``responses=`` and ``openapi_extra=`` from here, so the error
statuses, request bodies and response shapes of every operation are declared in one place:

    @router.post("/messages", responses=openapi.SEND, openapi_extra=openapi.json_body(...))

:func:`install` then finishes the document once, for every operation:

- one ``Problem`` schema (RFC 9457, ``errors[{pointer, keyword, message}]``) for every error,
  replacing FastAPI's ``HTTPValidationError``;
- the scopes an operation needs, as alternatives (any one suffices: the dependencies of
  lgsp.auth.deps declare them as one requirement), with its 401 and, when scopes are needed,
  403;
- ``503`` (database unavailable, with ``Retry-After``) on every operation that reads or writes;
- ``X-Request-Id`` and ``traceparent`` on every response; the ``servers`` list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from lgsp.kit.ratelimit import UNLIMITED_PATHS

PROBLEM_JSON = "application/problem+json"
SCHEME = "client_credentials"

STATUS_TEXT = {
    400: "Bad request: a malformed body, cursor or parameter combination",
    401: "No, invalid, expired or revoked access token",
    403: "The token lacks the scope, or the client the grant, for this call",
    404: "Not found, or not visible to this client",
    405: "Method not allowed (the Allow header lists the allowed ones)",
    409: "Conflict: an Idempotency-Key reused with a different request",
    413: "The request body exceeds the platform's limit",
    415: "Unsupported media type",
    422: "The request or the payload failed validation (every error with its pointer)",
    429: "Too many requests: retry after the number of seconds in Retry-After",
    502: "The provider answered with an error",
    503: "The platform cannot serve the request now (database, broker, open circuit)",
    504: "The provider did not answer in time",
}
# Statuses whose problem may carry Retry-After.
RETRY_AFTER_STATUSES = frozenset({429, 503})

# -- shared components ---------------------------------------------------------------------------

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; ``type`` is stable and names the kind of error.",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": ["string", "null"]},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ProblemError"}},
        "upstream_status": {
            "type": ["integer", "null"],
            "description": "a mediated call: the status the provider answered",
        },
        "upstream_reply": {
            "description": "a mediated call: what the provider answered",
        },
    },
}
PROBLEM_ERROR_SCHEMA: dict[str, Any] = {
    "title": "ProblemError",
    "description": "One error: where (a JSON pointer into the payload or request), which rule "
    "(the JSON Schema keyword or the parameter check), and a message.",
    "type": "object",
    "required": ["pointer", "message"],
    "properties": {
        "pointer": {"type": "string"},
        "keyword": {"type": "string"},
        "message": {"type": "string"},
        "in": {"type": "string", "description": "for request parameters: path, query, header"},
    },
}
HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-Id": {
        "description": "The id of this request, in the platform's logs.",
        "required": True,
        "schema": {"type": "string"},
    },
    "traceparent": {
        "description": "W3C trace context: the caller's trace id when it sent one.",
        "required": True,
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Location": {
        "description": "Where to read the accepted message's status.",
        "required": True,
        "schema": {"type": "string"},
    },
    "Idempotent-Replayed": {
        "description": "Present (``true``) when this answer repeats the first answer to the "
        "same Idempotency-Key; nothing new was stored.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "WWW-Authenticate": {
        "description": "RFC 6750 challenge: ``error`` is absent when no token was sent.",
        "schema": {"type": "string"},
    },
}


def _header(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/headers/{name}"}


def problem(status: int, description: str | None = None) -> dict[str, Any]:
    """One error response, answered as problem+json."""
    response: dict[str, Any] = {
        "description": description or STATUS_TEXT[status],
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status in RETRY_AFTER_STATUSES:
        response["headers"] = {"Retry-After": _header("Retry-After")}
    if status == 401:
        response["headers"] = {"WWW-Authenticate": _header("WWW-Authenticate")}
    return response


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Error responses for ``responses=`` of a route decorator."""
    return {status: problem(status) for status in statuses}


def ok(
    model: type[BaseModel] | None = None,
    *,
    schema: Mapping[str, Any] | None = None,
    status: int = 200,
    description: str = "Success",
    headers: Iterable[str] = (),
    media_type: str = "application/json",
) -> dict[int | str, dict[str, Any]]:
    """A success response documented without changing what the handler returns."""
    response: dict[str, Any] = {"description": description}
    if model is not None:
        response["model"] = model
    elif schema is not None:
        response["content"] = {media_type: {"schema": dict(schema)}}
    if headers:
        response["headers"] = {name: _header(name) for name in headers}
    return {status: response}


def json_body(
    model: type[BaseModel] | None = None,
    *,
    schema: Mapping[str, Any] | None = None,
    any_of: list[dict[str, Any]] | None = None,
    required: bool = True,
    description: str | None = None,
) -> dict[str, Any]:
    """``openapi_extra=`` for a handler that reads its JSON body itself (lgsp.kit.body);
    ``any_of`` adds the rules the model cannot say (at least one of several fields)."""
    body_schema = model.model_json_schema(ref_template=_REF) if model else dict(schema or {})
    if any_of:
        body_schema["anyOf"] = any_of
    body: dict[str, Any] = {
        "required": required,
        "content": {"application/json": {"schema": body_schema}},
    }
    if description:
        body["description"] = description
    return {"requestBody": body}


def form_body(model: type[BaseModel], *, description: str | None = None) -> dict[str, Any]:
    """``openapi_extra=`` for the OAuth endpoints (application/x-www-form-urlencoded)."""
    body: dict[str, Any] = {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": model.model_json_schema(ref_template=_REF)
            }
        },
    }
    if description:
        body["description"] = description
    return {"requestBody": body}


_REF = "#/components/schemas/{model}"

# -- documentation models of answers the handlers build as dicts ---------------------------------


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


class TokenRequest(BaseModel):
    model_config = ConfigDict(title="TokenRequest")

    grant_type: Literal["client_credentials"]
    scope: str | None = Field(default=None, description="space-separated; omitted: all granted")
    client_id: str | None = Field(default=None, description="client_secret_post only")
    client_secret: str | None = Field(default=None, description="client_secret_post only")


class TokenLookupRequest(BaseModel):
    model_config = ConfigDict(title="TokenLookupRequest")

    token: str
    token_type_hint: Literal["access_token"] | None = None
    client_id: str | None = Field(default=None, description="client_secret_post only")
    client_secret: str | None = Field(default=None, description="client_secret_post only")


class TokenResponse(BaseModel):
    access_token: str = Field(description="an RFC 9068 JWT")
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str


class OAuthError(_Doc):
    """RFC 6749 §5.2 error (the OAuth endpoints answer these, not problem details)."""

    error: str = Field(examples=["invalid_client"])
    error_description: str | None = None


class Introspection(_Doc):
    """RFC 7662: ``{"active": false}`` for a token that is unknown, expired or revoked."""

    active: bool
    token_type: str | None = None
    client_id: str | None = None
    scope: str | None = None
    sub: str | None = None
    aud: str | list[str] | None = None
    iss: str | None = None
    exp: int | None = None
    iat: int | None = None
    jti: str | None = None
    agency: str | None = None


class JWKS(_Doc):
    keys: list[dict[str, Any]]


class ServerMetadata(_Doc):
    issuer: str
    token_endpoint: str
    jwks_uri: str
    grant_types_supported: list[str]
    scopes_supported: list[str]


class Validated(BaseModel):
    valid: Literal[True]
    schema_: str = Field(alias="schema", examples=["dossier/1"])


class SchemaType(BaseModel):
    type: str
    schema_: str = Field(alias="schema")
    description: str | None
    url: str


class SchemaList(BaseModel):
    types: list[SchemaType]
    schemas: list[str]


class Acked(BaseModel):
    id: str
    state: Literal["inbox", "acked"]


class DeadLetter(BaseModel):
    delivery_id: int
    message_id: str
    type: str
    sender: str
    recipient: str
    correlation_key: str | None
    attempts: int
    reason: str | None
    last_status_code: int | None
    accepted_at: str
    dead_at: str | None


class DeadLetterPage(BaseModel):
    items: list[DeadLetter]


class DeadLetterWithPayload(DeadLetter):
    payload: dict[str, Any] | None


class Replayed(BaseModel):
    replayed: list[int]


class LogEntry(BaseModel):
    id: int
    at: str
    kind: str
    actor: str | None
    agency: str | None
    message_id: str | None
    correlation_key: str | None
    detail: dict[str, Any]
    body_sha256: str | None
    batch_id: int | None


class LogPage(BaseModel):
    items: list[LogEntry]
    next_after_id: int | None


class VerifyReport(_Doc):
    ok: bool
    batches: int
    entries: int
    unsealed: int
    bad_entry_id: int | None
    bad_batch_id: int | None
    reason: str | None


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    database: str
    # How many endpoints' adapters this process cannot build (their deliveries wait).
    held_endpoints: int | None = None


# -- the response sets of the operations --------------------------------------------------------

_OAUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "RFC 6749 error: a bad request or grant", "model": OAuthError},
    401: {
        "description": "RFC 6749 error: client authentication failed (the same answer for an "
        "unknown client and a wrong secret)",
        "model": OAuthError,
    },
    **problems(413, 415),
}
TOKEN = {**ok(TokenResponse), **_OAUTH_ERRORS}
INTROSPECT = {**ok(Introspection), **_OAUTH_ERRORS}
REVOKE = {
    **ok(schema={"type": "object"}, description="Revoked, or the token was unknown"),
    **_OAUTH_ERRORS,
}
METADATA = ok(ServerMetadata)
KEYS = ok(JWKS)


def _links(**links: tuple[str, str, dict[str, str]]) -> dict[str, Any]:
    """Links of a success response (name = (path, method, parameters)); the stateful phase of
    the contract test follows them."""
    return {
        name: {
            "operationRef": "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method,
            "parameters": parameters,
        }
        for name, (path, method, parameters) in links.items()
    }


SEND = {
    **problems(400, 409, 413, 415, 422),
    202: {
        "description": "Accepted",
        "headers": {n: _header(n) for n in ("Location", "Idempotent-Replayed")},
        "links": _links(
            MessageStatus=("/v1/messages/{message_id}", "get", {"message_id": "$response.body#/id"})
        ),
    },
}


READ = problems(404)
INBOX: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A page of the inbox, oldest first",
        "links": _links(
            AcknowledgeFirst=(
                "/v1/inbox/{message_id}/ack",
                "post",
                {"message_id": "$response.body#/items/0/id"},
            ),
            FirstMessageStatus=(
                "/v1/messages/{message_id}",
                "get",
                {"message_id": "$response.body#/items/0/id"},
            ),
        ),
    },
    **problems(404, 422),
}
ACK = {**ok(Acked), **problems(404)}
SCHEMAS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Every message type with its schema",
        "model": SchemaList,
        "links": _links(
            FirstSchema=(
                "/v1/schemas/{type_name}",
                "get",
                {"type_name": "$response.body#/types/0/type"},
            ),
            ValidateFirst=(
                "/v1/schemas/{type_name}/validate",
                "post",
                {"type_name": "$response.body#/types/0/type"},
            ),
        ),
    }
}
SCHEMA = {**ok(schema={"type": "object"}, description="A JSON Schema (2020-12)"), **problems(404)}
VALIDATE = {**ok(Validated), **problems(400, 404, 413, 415, 422)}
AGENCY = problems(404)
SERVICE_CALL = {
    **ok(schema={}, description="The provider's reply, converted to JSON"),
    "2XX": {
        "description": "The provider's own success status, passed through with its reply",
        "content": {"application/json": {"schema": {}}},
    },
    **problems(400, 404, 413, 415, 422, 502, 504),
    "4XX": problem(
        400,
        "The provider refused the request: its status is passed through, with upstream_status "
        "and upstream_reply in the problem",
    ),
}
DEAD_LETTERS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Dead letters, oldest first",
        "model": DeadLetterPage,
        "links": _links(
            FirstDeadLetter=(
                "/v1/admin/dead-letters/{delivery_id}",
                "get",
                {"delivery_id": "$response.body#/items/0/delivery_id"},
            )
        ),
    },
    **problems(422),
}
DEAD_LETTER = {**ok(DeadLetterWithPayload), **problems(404, 422)}
REPLAY = {**ok(Replayed), **problems(400, 413, 415, 422)}
LOG = {**ok(LogPage), **problems(422)}
VERIFY = {
    **ok(VerifyReport),
    409: problem(409, "A verification is already running; retry after the Retry-After seconds"),
}
HEALTH = ok(Health)
READY = {
    **ok(Readiness),
    503: {"description": "The database does not answer", "model": Readiness},
}
METRICS = ok(
    schema={"type": "string"},
    description="Prometheus text exposition format",
    media_type="text/plain",
)

# Documents the rule lgsp.exchange.service.check_idempotency_key enforces (answering 400).
IDEMPOTENCY_KEY: dict[str, Any] = {
    "description": "A repeat with the same key answers the first answer and stores nothing",
    "pattern": "^[!-~]{1,200}$",
}

# A replay must say what to replay (the handler answers 400 otherwise).
REPLAY_SELECTORS: list[dict[str, Any]] = [
    {"required": ["delivery_ids"], "properties": {"delivery_ids": {"minItems": 1}}},
    {"required": ["message_ids"], "properties": {"message_ids": {"minItems": 1}}},
    {"required": ["recipient"], "properties": {"recipient": {"type": "string", "minLength": 1}}},
    {"required": ["all"], "properties": {"all": {"const": True}}},
]
SERVICE_CALL_BODY = json_body(
    schema={"description": "The service's request (see its request_schema in GET /v1/services)"},
    required=False,
)
VALIDATE_BODY = json_body(
    schema={
        "type": "object",
        "description": "The payload alone, or a send's whole body ({type, payload, ...}) "
        "whose type is the type in the path",
    }
)

# What a parameter's handler checks itself, stated in the document (path, parameter name).
_SEGMENT = r"[^./\\?#\x00-\x1f\x7f][^/\\?#\x00-\x1f\x7f]*"
PARAMETER_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("/v1/services/{provider}/{service}/{path}", "path"): {
        "type": "string",
        "pattern": f"^{_SEGMENT}(?:/{_SEGMENT})*$",
        "description": "One of the sub-paths the service declares (GET /v1/services); dot "
        "segments, encoded '/', '\\', '?', '#' and control characters are refused (400)",
    },
}

# -- finishing the document ------------------------------------------------------------------------


def _any_of_scopes(op: dict[str, Any]) -> list[str] | None:
    """The scopes of an operation, any one of which suffices; None when it needs no token."""
    found: list[str] | None = None
    for requirement in op.get("security", []):
        if SCHEME in requirement:
            found = (found or []) + [s for s in requirement[SCHEME] if s not in (found or [])]
    return found


def _fix_422(response: dict[str, Any]) -> None:
    content = response.get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    if schema.get("$ref", "").endswith("/HTTPValidationError"):
        response.clear()
        response.update(problem(422))


def _bare_refs(response: dict[str, Any]) -> None:
    # FastAPI merges a handler's return annotation into a documented model; the model wins.
    for media in response.get("content", {}).values():
        schema = media.get("schema", {})
        if "$ref" in schema:
            media["schema"] = {"$ref": schema["$ref"]}


def finish(
    schema: dict[str, Any],
    *,
    servers: list[str],
) -> dict[str, Any]:
    """Completes a document FastAPI generated (see the module docstring)."""
    components = schema.setdefault("components", {})
    models = components.setdefault("schemas", {})
    models.pop("HTTPValidationError", None)
    models.pop("ValidationError", None)
    models["Problem"] = PROBLEM_SCHEMA
    models["ProblemError"] = PROBLEM_ERROR_SCHEMA
    components["headers"] = HEADERS
    components.setdefault("securitySchemes", {})["client_secret_basic"] = {
        "type": "http",
        "scheme": "basic",
        "description": "OAuth client authentication (client_secret_basic) at the token endpoints",
    }
    schema["servers"] = [{"url": url} for url in servers]

    for path, item in schema.get("paths", {}).items():
        for op in item.values():
            responses: dict[str, Any] = op.setdefault("responses", {})
            scopes = _any_of_scopes(op)
            if scopes is not None:
                op["security"] = [{SCHEME: [s]} for s in scopes] or [{SCHEME: []}]
                responses.setdefault("401", problem(401))
                if scopes:
                    responses.setdefault("403", problem(403))
            elif path in ("/oauth/token", "/token", "/oauth/introspect", "/oauth/revoke"):
                op["security"] = [{"client_secret_basic": []}, {}]
            for parameter in op.get("parameters", []):
                documented = PARAMETER_SCHEMAS.get((path, parameter["name"]))
                if documented is not None:
                    parameter["schema"] = documented
            if path.startswith(("/v1/", "/oauth/", "/token")):
                responses.setdefault("503", problem(503))
            if path not in UNLIMITED_PATHS:  # rate limits (lgsp.kit.ratelimit)
                responses.setdefault("429", problem(429))
            for response in responses.values():
                _fix_422(response)
                _bare_refs(response)
                headers = response.setdefault("headers", {})
                headers.setdefault("X-Request-Id", _header("X-Request-Id"))
                headers.setdefault("traceparent", _header("traceparent"))
    return schema


def install(app: FastAPI, *, servers: list[str]) -> None:
    """Serves the finished document at /openapi.json (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = finish(document, servers=servers)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
