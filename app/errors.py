"""The one place mapping errors to HTTP responses, in the shape of each route family."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from resolvers.domain import RESERVED_HANDLES
from resolvers.errors import DomainError, Overloaded, Unavailable

log = logging.getLogger("funnelgate")


def route_family(path: str) -> str | None:
    """``graphql``, ``v1``, ``api`` or ``redirect``; ``None`` for the gateway's other paths
    (probes, metrics, documents), which answer in the ``api`` shape but are never limited."""
    if path == "/graphql" or path.startswith("/graphql/"):
        return "graphql"
    if path.startswith("/v1/"):
        return "v1"
    if path.startswith("/v2/") or path == "/mcp" or path.startswith("/mcp/"):
        return "api"
    segments = path.strip("/").split("/")
    if len(segments) == 2 and all(segments) and segments[0] not in RESERVED_HANDLES:
        return "redirect"
    return None


def render_error(
    family: str | None,
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The one error renderer: ``/v2``, MCP and the other paths ``{"error", "message"}``;
    the funnel report (``/v1``) ``{"status": "error", "message"}``; ``/graphql``
    ``errors[].extensions.code``; a short link plain text, since a visitor's browser shows it.
    """
    if family == "redirect":
        return PlainTextResponse(message, status_code=status, headers=headers)
    body: dict[str, Any]
    if family == "graphql":
        body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    elif family == "v1":
        body = {"status": "error", "message": message}
    else:
        body = {"error": code, "message": message}
    return JSONResponse(body, status_code=status, headers=headers)


def refusal(
    path: str, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    """A request refused before routing (body too large, rate limited), in its path's shape."""
    return render_error(route_family(path), status, code, message, headers)


def error_response(request: Request, exc: DomainError) -> Response:
    family = route_family(request.url.path)
    # The funnel report documents one 401 message, whatever was wrong with the token.
    message = "Unauthenticated" if family == "v1" and exc.status == 401 else exc.message
    headers = None
    if isinstance(exc, Overloaded | Unavailable):
        headers = {"Retry-After": str(exc.retry_after)}
    return render_error(family, exc.status, exc.code, message, headers)


async def domain_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return error_response(request, exc)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return refusal(request.url.path, exc.status_code, code, str(exc.detail), exc.headers)


async def client_disconnect_handler(request: Request, exc: Exception) -> Response:
    """The client left before its request was read: its doing, so no traceback and no 5xx."""
    log.info("client disconnected during %s %s", request.method, request.url.path)
    return Response(status_code=499)  # never sent; nginx's "client closed request"


async def internal_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return refusal(request.url.path, 500, "internal_error", "Internal server error")


EXCEPTION_HANDLERS = {
    DomainError: domain_error_handler,
    HTTPException: http_error_handler,
    ClientDisconnect: client_disconnect_handler,
    Exception: internal_error_handler,
}
