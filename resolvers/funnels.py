"""Campaign funnels from the rollups: two SQL statements for any number of campaigns."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import BigInteger, bindparam, cast, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from db.tables import (
    Campaign,
    RollupBreakdownDaily,
    RollupBreakdownWeekly,
    RollupCampaignDaily,
    RollupCampaignWeekly,
)
from resolvers.accounts import AccountInfo, account_for_handle
from resolvers.campaigns import load_campaign
from resolvers.context import Context
from resolvers.dateranges import DayRange, parse_date_range, split_weeks
from resolvers.domain import as_utc
from resolvers.principal import READ_ANALYTICS, authorize
from resolvers.readreplica import run_read
from resolvers.stages import CLICKS_STAGE, StageSpec, stage_specs

BREAKDOWN_DIMENSIONS = ("source", "country", "device")
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
    # Core execution on the session's connection: plain rows, without the ORM's result
    # layer (a few thousand rows per dashboard).
    periods = _Periods.of(days)
    params = {"account_id": account.id, "handle": handle, "campaign_ids": list(campaigns)}
    params |= periods.params
    connection = await session.connection()
    totals = await connection.execute(
        _totals_statement(periods.edges, periods.weeks, include_test), params
    )
    stage_of = {cid: _stage_lookup(stages, conv) for cid, conv in campaigns.items()}
    for cid, kind, event_type, currency, count, value, attributed, last_seen in totals:
        f = funnels[cid]
        count, value, attributed = int(count or 0), int(value or 0), int(attributed or 0)
        if last_seen is not None:
            seen = as_utc(last_seen)
            f.last_seen_at = seen if f.last_seen_at is None else max(f.last_seen_at, seen)
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
    rows = await connection.execute(_breakdown_statement(periods.edges, periods.weeks), params)
    for cid, dimension, value, count in rows:
        funnels[cid].breakdown[dimension][value] = int(count or 0)
    return funnels


@dataclass(frozen=True)
class _Periods:
    """Where a day range's rows are: ``edges`` day spans in the daily rollups, and the
    whole weeks in the weekly ones (``weeks``: "bounded", "all" for no range, or "none")."""

    edges: int
    weeks: str
    params: dict[str, Any]

    @classmethod
    def of(cls, days: DayRange | None) -> _Periods:
        if days is None:  # all time: every week, whatever its days
            return cls(0, "all", {})
        split = split_weeks(days)
        params: dict[str, Any] = {}
        for i, edge in enumerate(split.edges):
            params |= {f"edge{i}_start": edge.start, f"edge{i}_end": edge.end}
        if split.weeks is not None:
            params |= {"weeks_start": split.weeks.start, "weeks_end": split.weeks.end}
        return cls(len(split.edges), "none" if split.weeks is None else "bounded", params)


def _over_periods(part: Callable[[str, str, str | None], Any], edges: int, weeks: str) -> Any:
    """``part(grain, period column, span)`` for each edge span and the weeks, as one
    subquery (a 30-day range reads 4-6 rows per key instead of 30)."""
    parts = [part("daily", "day", f"edge{i}") for i in range(edges)]
    if weeks != "none":
        parts.append(part("weekly", "week", "weeks" if weeks == "bounded" else None))
    return union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()


def _span(column: Any, span: str | None) -> list[Any]:
    if span is None:
        return []
    return [column >= bindparam(f"{span}_start"), column <= bindparam(f"{span}_end")]


def _sum(column: Any) -> Any:
    """SUM as a 64-bit integer: PostgreSQL's sum(bigint) is numeric, which arrives as a
    Decimal per row; a dashboard reads a few thousand of them."""
    return cast(func.sum(column), BigInteger)


# The statements are built once per shape, with bound parameters: building a four-part
# union and its cache key on every request cost more than reading its rows.
@lru_cache(maxsize=32)
def _totals_statement(edges: int, weeks: str, include_test: bool) -> Any:
    """Clicks, bots and events per campaign, event type and currency."""

    def part(grain: str, period: str, span: str | None) -> Any:
        table: Any = RollupCampaignWeekly if grain == "weekly" else RollupCampaignDaily
        where = [
            table.account_id == bindparam("account_id"),
            table.handle == bindparam("handle"),
            table.campaign_id.in_(bindparam("campaign_ids", expanding=True)),
            *_span(getattr(table, period), span),
        ]
        if not include_test:
            where.append(table.is_test.is_(False))
        return select(
            table.campaign_id,
            table.kind,
            table.event_type,
            table.currency,
            table.count,
            table.value_micros,
            table.attributed,
            table.last_seen_at,
        ).where(*where)

    rows = _over_periods(part, edges, weeks)
    keys = (rows.c.campaign_id, rows.c.kind, rows.c.event_type, rows.c.currency)
    return select(
        *keys,
        _sum(rows.c.count),
        _sum(rows.c.value_micros),
        _sum(rows.c.attributed),
        func.max(rows.c.last_seen_at),
    ).group_by(*keys)


@lru_cache(maxsize=16)
def _breakdown_statement(edges: int, weeks: str) -> Any:
    """Qualified clicks per campaign, dimension and value."""

    def part(grain: str, period: str, span: str | None) -> Any:
        table: Any = RollupBreakdownWeekly if grain == "weekly" else RollupBreakdownDaily
        return select(table.campaign_id, table.dimension, table.value, table.count).where(
            table.account_id == bindparam("account_id"),
            table.handle == bindparam("handle"),
            table.kind == "click",
            table.campaign_id.in_(bindparam("campaign_ids", expanding=True)),
            table.dimension.in_(BREAKDOWN_DIMENSIONS),
            *_span(getattr(table, period), span),
        )

    rows = _over_periods(part, edges, weeks)
    keys = (rows.c.campaign_id, rows.c.dimension, rows.c.value)
    return select(*keys, _sum(rows.c.count)).group_by(*keys)


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
    aggregate: Funnel
    funnels: list[Funnel]


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

    return await run_read(ctx, read)


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
                    select(Campaign.campaign_id, Campaign.conversion_event_type).where(
                        Campaign.handle == handle
                    )
                )
            ).all()
        )
        return account, await load_funnels(session, account, handle, campaigns, days, include_test)

    account, funnels = await run_read(ctx, read)
    aggregate = Funnel(
        None, account.currency, stage_names=[s.name for s in stage_specs(account.funnel_stages)]
    )
    for f in funnels.values():
        aggregate.absorb(f)
    top = sorted(funnels.values(), key=lambda f: (-f.qualified_clicks, f.campaign_id or ""))
    return HandleAnalytics(aggregate, top[:MAX_CAMPAIGN_FUNNELS])


class FunnelLoader:
    """Per-request batching of Campaign.funnel: one pair of statements per distinct
    (handle, date range, includeTest), whatever the number of campaigns on the page."""

    def __init__(self, ctx: Context) -> None:
        from aiodataloader import DataLoader

        self._ctx = ctx
        self.loader: Any = DataLoader(self._batch, cache=True)

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

    async def _batch(self, keys: list[tuple[str, str, str, str | None, bool]]) -> list[Funnel]:
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

        await run_read(self._ctx, read)
        return [results[(h, d, t)][cid] for h, cid, _, d, t in keys]


def funnel_loader(ctx: Context) -> FunnelLoader:
    loader = ctx.loaders.get("funnel")
    if loader is None:
        loader = ctx.loaders["funnel"] = FunnelLoader(ctx)
    return loader
