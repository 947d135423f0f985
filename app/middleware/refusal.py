"""A request refused before routing, answered in the error shape of its route family.

``/v2`` (and the unlimited paths) ``{"error": code, "message": text}``; ``/v1``
``{"status": "error", "message": text}``; ``/graphql`` ``errors[].extensions.code``; a short
link plain text, since a visitor's browser shows it.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, PlainTextResponse, Response

from app.ratelimit import route_family


def refusal(
    path: str, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    family = route_family(path)
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
