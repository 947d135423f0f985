"""REST shim for links: PUT (upsert), GET, list and DELETE."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.rest.common import ORJSONResponse, int_param, json_body, request_context
from app.rest.views import link_json, page_json
from resolvers import links
from resolvers.inputs import LinkUpsert, parse


async def put_link(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    data = parse(LinkUpsert, await json_body(request))
    row, created = await links.upsert_link(ctx, p["handle"], p["slug"], data)
    return ORJSONResponse({"link": link_json(row)}, status_code=201 if created else 200)


async def get_link(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    return ORJSONResponse({"link": link_json(await links.get_link(ctx, p["handle"], p["slug"]))})


async def list_links(request: Request) -> Response:
    ctx = await request_context(request)
    page = await links.list_links(
        ctx,
        request.path_params["handle"],
        campaign_id=request.query_params.get("campaignId") or None,
        first=int_param(request, "limit"),
        after=request.query_params.get("cursor") or None,
    )
    return ORJSONResponse(page_json(page, "links", link_json))


async def delete_link(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    await links.delete_link(ctx, p["handle"], p["slug"])
    return Response(status_code=204)


ROUTES = [
    Route("/v2/handles/{handle}/links", list_links, methods=["GET"]),
    Route("/v2/handles/{handle}/links/{slug}", put_link, methods=["PUT"]),
    Route("/v2/handles/{handle}/links/{slug}", get_link, methods=["GET"]),
    Route("/v2/handles/{handle}/links/{slug}", delete_link, methods=["DELETE"]),
]
