"""``GET|HEAD /{handle}/{slug}``: the short-link redirect."""

from __future__ import annotations

from html import escape
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app.openapi import Param, Reply, operation
from resolvers.domain import RESERVED_HANDLES
from resolvers.redirects import Visit, follow_link

_NOT_FOUND = """<!doctype html><html><head><meta charset="utf-8"><title>Link not found</title>
</head><body><h1>Link not found</h1><p>There is no short link at <code>/{path}</code>.</p>
</body></html>"""


def _client_ip(request: Request) -> str:
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded:
        return forwarded.split(",")[0].strip()
    return request.client.host if request.client else ""


@operation(
    summary="Follow a short link",
    tags=["redirect"],
    head=True,
    query=[Param("utm_source", {"type": "string"}), Param("utm_medium", {"type": "string"})],
    responses={
        302: Reply(
            "To the destination (or a personalization variant); the click is recorded "
            "when the link's campaign is ACTIVE.",
            headers={"Location": {"schema": {"type": "string"}, "required": True}},
        ),
        404: Reply("No such link.", {"type": "string"}, media_type="text/html"),
    },
    errors=[503],
    description="Query parameters are passed on to the click (utm_*); with "
    "appendContextParam the destination gets fg_click=<click context id>.",
)
async def redirect(request: Request) -> Response:
    services = request.app.state.services
    handle, slug = request.path_params["handle"], request.path_params["slug"]
    visit = Visit(
        method=request.method,
        user_agent=request.headers.get("user-agent", ""),
        referrer=request.headers.get("referer"),
        ip=_client_ip(request),
        country_header=request.headers.get(services.settings.country_header),
        query=list(request.query_params.multi_items()),
    )
    result = await follow_link(services, handle, slug, visit)
    if result is None:
        return HTMLResponse(_NOT_FOUND.format(path=escape(f"{handle}/{slug}")), status_code=404)
    return RedirectResponse(
        result.location, status_code=302, headers={"Cache-Control": "no-store, max-age=0"}
    )


ROUTES = [Route("/{handle}/{slug}", redirect, methods=["GET", "HEAD"])]


def is_short_link(path: str) -> bool:
    """``/{handle}/{slug}`` whose first segment is not one of the gateway's own paths."""
    parts = path.split("/")
    return (
        len(parts) == 3 and bool(parts[1]) and bool(parts[2]) and (parts[1] not in RESERVED_HANDLES)
    )


def short_link_app(services: Any, exception_handlers: Any, middleware: list[Any]) -> Starlette:
    """The redirect alone, behind only the middleware it needs (metrics, rate limits)."""
    app = Starlette(routes=ROUTES, middleware=middleware, exception_handlers=exception_handlers)
    app.state.services = services
    return app


class ShortLinkFastPath:
    """Pure ASGI: short-link requests skip the API's middleware and its long route table.

    Redirects are the hot path (one per click): they keep the request id, metrics and rate
    limits, and skip the access-log line, compression, body limit and cache invalidation.
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
