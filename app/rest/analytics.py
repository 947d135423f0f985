"""REST analytics: the handle funnel/groupBy endpoint, seed 000's report, funnel stages."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.rest.common import ORJSONResponse, bool_param, int_param, json_body, request_context
from app.rest.views import funnel_json, group_json, stages_json
from resolvers import funnels, reports, stages
from resolvers.errors import InvalidInput


def _date_range(request: Request) -> str | None:
    q = request.query_params
    return q.get("dateRange") or q.get("date_range") or None


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
    if campaign_id is not None:
        funnel = await funnels.campaign_funnel(
            ctx, handle, campaign_id, _date_range(request), include_test
        )
        return ORJSONResponse({"funnel": [funnel_json(funnel)]})
    result = await funnels.handle_analytics(ctx, handle, _date_range(request), include_test)
    return ORJSONResponse(
        {
            "aggregate": funnel_json(result.aggregate),
            "funnel": [funnel_json(f) for f in result.funnels],
        }
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


async def get_stages(request: Request) -> Response:
    ctx = await request_context(request)
    return ORJSONResponse(stages_json(await stages.get_stages(ctx, request.path_params["handle"])))


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
