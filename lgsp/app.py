"""The FastAPI application: ``create_app(settings)`` builds it; the lifespan builds the Platform."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from lgsp import docs_ui, observability
from lgsp.admin import endpoints as admin_endpoints
from lgsp.auth import endpoints as auth_endpoints
from lgsp.background import start_delivery, start_presence, start_sealer
from lgsp.directory import endpoints as directory_endpoints
from lgsp.exchange import endpoints as exchange_endpoints
from lgsp.kit import openapi
from lgsp.kit.http import RequestContextMiddleware, install_error_handlers
from lgsp.kit.ratelimit import AddressRateLimitMiddleware
from lgsp.mediation import endpoints as mediation_endpoints
from lgsp.messagelog import endpoints as messagelog_endpoints
from lgsp.platform import Platform
from lgsp.settings import Settings, get_settings
from lgsp.validation import endpoints as validation_endpoints

DESCRIPTION = """
The province's integration platform (LGSP). Agency systems authenticate with OAuth 2.0 client
credentials (`POST /oauth/token` or `POST /token`), then send messages that the platform
validates, logs and relays to every recipient at least once, or call other agencies' services
through it. Errors are RFC 9457 problem details.
"""


def create_app(
    settings: Settings | None = None,
    *,
    on_start: Callable[[Platform], None] | None = None,
) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        platform = Platform.build(settings)
        platform.start()
        app.state.platform = platform
        app.state.directory = platform.directory
        if settings.run_workers_inprocess:
            start_delivery(platform)
        elif settings.relay_in_api:
            # Publish right after each commit instead of waiting for a worker's next poll.
            start_delivery(platform, relay=True, consume=False)
        start_sealer(platform)
        start_presence(platform, "api")
        if on_start is not None:
            on_start(platform)
        try:
            yield
        finally:
            platform.close()

    app = FastAPI(
        title="LGSP",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    docs_ui.install(app)
    install_error_handlers(app)
    for module in (
        observability,
        auth_endpoints,
        exchange_endpoints,
        validation_endpoints,
        directory_endpoints,
        mediation_endpoints,
        admin_endpoints,
        messagelog_endpoints,
    ):
        app.include_router(module.router)
    openapi.install(app, servers=[settings.issuer])
    # Added first, so it runs inside the request context (its 429s carry the request id).
    app.add_middleware(AddressRateLimitMiddleware, rate=settings.rate_limit_address)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        by_type=settings.max_body_bytes_by_type,
    )
    return app
