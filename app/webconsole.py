"""``/app``: the web console, static files shipped inside the package (no CDN, no build).

The console is a plain ES-module frontend in ``app/console/`` that talks only GraphQL
(``POST /graphql``), like any other frontend app. ``app`` is a reserved handle, so these
routes never shadow a short link.
"""

from __future__ import annotations

import os
from os import PathLike
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from app.openapi import Reply, operation

CONSOLE_DIR = Path(__file__).parent / "console"


class ConsoleFiles(StaticFiles):
    """StaticFiles that asks browsers to revalidate, so an upgraded gateway serves a fresh UI."""

    def file_response(
        self,
        full_path: PathLike[str] | str,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response


@operation(
    summary="The web console (redirects to /app/)",
    tags=["console"],
    responses={308: Reply("To /app/.", headers={"Location": {"schema": {"type": "string"}}})},
)
async def console_root(request: Request) -> RedirectResponse:
    return RedirectResponse(request.url.replace(path=request.url.path + "/"), status_code=308)


ROUTES = [
    Route("/app", console_root, methods=["GET", "HEAD"]),
    Mount(
        "/app",
        app=operation(
            method="GET",
            summary="The web console's files (index.html, scripts, styles)",
            tags=["console"],
            responses={200: Reply("A file of the console.", {"type": "string"}, "*/*")},
        )(ConsoleFiles(directory=CONSOLE_DIR, html=True)),
        name="console",
    ),
]
