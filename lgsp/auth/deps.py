"""FastAPI dependencies that authenticate the caller and check scopes.

Endpoints declare who may call them in their signature::

    async def send(principal: MessagesSend) -> ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import OAuth2

from lgsp.auth.server import SCOPES
from lgsp.auth.tokens import Principal
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


def current_principal(request: Request) -> Principal:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        principal = request.app.state.platform.verifier.principal(bearer_token(request))
        request.state.principal = principal
    return principal


def require_scopes(*any_of: str) -> Callable[[Request], Principal]:
    """The caller must hold at least one of ``any_of``."""

    # The scopes reach the OpenAPI document as one requirement; lgsp.kit.openapi splits it
    # into alternatives (any one of them suffices).
    def dependency(
        request: Request, _documented: str | None = Security(_SCHEME, scopes=list(any_of))
    ) -> Principal:
        principal = current_principal(request)
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
Auditor = Annotated[Principal, Depends(require_scopes("audit", "admin"))]
