"""Short-link requests take a fast path past the API's middleware and route table."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from resolvers.domain import RESERVED_HANDLES


def is_short_link(path: str) -> bool:
    """``/{handle}/{slug}`` whose first segment is not one of the gateway's own paths."""
    parts = path.split("/")
    return (
        len(parts) == 3 and bool(parts[1]) and bool(parts[2]) and (parts[1] not in RESERVED_HANDLES)
    )


def short_link_app(endpoint: ASGIApp, middleware: list[Middleware]) -> ASGIApp:
    """The redirect endpoint behind only the middleware it needs (request id, metrics,
    rate limits): no router, no exception middleware, no second Starlette app."""
    app = endpoint
    for cls, args, kwargs in reversed(middleware):
        app = cls(app, *args, **kwargs)
    return app


class ShortLinkFastPath:
    """Pure ASGI: short-link requests skip the API's middleware and its long route table.

    Redirects are the hot path (one per click): they keep the request id, metrics and rate
    limits, and skip the access-log line, compression and the body limit.
    The clicks table is their log.
    """

    def __init__(self, app: ASGIApp, fast_app: ASGIApp) -> None:
        self.app = app
        self.fast_app = fast_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in ("GET", "HEAD")
            and is_short_link(scope["path"])
        ):
            await self.fast_app(scope, receive, send)
            return
        await self.app(scope, receive, send)
