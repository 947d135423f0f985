"""REST shim for campaigns: create, list, fetch, status, health and test conversions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.rest.common import ORJSONResponse, enum_param, int_param, json_body, request_context
from app.rest.views import campaign_json, health_json, page_json
from resolvers import campaigns, conversions, health
from resolvers.domain import CampaignStatus
from resolvers.inputs import CampaignCreate, CampaignUpdate, TestConversionInput, parse


async def create_campaign(request: Request) -> Response:
    ctx = await request_context(request)
    data = parse(CampaignCreate, await json_body(request))
    row = await campaigns.create_campaign(ctx, request.path_params["handle"], data)
    return ORJSONResponse(
        {"campaign": campaign_json(row), "quickStart": campaigns.quick_start()}, status_code=201
    )


async def list_campaigns(request: Request) -> Response:
    ctx = await request_context(request)
    page = await campaigns.list_campaigns(
        ctx,
        request.path_params["handle"],
        status=enum_param(request, "status", CampaignStatus),
        first=int_param(request, "limit"),
        after=request.query_params.get("cursor") or None,
    )
    return ORJSONResponse(page_json(page, "campaigns", campaign_json))


async def get_campaign(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    row = await campaigns.get_campaign(ctx, p["handle"], p["campaign_id"])
    return ORJSONResponse({"campaign": campaign_json(row)})


async def update_campaign(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    data = parse(CampaignUpdate, await json_body(request))
    row = await campaigns.update_campaign(ctx, p["handle"], p["campaign_id"], data)
    return ORJSONResponse({"campaign": campaign_json(row)})


async def campaign_health(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    report = await health.campaign_health(ctx, p["handle"], p["campaign_id"])
    return ORJSONResponse(health_json(report))


async def test_conversion(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    raw = await request.body()
    data = parse(TestConversionInput, await json_body(request) if raw.strip() else {})
    result, view = await conversions.test_conversion(ctx, p["handle"], p["campaign_id"], data)
    return ORJSONResponse(
        {
            "status": result.status,
            "conversion": view,
            "webhookEvent": {"id": result.webhook_event_id, "type": "conversion.tested"}
            if result.webhook_event_id
            else None,
        },
        status_code=201 if result.status == "created" else 200,
    )


ROUTES = [
    Route("/v2/handles/{handle}/campaigns", create_campaign, methods=["POST"]),
    Route("/v2/handles/{handle}/campaigns", list_campaigns, methods=["GET"]),
    Route("/v2/handles/{handle}/campaigns/{campaign_id}", get_campaign, methods=["GET"]),
    Route("/v2/handles/{handle}/campaigns/{campaign_id}", update_campaign, methods=["PATCH"]),
    Route("/v2/handles/{handle}/campaigns/{campaign_id}/health", campaign_health, methods=["GET"]),
    Route(
        "/v2/handles/{handle}/campaigns/{campaign_id}/test-conversion",
        test_conversion,
        methods=["POST"],
    ),
]
