"""OAuth 2.0 endpoints: token (RFC 6749), metadata (RFC 8414), JWKS, introspection (RFC 7662),
revocation (RFC 7009). ``POST /token`` answers as ``/oauth/token`` for agency systems set up for
the usual LGSP path."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from lgsp.auth.server import FormRequest, LGSPAuthorizationServer
from lgsp.kit import openapi
from lgsp.kit.errors import UnsupportedMediaType

router = APIRouter(tags=["oauth"])

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def _form_request(request: Request, path: str) -> FormRequest:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType(
            "OAuth endpoints take application/x-www-form-urlencoded bodies (RFC 6749)"
        )
    body = await request.body()
    form = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
    platform = request.app.state.platform
    uri = platform.settings.issuer.rstrip("/") + path
    return FormRequest(uri, request.headers, form)


def _respond(result: tuple[int, Any, list[tuple[str, str]]]) -> Response:
    status, body, headers = result
    out = dict(headers)
    out.update(_NO_STORE)
    return JSONResponse(body, status_code=status, headers=out)


def _server(request: Request) -> LGSPAuthorizationServer:
    server: LGSPAuthorizationServer = request.app.state.platform.oauth
    return server


@router.post(
    "/oauth/token",
    summary="Issue an access token (client credentials grant)",
    responses=openapi.TOKEN,
    openapi_extra=openapi.form_body(openapi.TokenRequest),
)
async def token(request: Request) -> Response:
    """RFC 6749 §4.4 client credentials. Authenticate with HTTP Basic (client_secret_basic) or
    with ``client_id`` and ``client_secret`` in the form (client_secret_post). Answers
    ``{access_token, token_type, expires_in, scope}``; the token is an RFC 9068 JWT."""
    req = await _form_request(request, "/oauth/token")
    return _respond(await run_in_threadpool(_server(request).create_token_response, req))


@router.post(
    "/token",
    summary="Issue an access token (alias of /oauth/token)",
    responses=openapi.TOKEN,
    openapi_extra=openapi.form_body(openapi.TokenRequest),
)
async def token_alias(request: Request) -> Response:
    """The same as ``POST /oauth/token``, at the path agency systems commonly use."""
    req = await _form_request(request, "/token")
    return _respond(await run_in_threadpool(_server(request).create_token_response, req))


@router.post(
    "/oauth/introspect",
    summary="Token introspection (RFC 7662)",
    responses=openapi.INTROSPECT,
    openapi_extra=openapi.form_body(openapi.TokenLookupRequest),
)
async def introspect(request: Request) -> Response:
    req = await _form_request(request, "/oauth/introspect")
    server = _server(request)
    return _respond(await run_in_threadpool(server.create_endpoint_response, "introspection", req))


@router.post(
    "/oauth/revoke",
    summary="Token revocation (RFC 7009)",
    responses=openapi.REVOKE,
    openapi_extra=openapi.form_body(openapi.TokenLookupRequest),
)
async def revoke(request: Request) -> Response:
    req = await _form_request(request, "/oauth/revoke")
    server = _server(request)
    return _respond(await run_in_threadpool(server.create_endpoint_response, "revocation", req))


@router.get(
    "/.well-known/oauth-authorization-server",
    summary="Server metadata (RFC 8414)",
    responses=openapi.METADATA,
)
async def metadata(request: Request) -> dict[str, Any]:
    return _server(request).metadata()


@router.get(
    "/.well-known/jwks.json", summary="Public signing keys (RFC 7517)", responses=openapi.KEYS
)
async def jwks(request: Request) -> Response:
    keys = await run_in_threadpool(request.app.state.platform.keys.jwks)
    return JSONResponse(keys, headers={"Cache-Control": "public, max-age=60"})
