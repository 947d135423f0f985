"""REST analytics: the handle funnel/groupBy endpoint, the funnel report, funnel stages."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.openapi import DATE_RANGE, Param, operation
from app.rest import shapes
from app.rest.common import ORJSONResponse, bool_param, int_param, json_body, request_context
from app.rest.views import analytics_json, group_json, stages_json
from resolvers import funnels, reports, stages
from resolvers.domain import ACCOUNT_ID_RE
from resolvers.errors import InvalidInput
from resolvers.principal import ADMIN, READ_ANALYTICS, READ_CAMPAIGNS

TAGS = ["analytics"]
BOOL = {"type": "boolean"}


def _date_range(request: Request) -> str | None:
    q = request.query_params
    return q.get("dateRange") or q.get("date_range") or None


@operation(
    summary="Funnels of a handle, or one dimension grouped",
    tags=TAGS,
    query=[
        Param("funnel", BOOL, "Funnel view (the default when no groupBy is given)."),
        Param("campaignId", {"type": "string"}, "One campaign's funnel instead of all."),
        Param("groupBy", {"enum": list(reports.GROUP_BY)}, "Group by one dimension."),
        DATE_RANGE,
        Param("includeTest", BOOL, "Count test conversions too."),
    ],
    responses={
        200: (shapes.HandleFunnels, shapes.CampaignFunnels, shapes.GroupedAnalytics),
    },
    access=READ_ANALYTICS,
    description="Without campaignId: the aggregate funnel plus up to 50 campaign funnels.",
)
async def handle_analytics(request: Request) -> Response:
    ctx = await request_context(request)
    handle = request.path_params["handle"]
    q = request.query_params
    campaign_id = q.get("campaignId") or None
    include_test = bool_param(request, "includeTest")
    group_by = q.get("groupBy")
    if group_by is not None:
        rows = await reports.grouped_analytics(
            ctx, handle, group_by, campaign_id, _date_range(request), include_test
        )
        return ORJSONResponse(
            {
                "groupBy": group_by,
                "campaignId": campaign_id,
                "groups": [group_json(group_by, r) for r in rows],
            }
        )
    if not bool_param(request, "funnel", default=True):
        raise InvalidInput("Ask for funnel=true or a groupBy.")
    result = await funnels.analytics(ctx, handle, campaign_id, _date_range(request), include_test)
    return ORJSONResponse(analytics_json(result))


@operation(
    summary="Funnel report grouped by one dimension",
    tags=TAGS,
    query=[
        Param("account_id", {"type": "string", "pattern": ACCOUNT_ID_RE.pattern}, required=True),
        Param("report_type", {"enum": list(reports.REPORT_TYPES)}, required=True),
        Param("date_range", DATE_RANGE.schema, DATE_RANGE.description, required=True),
        Param("skip", {"type": "integer", "minimum": 0}, "Rows to skip (0)."),
        Param("limit", {"type": "integer", "minimum": 1, "maximum": 100}, "Rows (100)."),
        Param("country", {"type": "string", "minLength": 2, "maxLength": 2}, "ISO alpha-2."),
    ],
    responses={200: shapes.FunnelReport},
    access=READ_ANALYTICS,
    error_shape="FunnelReportError",
    description="Rows ordered by clicks (qualified) descending, then by group value; one "
    "key per configured funnel stage. Covers the account's handles the token may read.",
)
async def funnel_report(request: Request) -> Response:
    ctx = await request_context(request)
    q = request.query_params
    report = await reports.funnel_report(
        ctx,
        q.get("account_id"),
        q.get("report_type"),
        q.get("date_range"),
        skip=int_param(request, "skip"),
        limit=int_param(request, "limit"),
        country=q.get("country"),
    )
    return ORJSONResponse({"status": "ok", "data": report.data()})


@operation(
    summary="The account's funnel stages",
    tags=TAGS,
    responses={200: shapes.FunnelStages},
    access=READ_CAMPAIGNS,
)
async def get_stages(request: Request) -> Response:
    ctx = await request_context(request)
    return ORJSONResponse(stages_json(await stages.get_stages(ctx, request.path_params["handle"])))


@operation(
    summary="Replace the account's funnel stages",
    tags=TAGS,
    body=shapes.FunnelStages,
    responses={200: shapes.FunnelStages},
    access=ADMIN,
    description="The first stage is 'clicks' with no event types; 'conversions' is required.",
)
async def put_stages(request: Request) -> Response:
    ctx = await request_context(request)
    body = await json_body(request)
    if not isinstance(body, dict) or "stages" not in body:
        raise InvalidInput('Body must be {"stages": [...]}.')
    result = await stages.set_stages(ctx, request.path_params["handle"], body["stages"])
    return ORJSONResponse(stages_json(result))


ROUTES = [
    Route("/v2/handles/{handle}/analytics", handle_analytics, methods=["GET"]),
    Route("/v1/funnel", funnel_report, methods=["GET"]),
    Route("/v2/handles/{handle}/funnel-stages", get_stages, methods=["GET"]),
    Route("/v2/handles/{handle}/funnel-stages", put_stages, methods=["PUT"]),
]
