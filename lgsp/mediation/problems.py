"""The problems a mediated call can end in, besides the platform's common ones (not found, not
granted, validation failed, unavailable). Whose fault each is decides its status:

    caller's mistake      4xx  UnsafeSubPath (400), UndeclaredSubPath (404), UnfitRequest (422),
                               ValidationFailed (422: the service's request schema)
    provider's refusal    its own 4xx status, UpstreamRejected, carrying the provider's status
                               (``upstream_status``) and answer (``upstream_reply``)
    provider's failure    502 UpstreamError (also a reply that breaks the service's response
                               schema), 504 UpstreamTimeout
"""

from __future__ import annotations

from typing import Any

from lgsp.kit.errors import BadRequest, LGSPError, NotFound, UpstreamError


class UnsafeSubPath(BadRequest):
    slug, title = "unsafe-sub-path", "Sub-path refused"


class UndeclaredSubPath(NotFound):
    slug, title = "undeclared-sub-path", "No such sub-path"


class UnfitRequest(LGSPError):
    """Refused before anything was sent: the request cannot be made into a call of the service
    (no such parameter, a value of the wrong shape, not an object)."""

    status, slug, title = 422, "unfit-request", "Request does not fit the service"


class UpstreamRejected(UpstreamError):
    """The provider answered and refused: its 4xx is passed on, inside this problem."""

    slug, title = "upstream-rejected", "Provider rejected the request"

    def __init__(self, detail: str, *, upstream_status: int, upstream_reply: Any) -> None:
        super().__init__(
            detail, extra={"upstream_status": upstream_status, "upstream_reply": upstream_reply}
        )
        self.status = upstream_status
