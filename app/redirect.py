"""``GET|HEAD /{handle}/{slug}``: the short-link redirect."""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from app.errors import error_response, internal_error_handler
from app.middleware.proxy import peer_is_trusted_proxy
from app.openapi import Param, Reply, operation
from resolvers.errors import DomainError
from resolvers.redirects import Visit, follow_link

_NOT_FOUND = """<!doctype html><html><head><meta charset="utf-8"><title>Link not found</title>
</head><body><h1>Link not found</h1><p>There is no short link at <code>/{path}</code>.</p>
</body></html>"""


_LOCATION_SAFE = ":/%#?=@[]!$&'()*+,;"  # what Starlette's RedirectResponse leaves unquoted
_NO_STORE = (b"cache-control", b"no-store, max-age=0")


class RedirectEndpoint:
    """Pure ASGI ``GET|HEAD /{handle}/{slug}``: the hot path, one request per click.

    It reads the few headers it needs straight from the scope and answers the 302 itself,
    without Request and Response objects; a 404 or an error goes through the usual
    responses (app/errors.py). The services come from ``scope["app"]`` (the gateway).
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = ROUTE  # the route template, for metrics
        services = scope["app"].state.services
        _, handle, slug = scope["path"].split("/", 2)
        # The country header is a proxy's word (a CDN's geo lookup): only a trusted proxy's.
        country_header = (
            services.settings.country_header.lower().encode("latin-1")
            if peer_is_trusted_proxy(scope)
            else None
        )
        user_agent = referrer = country = None
        for name, value in scope["headers"]:
            if name == b"user-agent":
                user_agent = user_agent or value.decode("latin-1")
            elif name == b"referer":
                referrer = referrer or value.decode("latin-1")
            elif name == country_header:
                country = country or value.decode("latin-1")
        # The client address as the trusted-proxy rules give it (ProxyHeadersMiddleware in
        # app/main.py): X-Forwarded-For from anyone else must not choose the visitor id.
        client = scope.get("client")
        ip = client[0] if client else ""
        visit = Visit(
            method=scope["method"],
            user_agent=user_agent or "",
            referrer=referrer,
            ip=ip,
            country_header=country,
            query=parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True),
        )
        try:
            result = await follow_link(services.redirects, handle, slug, visit)
        except DomainError as exc:
            await error_response(Request(scope), exc)(scope, receive, send)
            return
        except Exception as exc:  # noqa: BLE001 - the same 500 as every other route
            await (await internal_error_handler(Request(scope), exc))(scope, receive, send)
            return
        if result is None:
            page = _NOT_FOUND.format(path=escape(f"{handle}/{slug}"))
            await HTMLResponse(page, status_code=404)(scope, receive, send)
            return
        location = quote(result.location, safe=_LOCATION_SAFE).encode("latin-1")
        await send(
            {
                "type": "http.response.start",
                "status": 302,
                "headers": [_NO_STORE, (b"content-length", b"0"), (b"location", location)],
            }
        )
        await send({"type": "http.response.body", "body": b""})


redirect = operation(
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
        503: Reply(
            "The click writer is busy: retry after Retry-After seconds (plain text, like "
            "every error a visitor's browser may show).",
            {"type": "string"},
            media_type="text/plain",
            headers={"Retry-After": {"schema": {"type": "integer"}, "required": True}},
        ),
    },
    description="Query parameters are passed on to the click (utm_*); with "
    "appendContextParam the destination gets fg_click=<click context id>.",
)(RedirectEndpoint())

ROUTE = Route("/{handle}/{slug}", redirect, methods=["GET", "HEAD"])
ROUTES = [ROUTE]
