"""The platform's error tree: one root, one declared class per problem type.

Each class declares its problem type (``slug``, giving the ``type`` URI), HTTP ``status`` and
``title``; an instance adds only its ``detail`` and the members its class declares (the two
classes whose status mirrors someone else's take it in their constructor). An error that
reaches an API client is rendered as RFC 9457 ``application/problem+json``; one that reaches
the command line is one line on stderr and a non-zero exit (``failure`` in lgsp/cli/common.py).
Classes marked with a module are declared beside the code that raises them.

    LGSPError (500 internal-error)
    ├── BadRequest (400)
    │   ├── MalformedBody (400)              body is not valid JSON / XML
    │   ├── UnsafeSubPath (400)              mediation/paths.py: dot segments, encoded slashes...
    │   └── ExportFormatError (400)          messagelog/export.py: not a log export file
    ├── Unauthorized (401)                   no, invalid, expired or revoked token
    ├── Forbidden (403)                      missing scope, no grant, not a party
    │   ├── InsufficientScope (403)
    │   ├── NotGranted (403)
    │   └── NotAParty (403)                  exchange/parties.py: not a party to the dossier
    ├── NotFound (404)                       also the router's unknown paths
    │   └── UndeclaredSubPath (404)          mediation/paths.py: a sub-path the service lacks
    ├── MethodNotAllowed (405)
    ├── Conflict (409)
    │   ├── IdempotencyConflict (409)        idempotency key reused with another body
    │   └── AlreadyRunning (409)             one live log verification at a time (kit.ratelimit)
    ├── RateLimited (429)                    a rate limit or quota is spent (kit.ratelimit)
    ├── PayloadTooLarge (413)
    ├── UnsupportedMediaType (415)
    ├── HTTPProblem (the framework's status) any other error the HTTP layer raises
    ├── Unprocessable (422)
    │   ├── InvalidEnvelope (422)            the request envelope fails its model
    │   ├── InvalidRequest (422)             path, query or header parameters fail their types
    │   ├── UnknownMessageType (422)
    │   ├── UnknownRecipient (422)
    │   ├── NoRecipient (422)
    │   └── ValidationFailed (422)           every schema error with its JSON pointer
    ├── UpstreamError (502)                  a provider failed
    │   ├── UpstreamRejected (provider's 4xx) the provider refused the call as the caller's fault
    │   ├── UnfitRequest (422)               the payload cannot be made into the provider's call
    │   └── GatewayTimeout (504)             no answer within the timeout
    ├── Unavailable (503)                    database or broker unreachable, circuit open
    └── Misconfigured (500)                  the platform cannot run as set up
        ├── SettingsError (500)              LGSP_* settings invalid (transport, broker URL, ...)
        │   └── InsecureSettingsError (500)  a development default, demo secret or placeholder
        │                                    outside development
        ├── ConfigError (422)                directory/config_schema.py: the province
        │                                    configuration has problems (every one listed)
        ├── SchemaLoadError (500)            validation/catalogue.py: the schema folder is broken
        └── SealError (500)                  messagelog/sealer.py: a batch cannot be sealed

Adapters keep their own root for the adapter contract (``lgsp_adapters.base.AdapterError``:
retriable, permanent, timeout, configuration); ``lgsp.adapterpool.problem_from_adapter_error``,
where the core meets its adapters, is the one place an adapter failure becomes a problem here.
"""

from __future__ import annotations

from typing import Any

PROBLEM_BASE = "https://lgsp.example/problems/"


class LGSPError(Exception):
    """The root. ``detail`` says what went wrong in one line a person can act on."""

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


class MethodNotAllowed(LGSPError):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"


class Conflict(LGSPError):
    status, slug, title = 409, "conflict", "Conflict"


class IdempotencyConflict(Conflict):
    slug, title = "idempotency-key-reused", "Idempotency key reused with a different request"


class PayloadTooLarge(LGSPError):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class HTTPProblem(LGSPError):
    """An error of the HTTP layer with no class of its own; its status is the layer's."""

    slug, title = "http-error", "Error"

    def __init__(self, detail: str, *, status: int, **kw: Any) -> None:
        super().__init__(detail, **kw)
        self.status = status


class Unprocessable(LGSPError):
    status, slug, title = 422, "unprocessable", "Unprocessable request"


class InvalidEnvelope(Unprocessable):
    slug, title = "invalid-envelope", "Invalid request envelope"

    def __init__(self, detail: str, errors: list[dict[str, Any]], **kw: Any) -> None:
        super().__init__(detail, extra={"errors": errors}, **kw)


class InvalidRequest(Unprocessable):
    slug, title = "invalid-request", "Invalid request"

    def __init__(self, detail: str, errors: list[dict[str, Any]], **kw: Any) -> None:
        super().__init__(detail, extra={"errors": errors}, **kw)


class UnknownMessageType(Unprocessable):
    slug, title = "unknown-message-type", "Unknown message type"


class UnknownRecipient(Unprocessable):
    slug, title = "unknown-recipient", "Unknown recipient"


class NoRecipient(Unprocessable):
    slug, title = "no-recipient", "No recipient"


class ValidationFailed(Unprocessable):
    slug, title = "validation-failed", "Payload failed validation"

    def __init__(
        self, detail: str, errors: list[dict[str, Any]], *, omitted: int = 0, **kw: Any
    ) -> None:
        # omitted: how many more errors were found than ``errors`` lists (lists are capped).
        extra: dict[str, Any] = {"errors": errors}
        if omitted:
            extra["errors_omitted"] = omitted
        super().__init__(detail, extra=extra, **kw)
        self.errors = errors


class UpstreamError(LGSPError):
    status, slug, title = 502, "upstream-error", "Provider error"


class UpstreamRejected(UpstreamError):
    """The provider refused the call with a 4xx: the caller gets the provider's status."""

    slug, title = "upstream-rejected", "Provider rejected the request"

    def __init__(self, detail: str, *, status: int, **kw: Any) -> None:
        super().__init__(detail, **kw)
        self.status = status


class UnfitRequest(UpstreamError):
    status, slug, title = 422, "unfit-request", "Request does not fit the service"


class GatewayTimeout(UpstreamError):
    status, slug, title = 504, "upstream-timeout", "Provider timed out"


class Unavailable(LGSPError):
    status, slug, title = 503, "unavailable", "Service unavailable"


class Misconfigured(LGSPError):
    """The platform cannot run as it is set up; reported at start-up or by the command line."""

    slug, title = "misconfigured", "Platform misconfigured"


class SettingsError(Misconfigured):
    slug, title = "invalid-settings", "Invalid settings"


class InsecureSettingsError(SettingsError):
    """A development default, a demo secret or a placeholder where the environment is not
    development."""

    slug, title = "insecure-settings", "Insecure settings"
