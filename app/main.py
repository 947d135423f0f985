"""The Starlette application factory."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from asgi_correlation_id import CorrelationIdMiddleware
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute
from starlette_compress import CompressMiddleware

from app import metrics, openapi, probes, redirect, webconsole
from app.errors import EXCEPTION_HANDLERS
from app.graphql import GraphQLApp
from app.logs import REQUEST_ID_HEADER, valid_request_id
from app.mcp import MCPEndpoint
from app.middleware.access_log import AccessLogMiddleware
from app.middleware.bodylimit import BodyLimitMiddleware
from app.middleware.metrics import MetricsMiddleware
from app.middleware.proxy import TrustedProxyHeaders
from app.middleware.ratelimit import RateLimitMiddleware
from app.middleware.request_text import RequestTextMiddleware
from app.middleware.short_links import ShortLinkFastPath, short_link_app
from app.rest import (
    analytics,
    campaigns,
    conversions,
    links,
    pages,
    personalization,
    tokens,
    webhooks,
)
from app.runtime.services import Services
from app.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    services = Services.build(settings)
    metrics.instrument(services)
    mcp = MCPEndpoint(services)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await services.start()
        try:
            async with mcp.running():
                yield
        finally:
            await services.close()

    graphql = GraphQLApp(services)
    routes = [
        *probes.ROUTES,
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        *campaigns.ROUTES,
        *links.ROUTES,
        *conversions.ROUTES,
        *tokens.ROUTES,
        *analytics.ROUTES,
        *personalization.ROUTES,
        *pages.ROUTES,
        Route("/mcp", mcp, methods=["POST"]),
        *webhooks.ROUTES,
        *metrics.ROUTES,
        *openapi.ROUTES,
        *webconsole.ROUTES,
        # Last: the short-link catch-all must not shadow any API route.
        *redirect.ROUTES,
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            # The client address (visitor ids, rate limits) and the country header count only
            # from a trusted proxy, under any server.
            Middleware(TrustedProxyHeaders, trusted_hosts=settings.trusted_proxy_hosts),
            # Short links first: the hot path skips everything below but metrics and limits.
            Middleware(
                ShortLinkFastPath,
                fast_app=short_link_app(
                    redirect.redirect,
                    [
                        Middleware(
                            CorrelationIdMiddleware,
                            header_name=REQUEST_ID_HEADER,
                            validator=valid_request_id,
                        ),
                        Middleware(RequestTextMiddleware),
                        Middleware(MetricsMiddleware),
                        Middleware(RateLimitMiddleware, limiter=services.rate_limiter),
                    ],
                ),
            ),
            # Outermost first: every response, even a 429, carries the request id.
            Middleware(
                CorrelationIdMiddleware,
                header_name=REQUEST_ID_HEADER,
                validator=valid_request_id,
            ),
            # Before anything reads the path: no NUL, control character or bad UTF-8 in it.
            Middleware(RequestTextMiddleware),
            Middleware(AccessLogMiddleware),
            Middleware(MetricsMiddleware),
            Middleware(CompressMiddleware, minimum_size=500),
            Middleware(BodyLimitMiddleware, max_bytes=settings.http_max_body_bytes),
            Middleware(RateLimitMiddleware, limiter=services.rate_limiter),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.services = services
    return app


def app_factory() -> Starlette:
    """Entry point for ``uvicorn --factory app.main:app_factory``."""
    return create_app()
