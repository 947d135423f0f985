"""Grouped reports: the funnel report and the ``groupBy`` analytics of a handle."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

import pycountry
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Mapped
from sqlmodel import col

from db.tables import Campaign, RollupBreakdownDaily, RollupCampaignDaily, RollupCubeDaily
from resolvers.accounts import account_for_handle, get_account, handles_of_account
from resolvers.context import Context
from resolvers.dateranges import parse_date_range
from resolvers.domain import ACCOUNT_ID_RE
from resolvers.errors import Forbidden, InvalidInput, Unauthenticated
from resolvers.funnels import MICROS, resolve_days
from resolvers.principal import READ_ANALYTICS, authorize
from resolvers.stages import CLICKS_STAGE, stage_specs

# report_type → rollup_cube_daily column
REPORT_TYPES = {
    "Source": "source",
    "Medium": "medium",
    "Campaign": "campaign_id",
    "Country": "country",
    "Device": "device",
    "Link": "slug",
}
GROUP_BY = ("segment", "source", "country", "device", "link", "day", "medium")
MAX_LIMIT = 100


@dataclass(frozen=True)
class ReportRow:
    value: str
    counts: dict[str, int]  # stage name → count; "clicks" holds qualified clicks

    def as_dict(self, key: str) -> dict[str, Any]:
        return {key: self.value, **self.counts}


@dataclass(frozen=True)
class FunnelReport:
    report_type: str
    stage_names: list[str]
    rows: list[ReportRow]
    total: int

    def data(self) -> list[dict[str, Any]]:
        return [row.as_dict(self.report_type) for row in self.rows]


def _require(value: str | None, name: str) -> str:
    if value is None or not str(value).strip():
        raise InvalidInput(f"Missing required parameter: {name}")
    return str(value).strip()


def parse_report_type(value: str) -> str:
    for name in REPORT_TYPES:
        if name.lower() == value.lower():
            return name
    raise InvalidInput(
        "Invalid parameter: report_type must be one of " + ", ".join(REPORT_TYPES) + "."
    )


def parse_country(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    code = value.strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise InvalidInput("Invalid parameter: country must be an ISO 3166-1 alpha-2 code.")
    return code


def _bounded(value: int | None, name: str, default: int, low: int, high: int | None) -> int:
    if value is None:
        return default
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidInput(f"Invalid parameter: {name} must be {bound}.")
    return value


async def funnel_report(
    ctx: Context,
    account_id: str | None,
    report_type: str | None,
    date_range: str | None,
    skip: int | None = None,
    limit: int | None = None,
    country: str | None = None,
) -> FunnelReport:
    """The funnel report: rows grouped by one dimension, ordered by clicks desc, then value."""
    if ctx.principal is None:  # authentication comes before parameter checks
        raise Unauthenticated()
    account_id = _require(account_id, "account_id")
    report_type = parse_report_type(_require(report_type, "report_type"))
    date_range = _require(date_range, "date_range")
    if not ACCOUNT_ID_RE.fullmatch(account_id):
        raise InvalidInput("Invalid parameter: account_id must be 24 lowercase hex characters.")
    skip = _bounded(skip, "skip", 0, 0, None)
    limit = _bounded(limit, "limit", MAX_LIMIT, 1, MAX_LIMIT)
    country_code = parse_country(country)
    async with ctx.read_session() as session:
        handles = [
            h
            for h in await handles_of_account(session, account_id)
            if ctx.principal.may(h, READ_ANALYTICS)
        ]
        if not handles:
            raise Forbidden("This token may not read analytics of this account.")
        account = await get_account(session, account_id)
        days = parse_date_range(date_range, account.timezone)
        stages = stage_specs(account.funnel_stages)
        conversion_types = {
            (h, cid): conv
            for h, cid, conv in (
                await session.execute(
                    select(
                        col(Campaign.handle),
                        col(Campaign.campaign_id),
                        col(Campaign.conversion_event_type),
                    ).where(
                        col(Campaign.account_id) == account_id, col(Campaign.handle).in_(handles)
                    )
                )
            ).all()
        }
        C = RollupCubeDaily
        group_col: Mapped[str] = getattr(C, REPORT_TYPES[report_type])
        where = [
            col(C.account_id) == account_id,
            col(C.handle).in_(handles),
            col(C.day) >= days.start,
            col(C.day) <= days.end,
            col(C.is_test).is_(False),
            col(C.kind).in_(("click", "event")),
        ]
        if country_code:
            where.append(col(C.country) == country_code)
        keys = (group_col, col(C.handle), col(C.campaign_id), col(C.kind), col(C.event_type))
        result = await session.execute(
            select(*keys, func.sum(col(C.count))).where(*where).group_by(*keys)
        )
        facts = result.all()
    stage_names = [s.name for s in stages]
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(stage_names, 0))
    for value, handle, cid, kind, event_type, count in facts:
        row = counts[str(value)]
        if kind == "click":
            row[CLICKS_STAGE] += int(count)
            continue
        conversion_type = conversion_types.get((handle, cid), "")
        for stage in stages:
            if stage.name != CLICKS_STAGE and event_type in stage.types_for(conversion_type):
                row[stage.name] += int(count)
                break
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1].get(CLICKS_STAGE, 0), kv[0]))
    rows = [ReportRow(v, c) for v, c in ordered]
    return FunnelReport(report_type, stage_names, rows[skip : skip + limit], len(rows))


@dataclass(frozen=True)
class GroupRow:
    value: str
    clicks: int  # qualified clicks
    conversions: int
    revenue: float
    revenue_by_currency: dict[str, float]


async def grouped_analytics(
    ctx: Context,
    handle: str,
    group_by: str,
    campaign_id: str | None = None,
    date_range: str | None = None,
    include_test: bool = False,
) -> list[GroupRow]:
    """Qualified clicks, conversions and revenue per value of one dimension (or per day)."""
    authorize(ctx.principal, handle, READ_ANALYTICS)
    if group_by not in GROUP_BY:
        raise InvalidInput(f"Invalid parameter: groupBy must be one of {', '.join(GROUP_BY)}.")
    async with ctx.read_session() as session:
        account = await account_for_handle(session, handle)
        days = resolve_days(account, date_range)
        campaign_query = select(
            col(Campaign.campaign_id), col(Campaign.conversion_event_type)
        ).where(col(Campaign.handle) == handle)
        if campaign_id is not None:
            campaign_query = campaign_query.where(col(Campaign.campaign_id) == campaign_id)
        conversion_types = dict((await session.execute(campaign_query)).tuples().all())
        if campaign_id is not None and campaign_id not in conversion_types:
            from resolvers.campaigns import campaign_not_found

            raise campaign_not_found(campaign_id)
        T: type[RollupCampaignDaily] | type[RollupBreakdownDaily]
        group_col: Mapped[date] | Mapped[str]
        extra: list[ColumnElement[bool]] = []
        if group_by == "day":
            T = RollupCampaignDaily
            group_col = col(RollupCampaignDaily.day)
        else:
            T = RollupBreakdownDaily
            group_col = col(RollupBreakdownDaily.value)
            extra.append(col(RollupBreakdownDaily.dimension) == group_by)
        where = [
            col(T.account_id) == account.id,
            col(T.handle) == handle,
            *extra,
            col(T.kind).in_(("click", "event")),
        ]
        if days is not None:
            where += [col(T.day) >= days.start, col(T.day) <= days.end]
        if campaign_id is not None:
            where.append(col(T.campaign_id) == campaign_id)
        if not include_test:
            where.append(col(T.is_test).is_(False))
        keys = (group_col, col(T.campaign_id), col(T.kind), col(T.event_type), col(T.currency))
        facts = (
            await session.execute(
                select(*keys, func.sum(col(T.count)), func.sum(col(T.value_micros)))
                .where(*where)
                .group_by(*keys)
            )
        ).all()
    acc: dict[str, dict[str, Any]] = {}
    for value, cid, kind, event_type, currency, count, micros in facts:
        key = value.isoformat() if hasattr(value, "isoformat") else str(value)
        row = acc.setdefault(key, {"clicks": 0, "conversions": 0, "revenue": defaultdict(int)})
        if kind == "click":
            row["clicks"] += int(count)
        elif event_type == conversion_types.get(cid):
            row["conversions"] += int(count)
            if micros:
                row["revenue"][currency] += int(micros)
    rows = [
        GroupRow(
            k,
            v["clicks"],
            v["conversions"],
            v["revenue"].get(account.currency, 0) / MICROS,
            {c: m / MICROS for c, m in sorted(v["revenue"].items())},
        )
        for k, v in acc.items()
    ]
    if group_by == "day":
        return sorted(rows, key=lambda r: r.value)
    return sorted(rows, key=lambda r: (-r.clicks, r.value))
