"""REST shim for campaign site-structure pages: JWT routes under /v2/handles and the same
handlers for PATs under /v2/public/handles (access is decided by the resolvers)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.openapi import Param, Reply, operation
from app.rest import shapes
from app.rest.common import ORJSONResponse, int_param, json_body, request_context
from app.rest.views import site_page_json
from resolvers import pages
from resolvers.errors import InvalidInput
from resolvers.pages import PageInput
from resolvers.principal import READ_PAGES, WRITE_PAGES

TAGS = ["pages"]


@operation(
    summary="Store a new version of a campaign's site-structure page",
    tags=TAGS,
    body=PageInput,
    responses={
        201: Reply("The first version.", shapes.SitePage),
        200: Reply("A later version.", shapes.SitePage),
    },
    access=WRITE_PAGES,
    errors=[409],
    description="The schema JSON goes to the object store under objectKey.",
)
async def put_page(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    view = await pages.upsert_page(ctx, p["handle"], p["campaignId"], await json_body(request))
    return ORJSONResponse(site_page_json(view), status_code=201 if view.version == 1 else 200)


@operation(
    summary="The latest (or one) version of a campaign's site-structure page",
    tags=TAGS,
    query=[Param("version", {"type": "integer", "minimum": 1}, "A given version.")],
    responses={200: shapes.SitePage},
    access=READ_PAGES,
)
async def get_page(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    version = int_param(request, "version")
    view = await pages.get_page(ctx, p["handle"], p["campaignId"], version)
    return ORJSONResponse(site_page_json(view))


@operation(
    summary="Publish a site-structure page version (access FREE_WITH_LOGIN)",
    tags=TAGS,
    body={
        "type": "object",
        "properties": {"version": {"type": "integer", "minimum": 1}},
        "additionalProperties": False,
    },
    body_required=False,
    responses={200: shapes.SitePage},
    access=WRITE_PAGES,
    errors=[409],
    description="Publishes the latest version unless a version is given; sets the "
    "campaign's detailsPageSlug.",
)
async def publish_page(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    body = await json_body(request) if (await request.body()).strip() else {}
    if not isinstance(body, dict) or set(body) - {"version"}:
        raise InvalidInput('Body must be empty or {"version": n}.')
    version = body.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise InvalidInput("version must be an integer.")
    view = await pages.publish_page(ctx, p["handle"], p["campaignId"], version)
    return ORJSONResponse(site_page_json(view))


def _routes(prefix: str) -> list[Route]:
    path = prefix + "/{handle}/site-structure/campaigns/{campaignId}"
    return [
        Route(path, put_page, methods=["PUT"]),
        Route(path, get_page, methods=["GET"]),
        Route(path + "/publish", publish_page, methods=["POST"]),
    ]


ROUTES = [*_routes("/v2/handles"), *_routes("/v2/public/handles")]
