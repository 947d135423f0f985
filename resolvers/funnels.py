"""Campaign funnels from the rollups: two SQL statements for any number of campaigns."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

if TYPE_CHECKING:
    from aiodataloader import DataLoader

from db.rollups.reads import (
    BREAKDOWN_DIMENSIONS,
    breakdown_statement,
    latest_data_day,
    plan_range,
    totals_statement,
)
from db.tables import Campaign
from resolvers.accounts import AccountInfo, account_for_handle
from resolvers.campaigns import load_campaign
from resolvers.context import Context
from resolvers.dateranges import DayRange, parse_date_range
from resolvers.principal import READ_ANALYTICS, authorize
from resolvers.stages import CLICKS_STAGE, StageSpec, stage_specs

MAX_CAMPAIGN_FUNNELS = 50
MICROS = 1_000_000


@dataclass(frozen=True)
class FunnelStage:
    name: str
    count: int
    rate: float | None  # share of the previous stage; None for the first or after zero
    drop_off: int  # how many of the previous stage did not reach this one


@dataclass
class Funnel:
    campaign_id: str | None
    currency: str
    clicks: int = 0
    qualified_clicks: int = 0
    stage_counts: dict[str, int] = field(default_factory=dict)
    conversions: int = 0
    attributed_conversions: int = 0
    revenue_micros: dict[str, int] = field(default_factory=dict)
    breakdown: dict[str, dict[str, int]] = field(
        default_factory=lambda: {d: {} for d in BREAKDOWN_DIMENSIONS}
    )
    last_seen_at: datetime | None = None
    stage_names: list[str] = field(default_factory=list)

    @property
    def revenue(self) -> float:
        return self.revenue_micros.get(self.currency, 0) / MICROS

    @property
    def revenue_by_currency(self) -> dict[str, float]:
        return {cur: v / MICROS for cur, v in sorted(self.revenue_micros.items())}

    @property
    def confidence(self) -> int | None:
        if not self.conversions:
            return None
        # Half up in integers: Python's round() would turn 12.5 into 12 (banker's rounding).
        return (200 * self.attributed_conversions + self.conversions) // (2 * self.conversions)

    @property
    def stages(self) -> list[FunnelStage]:
        out: list[FunnelStage] = []
        previous: int | None = None
        for name in self.stage_names:
            count = (
                self.qualified_clicks if name == CLICKS_STAGE else self.stage_counts.get(name, 0)
            )
            rate = None if not previous else round(count / previous, 4)
            out.append(
                FunnelStage(
                    name,
                    count,
                    rate,
                    max((previous or 0) - count, 0) if previous is not None else 0,
                )
            )
            previous = count
        return out

    def breakdown_items(self, dimension: str) -> list[tuple[str, int]]:
        return sorted(self.breakdown[dimension].items(), key=lambda kv: (-kv[1], kv[0]))

    def absorb(self, other: Funnel) -> None:
        """Add ``other`` into this funnel (for the aggregate across campaigns)."""
        self.clicks += other.clicks
        self.qualified_clicks += other.qualified_clicks
        self.conversions += other.conversions
        self.attributed_conversions += other.attributed_conversions
        for k, v in other.stage_counts.items():
            self.stage_counts[k] = self.stage_counts.get(k, 0) + v
        for k, v in other.revenue_micros.items():
            self.revenue_micros[k] = self.revenue_micros.get(k, 0) + v
        for dim, values in other.breakdown.items():
            for value, count in values.items():
                self.breakdown[dim][value] = self.breakdown[dim].get(value, 0) + count
        if other.last_seen_at and (not self.last_seen_at or other.last_seen_at > self.last_seen_at):
            self.last_seen_at = other.last_seen_at


async def load_funnels(
    session: AsyncSession,
    account: AccountInfo,
    handle: str,
    campaigns: dict[str, str],
    days: DayRange | None,
    include_test: bool,
) -> dict[str, Funnel]:
    """Funnels for ``campaigns`` (id → conversion event type) in exactly two statements."""
    stages = stage_specs(account.funnel_stages)
    funnels = {
        cid: Funnel(cid, account.currency, stage_names=[s.name for s in stages])
        for cid in campaigns
    }
    if not campaigns:
        return funnels
    tenant = {"account_id": account.id, "handle": handle, "campaign_ids": list(campaigns)}
    latest_day = latest_data_day(account.timezone)
    totals_parts = plan_range(days, latest_day, subtract=False)
    breakdown_parts = plan_range(days, latest_day, subtract=True)
    # Core execution on the session's connection: plain rows, without the ORM's result
    # layer (a few thousand rows per dashboard).
    connection = await session.connection()
    totals = await connection.execute(
        totals_statement(totals_parts.shape, include_test), tenant | totals_parts.params
    )
    stage_of = {cid: _stage_lookup(stages, conv) for cid, conv in campaigns.items()}
    for cid, kind, event_type, currency, count, value, attributed, last_seen in totals.all():
        f = funnels[cid]
        count, value, attributed = int(count or 0), int(value or 0), int(attributed or 0)
        if last_seen is not None:
            f.last_seen_at = last_seen if f.last_seen_at is None else max(f.last_seen_at, last_seen)
        if kind in ("click", "bot"):
            f.clicks += count
            if kind == "click":
                f.qualified_clicks += count
            continue
        stage = stage_of[cid].get(event_type)
        if stage is not None:
            f.stage_counts[stage] = f.stage_counts.get(stage, 0) + count
        if event_type == campaigns[cid]:
            f.conversions += count
            f.attributed_conversions += attributed
            if value:
                f.revenue_micros[currency] = f.revenue_micros.get(currency, 0) + value
    rows = await connection.execute(
        breakdown_statement(breakdown_parts.shape), tenant | breakdown_parts.params
    )
    for cid, dimension, value, count in rows.all():
        funnels[cid].breakdown[dimension][value] = int(count or 0)
    return funnels


def _stage_lookup(stages: list[StageSpec], conversion_event_type: str) -> dict[str, str]:
    """event type → the stage that counts it, for one campaign."""
    lookup: dict[str, str] = {}
    for stage in stages:
        if stage.name == CLICKS_STAGE:
            continue
        for event_type in stage.types_for(conversion_event_type):
            lookup.setdefault(event_type, stage.name)
    return lookup


@dataclass(frozen=True)
class HandleAnalytics:
    """A handle's funnels; with ``campaign_id`` set, just that campaign's (then the
    aggregate is that funnel too)."""

    aggregate: Funnel
    funnels: list[Funnel]
    campaign_id: str | None = None


def resolve_days(account: AccountInfo, date_range: str | None) -> DayRange | None:
    return parse_date_range(date_range, account.timezone, param="dateRange") if date_range else None


async def campaign_funnel(
    ctx: Context,
    handle: str,
    campaign_id: str,
    date_range: str | None = None,
    include_test: bool = False,
) -> Funnel:
    authorize(ctx.principal, handle, READ_ANALYTICS)

    async def read(session: AsyncSession) -> Funnel:
        account = await account_for_handle(session, handle)
        days = resolve_days(account, date_range)
        campaign = await load_campaign(session, handle, campaign_id)
        funnels = await load_funnels(
            session,
            account,
            handle,
            {campaign_id: campaign.conversion_event_type},
            days,
            include_test,
        )
        return funnels[campaign_id]

    return await ctx.run_read(read)


async def analytics(
    ctx: Context,
    handle: str,
    campaign_id: str | None = None,
    date_range: str | None = None,
    include_test: bool = False,
) -> HandleAnalytics:
    """The one analytics entry point of every door: one campaign's funnel, or the handle's."""
    if campaign_id is None:
        return await handle_analytics(ctx, handle, date_range, include_test)
    funnel = await campaign_funnel(ctx, handle, campaign_id, date_range, include_test)
    return HandleAnalytics(funnel, [funnel], campaign_id)


async def handle_analytics(
    ctx: Context, handle: str, date_range: str | None = None, include_test: bool = False
) -> HandleAnalytics:
    """The aggregate over all campaigns, and the 50 campaigns with most qualified clicks."""
    authorize(ctx.principal, handle, READ_ANALYTICS)

    async def read(session: AsyncSession) -> tuple[AccountInfo, dict[str, Funnel]]:
        account = await account_for_handle(session, handle)
        days = resolve_days(account, date_range)
        campaigns = dict(
            (
                await session.execute(
                    select(col(Campaign.campaign_id), col(Campaign.conversion_event_type)).where(
                        col(Campaign.handle) == handle
                    )
                )
            )
            .tuples()
            .all()
        )
        return account, await load_funnels(session, account, handle, campaigns, days, include_test)

    account, funnels = await ctx.run_read(read)
    aggregate = Funnel(
        None, account.currency, stage_names=[s.name for s in stage_specs(account.funnel_stages)]
    )
    for f in funnels.values():
        aggregate.absorb(f)
    top = sorted(funnels.values(), key=lambda f: (-f.qualified_clicks, f.campaign_id or ""))
    return HandleAnalytics(aggregate, top[:MAX_CAMPAIGN_FUNNELS])


# (handle, campaign id, conversion event type, date range, include test)
FunnelKey = tuple[str, str, str, str | None, bool]


class FunnelLoader:
    """Per-request batching of Campaign.funnel: one pair of statements per distinct
    (handle, date range, includeTest), whatever the number of campaigns on the page."""

    def __init__(self, ctx: Context) -> None:
        from aiodataloader import DataLoader

        self._ctx = ctx
        self.loader: DataLoader[FunnelKey, Funnel] = DataLoader(self._batch, cache=True)

    async def load(
        self,
        handle: str,
        campaign_id: str,
        conversion_event_type: str,
        date_range: str | None,
        include_test: bool,
    ) -> Funnel:
        return await self.loader.load(
            (handle, campaign_id, conversion_event_type, date_range, include_test)
        )

    async def _batch(self, keys: list[FunnelKey]) -> list[Funnel]:
        groups: dict[tuple[str, str | None, bool], dict[str, str]] = defaultdict(dict)
        for handle, cid, conv, date_range, include_test in keys:
            authorize(self._ctx.principal, handle, READ_ANALYTICS)
            groups[(handle, date_range, include_test)][cid] = conv
        results: dict[tuple[str, str | None, bool], dict[str, Funnel]] = {}

        async def read(session: AsyncSession) -> None:
            for (handle, date_range, include_test), campaigns in groups.items():
                account = await account_for_handle(session, handle)
                results[(handle, date_range, include_test)] = await load_funnels(
                    session,
                    account,
                    handle,
                    campaigns,
                    resolve_days(account, date_range),
                    include_test,
                )

        await self._ctx.run_read(read)
        return [results[(h, d, t)][cid] for h, cid, _, d, t in keys]


def funnel_loader(ctx: Context) -> FunnelLoader:
    loader = ctx.loaders.get("funnel")
    if loader is None:
        loader = ctx.loaders["funnel"] = FunnelLoader(ctx)
    return loader
