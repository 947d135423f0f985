"""REST shim for links: PUT (upsert), GET, list and DELETE."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.openapi import CURSOR, LIMIT, Param, Reply, operation
from app.rest import shapes
from app.rest.common import ORJSONResponse, int_param, json_body, request_context
from app.rest.views import link_json, page_json
from resolvers import links
from resolvers.inputs import LinkUpsert, parse
from resolvers.principal import READ_CAMPAIGNS, WRITE_CAMPAIGNS

TAGS = ["links"]


@operation(
    summary="Create or replace a short link",
    tags=TAGS,
    body=LinkUpsert,
    responses={
        201: Reply("Created.", shapes.LinkEnvelope),
        200: Reply("Replaced.", shapes.LinkEnvelope),
    },
    access=WRITE_CAMPAIGNS,
)
async def put_link(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    data = parse(LinkUpsert, await json_body(request))
    row, created = await links.upsert_link(ctx, p["handle"], p["slug"], data)
    return ORJSONResponse({"link": link_json(row)}, status_code=201 if created else 200)


@operation(
    summary="Fetch a short link",
    tags=TAGS,
    responses={200: shapes.LinkEnvelope},
    access=READ_CAMPAIGNS,
)
async def get_link(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    return ORJSONResponse({"link": link_json(await links.get_link(ctx, p["handle"], p["slug"]))})


@operation(
    summary="List short links",
    tags=TAGS,
    query=[Param("campaignId", {"type": "string"}, "Only links of this campaign."), LIMIT, CURSOR],
    responses={200: shapes.LinkPage},
    access=READ_CAMPAIGNS,
)
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


@operation(
    summary="Delete a short link",
    tags=TAGS,
    responses={204: None},
    access=WRITE_CAMPAIGNS,
)
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
