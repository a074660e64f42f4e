"""The platform's error tree. Every error that reaches a client is one of these, rendered as
RFC 9457 ``application/problem+json`` with a stable ``type``.

    LGSPError (500)
    ├── BadRequest (400)
    │   ├── MalformedBody (400)          body is not valid JSON / XML
    │   └── UnsupportedMediaType (415)
    ├── Unauthorized (401)               no, invalid, expired or revoked token
    ├── Forbidden (403)                  missing scope, no grant, not a party to the message
    ├── NotFound (404)
    ├── Conflict (409)                   idempotency key reused with another body
    ├── PayloadTooLarge (413)
    ├── ValidationFailed (422)           every schema error with its JSON pointer
    ├── UpstreamError (502)              a provider answered with an error
    │   └── UpstreamTimeout (504)
    └── Unavailable (503)                database or broker unreachable, circuit open
"""

from __future__ import annotations

from typing import Any

PROBLEM_BASE = "https://lgsp.example/problems/"


class LGSPError(Exception):
    status: int = 500
    slug: str = "internal-error"
    title: str = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}
        self.headers = headers or {}

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.slug

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class BadRequest(LGSPError):
    status, slug, title = 400, "bad-request", "Bad request"


class MalformedBody(BadRequest):
    slug, title = "malformed-body", "Malformed request body"


class UnsupportedMediaType(LGSPError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class Unauthorized(LGSPError):
    status, slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str, *, error: str | None = "invalid_token", **kw: Any) -> None:
        # RFC 6750 §3.1: a request that carried no token gets the challenge without an error.
        challenge = f'Bearer realm="lgsp", error="{error}"' if error else 'Bearer realm="lgsp"'
        headers = kw.pop("headers", None) or {"WWW-Authenticate": challenge}
        super().__init__(detail, headers=headers, **kw)


class Forbidden(LGSPError):
    status, slug, title = 403, "forbidden", "Forbidden"


class InsufficientScope(Forbidden):
    slug, title = "insufficient-scope", "Insufficient scope"


class NotGranted(Forbidden):
    slug, title = "not-granted", "Not granted"


class NotFound(LGSPError):
    status, slug, title = 404, "not-found", "Not found"


class UnknownMessageType(LGSPError):
    status, slug, title = 422, "unknown-message-type", "Unknown message type"


class UnknownRecipient(LGSPError):
    status, slug, title = 422, "unknown-recipient", "Unknown recipient"


class NoRecipient(LGSPError):
    status, slug, title = 422, "no-recipient", "No recipient"


class Conflict(LGSPError):
    status, slug, title = 409, "conflict", "Conflict"


class IdempotencyConflict(Conflict):
    slug, title = "idempotency-key-reused", "Idempotency key reused with a different request"


class PayloadTooLarge(LGSPError):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class ValidationFailed(LGSPError):
    status, slug, title = 422, "validation-failed", "Payload failed validation"

    def __init__(self, detail: str, errors: list[dict[str, Any]], **kw: Any) -> None:
        super().__init__(detail, extra={"errors": errors}, **kw)
        self.errors = errors


class UpstreamError(LGSPError):
    status, slug, title = 502, "upstream-error", "Provider error"


class UpstreamTimeout(UpstreamError):
    status, slug, title = 504, "upstream-timeout", "Provider timed out"


class Unavailable(LGSPError):
    status, slug, title = 503, "unavailable", "Service unavailable"
