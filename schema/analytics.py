"""Analytics fields of the Query and Mutation roots."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from resolvers import funnels, reports, stages
from resolvers.context import Context
from schema.funnel_types import (
    Analytics,
    AnalyticsGroup,
    Funnel,
    FunnelReport,
    FunnelStageConfig,
    FunnelStageInput,
    GroupBy,
)

Ctx = Info[Context, None]


def _configs(specs: list[stages.StageSpec]) -> list[FunnelStageConfig]:
    return [FunnelStageConfig(name=s.name, event_types=list(s.event_types)) for s in specs]


@strawberry.type
class AnalyticsQuery:
    @strawberry.field(
        description="Aggregate funnel and per-campaign funnels of a handle; "
        "with campaignId, that campaign's funnel."
    )
    async def analytics(
        self,
        info: Ctx,
        handle: str,
        campaign_id: str | None = None,
        date_range: str | None = None,
        include_test: bool = False,
    ) -> Analytics:
        result = await funnels.analytics(
            info.context, handle, campaign_id, date_range, include_test
        )
        return Analytics(
            aggregate=Funnel.from_data(result.aggregate),
            funnels=[Funnel.from_data(f) for f in result.funnels],
        )

    @strawberry.field(description="The funnel report grouped by reportType.")
    async def funnel_report(
        self,
        info: Ctx,
        account_id: str,
        report_type: str,
        date_range: str,
        skip: int | None = None,
        limit: int | None = None,
        country: str | None = None,
    ) -> FunnelReport:
        return FunnelReport.from_data(
            await reports.funnel_report(
                info.context, account_id, report_type, date_range, skip, limit, country
            )
        )

    @strawberry.field(
        description="Clicks, conversions and revenue per segment, source, "
        "country, device, link, medium or day."
    )
    async def analytics_groups(
        self,
        info: Ctx,
        handle: str,
        group_by: GroupBy,
        campaign_id: str | None = None,
        date_range: str | None = None,
        include_test: bool = False,
    ) -> list[AnalyticsGroup]:
        rows = await reports.grouped_analytics(
            info.context, handle, group_by.value, campaign_id, date_range, include_test
        )
        return [AnalyticsGroup.from_row(r) for r in rows]

    @strawberry.field(description="The funnel stages of the account owning the handle.")
    async def funnel_stages(self, info: Ctx, handle: str) -> list[FunnelStageConfig]:
        return _configs(await stages.get_stages(info.context, handle))


@strawberry.type
class AnalyticsMutation:
    @strawberry.mutation(description="Replace the account's funnel stages (ADMIN).")
    async def set_funnel_stages(
        self, info: Ctx, handle: str, stages_input: list[FunnelStageInput]
    ) -> list[FunnelStageConfig]:
        raw = [{"name": s.name, "eventTypes": s.event_types} for s in stages_input]
        return _configs(await stages.set_stages(info.context, handle, raw))
