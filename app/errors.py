"""The one place mapping DomainError to HTTP responses (REST shapes) ."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from resolvers.errors import DomainError, Overloaded, Unavailable

log = logging.getLogger("funnelgate")

FUNNEL_REPORT_PREFIX = "/v1/"


def _headers(exc: DomainError) -> dict[str, str]:
    if isinstance(exc, Overloaded | Unavailable):
        return {"Retry-After": str(exc.retry_after)}
    return {}


def error_response(request: Request, exc: DomainError) -> Response:
    """``/v1`` keeps the funnel report's ``{"status":"error"}``; ``/v2`` answers
    ``{"error","message"}``."""
    if request.url.path.startswith(FUNNEL_REPORT_PREFIX):
        # The funnel report documents one 401 message, whatever was wrong with the token.
        message = "Unauthenticated" if exc.status == 401 else exc.message
        body = {"status": "error", "message": message}
    else:
        body = {"error": exc.code, "message": exc.message}
    return JSONResponse(body, status_code=exc.status, headers=_headers(exc))


async def domain_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return error_response(request, exc)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    if request.url.path.startswith(FUNNEL_REPORT_PREFIX):
        body = {"status": "error", "message": str(exc.detail)}
    else:
        body = {"error": code, "message": str(exc.detail)}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def client_disconnect_handler(request: Request, exc: Exception) -> Response:
    """The client left before its request was read: its doing, so no traceback and no 5xx."""
    log.info("client disconnected during %s %s", request.method, request.url.path)
    return Response(status_code=499)  # never sent; nginx's "client closed request"


async def internal_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        {"error": "internal_error", "message": "Internal server error"}, status_code=500
    )


EXCEPTION_HANDLERS = {
    DomainError: domain_error_handler,
    HTTPException: http_error_handler,
    ClientDisconnect: client_disconnect_handler,
    Exception: internal_error_handler,
}
