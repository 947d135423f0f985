"""REST shim for campaigns: create, list, fetch, status, health and test conversions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.openapi import CURSOR, LIMIT, Param, operation
from app.rest import shapes
from app.rest.common import ORJSONResponse, enum_param, int_param, json_body, request_context
from app.rest.views import campaign_json, health_json, page_json
from resolvers import campaigns, conversions, health
from resolvers.domain import CampaignStatus
from resolvers.inputs import CampaignCreate, CampaignUpdate, TestConversionInput, parse
from resolvers.principal import READ_CAMPAIGNS, TEST_CONVERSION, WRITE_CAMPAIGNS

TAGS = ["campaigns"]


@operation(
    summary="Create a campaign",
    tags=TAGS,
    body=CampaignCreate,
    responses={201: shapes.CampaignCreated},
    access=WRITE_CAMPAIGNS,
    errors=[409],
    description="Goal type defaults fill trackingPreset and conversionEventType.",
)
async def create_campaign(request: Request) -> Response:
    ctx = await request_context(request)
    data = parse(CampaignCreate, await json_body(request))
    row = await campaigns.create_campaign(ctx, request.path_params["handle"], data)
    return ORJSONResponse(
        {"campaign": campaign_json(row), "quickStart": campaigns.quick_start()}, status_code=201
    )


@operation(
    summary="List campaigns, newest first",
    tags=TAGS,
    query=[Param("status", {"enum": [s.value for s in CampaignStatus]}), LIMIT, CURSOR],
    responses={200: shapes.CampaignPage},
    access=READ_CAMPAIGNS,
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


@operation(
    summary="Fetch a campaign",
    tags=TAGS,
    responses={200: shapes.CampaignEnvelope},
    access=READ_CAMPAIGNS,
)
async def get_campaign(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    row = await campaigns.get_campaign(ctx, p["handle"], p["campaignId"])
    return ORJSONResponse({"campaign": campaign_json(row)})


@operation(
    summary="Change a campaign's status, name or primary slug",
    tags=TAGS,
    body=CampaignUpdate,
    responses={200: shapes.CampaignEnvelope},
    access=WRITE_CAMPAIGNS,
    errors=[409],
    description="Status moves DRAFT→ACTIVE, ACTIVE→PAUSED, PAUSED→ACTIVE; others are 409.",
)
async def update_campaign(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    data = parse(CampaignUpdate, await json_body(request))
    row = await campaigns.update_campaign(ctx, p["handle"], p["campaignId"], data)
    return ORJSONResponse({"campaign": campaign_json(row)})


@operation(
    summary="Check a campaign's tracking setup",
    tags=TAGS,
    responses={200: shapes.CampaignHealth},
    access=READ_CAMPAIGNS,
)
async def campaign_health(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    report = await health.campaign_health(ctx, p["handle"], p["campaignId"])
    return ORJSONResponse(health_json(report))


@operation(
    summary="Post a test conversion",
    tags=TAGS,
    body=TestConversionInput,
    body_required=False,
    responses={201: shapes.TestConversionResult, 200: shapes.TestConversionResult},
    access=TEST_CONVERSION,
    errors=[409],
    description="Stored with metadata.test = true; emits a conversion.tested webhook event. "
    "A repeated eventId answers 200 with the first conversion.",
)
async def test_conversion(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    raw = await request.body()
    data = parse(TestConversionInput, await json_body(request) if raw.strip() else {})
    result, row = await conversions.test_conversion(ctx, p["handle"], p["campaignId"], data)
    return ORJSONResponse(
        {
            "status": result.status,
            "conversion": conversions.conversion_view(row),
            "webhookEvent": {"id": result.webhook_event_id, "type": "conversion.tested"}
            if result.webhook_event_id
            else None,
        },
        status_code=201 if result.status == "created" else 200,
    )


ROUTES = [
    Route("/v2/handles/{handle}/campaigns", create_campaign, methods=["POST"]),
    Route("/v2/handles/{handle}/campaigns", list_campaigns, methods=["GET"]),
    Route("/v2/handles/{handle}/campaigns/{campaignId}", get_campaign, methods=["GET"]),
    Route("/v2/handles/{handle}/campaigns/{campaignId}", update_campaign, methods=["PATCH"]),
    Route("/v2/handles/{handle}/campaigns/{campaignId}/health", campaign_health, methods=["GET"]),
    Route(
        "/v2/handles/{handle}/campaigns/{campaignId}/test-conversion",
        test_conversion,
        methods=["POST"],
    ),
]
