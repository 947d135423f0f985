"""The baseline for redirect_throughput: a bare Starlette app with one 302 route.

uvicorn bench.bare_redirect:app --host 127.0.0.1 --port 8001
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

DESTINATION = "https://shop.example.com/landing"


async def redirect(request: Request) -> Response:
    return RedirectResponse(
        DESTINATION, status_code=302, headers={"Cache-Control": "no-store, max-age=0"}
    )


app = Starlette(routes=[Route("/{handle}/{slug}", redirect, methods=["GET", "HEAD"])])
