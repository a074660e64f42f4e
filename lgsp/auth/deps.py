"""FastAPI dependencies that authenticate the caller and check scopes.

Endpoints declare who may call them in their signature::

    async def send(principal: MessagesSend) -> ...
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import OAuth2
from starlette.concurrency import run_in_threadpool

from lgsp.auth.server import SCOPES
from lgsp.auth.tokens import Principal, TokenVerifier
from lgsp.kit.errors import InsufficientScope, Unauthorized

# Only documents the scheme in OpenAPI (so /docs can fetch a token); tokens are checked below.
_SCHEME = OAuth2(
    flows=OAuthFlows(
        clientCredentials=OAuthFlowClientCredentials(tokenUrl="/oauth/token", scopes=SCOPES)
    ),
    scheme_name="client_credentials",
    auto_error=False,
)


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("an access token is required (Authorization: Bearer ...)", error=None)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "the Authorization header must be 'Bearer <token>'", error="invalid_request"
        )
    return token.strip()


async def current_principal(request: Request) -> Principal:
    """Who calls, worked out once per request. A token verified before is answered on the event
    loop while the token state in memory is current; otherwise (a new token, or the state due
    for its reload from the database) the verifier runs in the thread pool."""
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return known
    platform = request.app.state.platform
    verifier: TokenVerifier = platform.verifier
    token = bearer_token(request)
    principal = verifier.principal_at_once(token)
    if principal is None:
        principal = await run_in_threadpool(verifier.principal, token)
    await _check_rates(platform, principal)
    request.state.principal = principal
    return principal


async def _check_rates(platform: Any, principal: Principal) -> None:
    """The client's own bucket, then its agency's quota (province configuration) if it has one;
    429 problem+json with Retry-After when either is empty."""
    limiter = platform.limiter
    await limiter.check_async(
        f"client:{principal.client_id}", platform.settings.rate_limit_client, "from this client"
    )
    agency = platform.directory.snapshot().agency(principal.agency)
    if agency is not None and agency.quota is not None:
        await limiter.check_async(
            f"agency:{agency.code}", agency.quota, "from this agency (its quota)"
        )


def require_scopes(*any_of: str) -> Callable[[Request], Awaitable[Principal]]:
    """The caller must hold at least one of ``any_of``."""

    # The scopes reach the OpenAPI document as one requirement; lgsp.kit.openapi splits it
    # into alternatives (any one of them suffices).
    async def dependency(
        request: Request, _documented: str | None = Security(_SCHEME, scopes=list(any_of))
    ) -> Principal:
        principal = await current_principal(request)
        if any_of and not any(principal.has(s) for s in any_of):
            raise InsufficientScope(
                f"this call needs the scope {' or '.join(repr(s) for s in any_of)}",
                headers={
                    "WWW-Authenticate": 'Bearer realm="lgsp", error="insufficient_scope", '
                    f'scope="{" ".join(any_of)}"'
                },
            )
        return principal

    return dependency


Authenticated = Annotated[Principal, Depends(require_scopes())]
MessagesSend = Annotated[Principal, Depends(require_scopes("messages:send"))]
MessagesRead = Annotated[Principal, Depends(require_scopes("messages:read", "audit"))]
InboxRead = Annotated[Principal, Depends(require_scopes("inbox:read"))]
ServicesCall = Annotated[Principal, Depends(require_scopes("services:call"))]
SchemasValidate = Annotated[Principal, Depends(require_scopes("schemas:validate", "messages:send"))]
Admin = Annotated[Principal, Depends(require_scopes("admin"))]
# Metrics name agencies, message types and volumes: scraped with a client of their own.
MetricsRead = Annotated[Principal, Depends(require_scopes("metrics"))]
# Auditors and administrators are different people: an admin token does not read the log.
Auditor = Annotated[Principal, Depends(require_scopes("audit"))]
