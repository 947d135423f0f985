"""REST shim for campaign site-structure pages: JWT routes under /v2/handles and the same
handlers for PATs under /v2/public/handles (access is decided by the resolvers)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.rest.common import ORJSONResponse, int_param, json_body, request_context
from app.rest.views import site_page_json
from resolvers import pages
from resolvers.errors import InvalidInput


async def put_page(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    view = await pages.upsert_page(ctx, p["handle"], p["campaign_id"], await json_body(request))
    return ORJSONResponse(site_page_json(view), status_code=201 if view.version == 1 else 200)


async def get_page(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    version = int_param(request, "version")
    view = await pages.get_page(ctx, p["handle"], p["campaign_id"], version)
    return ORJSONResponse(site_page_json(view))


async def publish_page(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    body = await json_body(request) if (await request.body()).strip() else {}
    if not isinstance(body, dict) or set(body) - {"version"}:
        raise InvalidInput('Body must be empty or {"version": n}.')
    version = body.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise InvalidInput("version must be an integer.")
    view = await pages.publish_page(ctx, p["handle"], p["campaign_id"], version)
    return ORJSONResponse(site_page_json(view))


def _routes(prefix: str) -> list[Route]:
    path = prefix + "/{handle}/site-structure/campaigns/{campaign_id}"
    return [
        Route(path, put_page, methods=["PUT"]),
        Route(path, get_page, methods=["GET"]),
        Route(path + "/publish", publish_page, methods=["POST"]),
    ]


ROUTES = [*_routes("/v2/handles"), *_routes("/v2/public/handles")]
