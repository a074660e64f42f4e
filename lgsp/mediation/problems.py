"""The problems a mediated call can end in, besides the platform's common ones (not found, not
granted, validation failed, unavailable). Whose fault each is decides its status:

    caller's mistake      4xx  UnsafeSubPath (400), UndeclaredSubPath (404), UnfitRequest (422,
                               lgsp.kit.errors),
                               ValidationFailed (422: the service's request schema)
    provider's refusal    its own 4xx status, UpstreamRejected (lgsp.kit.errors), carrying
                               the provider's status
                               (``upstream_status``) and answer (``upstream_reply``)
    provider's failure    502 UpstreamError (also a reply that breaks the service's response
                               schema), 504 GatewayTimeout
"""

from __future__ import annotations

from lgsp.kit.errors import BadRequest, NotFound


class UnsafeSubPath(BadRequest):
    slug, title = "unsafe-sub-path", "Sub-path refused"


class UndeclaredSubPath(NotFound):
    slug, title = "undeclared-sub-path", "No such sub-path"
