"""A request refused before routing, answered in the error shape of its route family.

``/v2`` (and the unlimited paths) ``{"error": code, "message": text}``; ``/v1``
``{"status": "error", "message": text}``; ``/graphql`` ``errors[].extensions.code``; a short
link plain text, since a visitor's browser shows it.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, PlainTextResponse, Response

from resolvers.domain import RESERVED_HANDLES


def route_family(path: str) -> str | None:
    """``graphql``, ``v1``, ``api`` or ``redirect``; ``None`` for unlimited paths."""
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


def refusal(
    path: str, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    return family_refusal(route_family(path), status, code, message, headers)


def family_refusal(
    family: str | None,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
) -> Response:
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
