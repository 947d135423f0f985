"""Strawberry types of funnels and reports: views over resolvers.funnels/reports data."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from resolvers.funnels import Funnel as FunnelData
from resolvers.reports import FunnelReport as FunnelReportData
from resolvers.reports import GroupRow as GroupRowData
from schema.personalization import Device


@strawberry.enum(description="Dimension of a funnel breakdown.")
class BreakdownDimension(Enum):
    SOURCE = "source"
    COUNTRY = "country"
    DEVICE = "device"


def _device(value: str) -> Device | None:
    try:
        return Device(value.upper())
    except ValueError:
        return None


@strawberry.enum(description="Dimension for grouped analytics.")
class GroupBy(Enum):
    SEGMENT = "segment"
    SOURCE = "source"
    COUNTRY = "country"
    DEVICE = "device"
    LINK = "link"
    DAY = "day"
    MEDIUM = "medium"


@strawberry.type(description="One stage of a funnel with its conversion from the previous one.")
class FunnelStage:
    name: str = strawberry.field(description="Stage name, e.g. add-to-cart.")
    count: int = strawberry.field(
        description="Qualified clicks for the clicks stage; event count for the others."
    )
    rate: float | None = strawberry.field(
        description="count / previous stage's count (0-1); null for the first stage or after 0."
    )
    drop_off: int = strawberry.field(description="Previous stage's count minus this count.")


@strawberry.type(description="Qualified clicks of one breakdown value.")
class Breakdown:
    dimension: BreakdownDimension = strawberry.field(description="Breakdown dimension.")
    value: str = strawberry.field(
        description="Source (lower-case), ISO country code (or unknown), or device (lower-case)."
    )
    count: int = strawberry.field(description="Qualified clicks with this value.")
    device: Device | None = strawberry.field(description="The device as an enum (device only).")


@strawberry.type(description="An amount of money in one currency.")
class CurrencyAmount:
    currency: str = strawberry.field(description="ISO 4217 code.")
    amount: float = strawberry.field(description="Sum of conversion values.")


def _amounts(by_currency: dict[str, float]) -> list[CurrencyAmount]:
    """Amounts in the resolvers' order (by currency code), rounded as REST rounds them."""
    return [CurrencyAmount(currency=c, amount=round(a, 6)) for c, a in by_currency.items()]


@strawberry.type(description="Funnel of one campaign, or the aggregate of a handle's campaigns.")
class Funnel:
    campaign_id: str | None = strawberry.field(description="Campaign; null for the aggregate.")
    clicks: int = strawberry.field(description="All clicks, bots included.")
    qualified_clicks: int = strawberry.field(description="Clicks that are not bots.")
    stages: list[FunnelStage] = strawberry.field(description="Configured stages in order.")
    conversions: int = strawberry.field(description="Events of the conversion event type.")
    revenue: float = strawberry.field(description="Conversion value in the account currency.")
    currency: str = strawberry.field(description="Account reporting currency.")
    revenue_by_currency: list[CurrencyAmount] = strawberry.field(
        description="Conversion value per currency; other currencies are never added up."
    )
    confidence: int | None = strawberry.field(
        description="Share (0-100) of conversions attributed to a recorded click; null if none."
    )
    last_seen_at: datetime | None = strawberry.field(description="Latest click or event.")
    data: strawberry.Private[FunnelData]

    @strawberry.field(description="Qualified clicks by source, country or device.")
    def breakdown(self, dimension: BreakdownDimension) -> list[Breakdown]:
        return [
            Breakdown(
                dimension=dimension,
                value=value,
                count=count,
                device=_device(value) if dimension is BreakdownDimension.DEVICE else None,
            )
            for value, count in self.data.breakdown_items(dimension.value)
        ]

    @classmethod
    def from_data(cls, f: FunnelData) -> Funnel:
        return cls(
            campaign_id=f.campaign_id,
            clicks=f.clicks,
            qualified_clicks=f.qualified_clicks,
            stages=[
                FunnelStage(name=s.name, count=s.count, rate=s.rate, drop_off=s.drop_off)
                for s in f.stages
            ],
            conversions=f.conversions,
            revenue=round(f.revenue, 6),
            currency=f.currency,
            revenue_by_currency=_amounts(f.revenue_by_currency),
            confidence=f.confidence,
            last_seen_at=f.last_seen_at,
            data=f,
        )


@strawberry.type(description="Aggregate funnel of a handle plus per-campaign funnels (≤ 50).")
class Analytics:
    aggregate: Funnel = strawberry.field(description="All campaigns together.")
    funnels: list[Funnel] = strawberry.field(
        description="Per campaign, most qualified clicks first (at most 50)."
    )


@strawberry.type(description="Count of one stage in a report row.")
class StageCount:
    name: str = strawberry.field(description="Stage name.")
    count: int = strawberry.field(description="Count (clicks: qualified clicks).")


@strawberry.type(description="One group of the funnel report.")
class FunnelReportRow:
    value: str = strawberry.field(description="Group value (a source, campaign id, ...).")
    clicks: int = strawberry.field(description="Qualified clicks.")
    stages: list[StageCount] = strawberry.field(description="Every configured stage.")


@strawberry.type(description="The funnel report: one row per group value.")
class FunnelReport:
    report_type: str = strawberry.field(description="Source, Medium, Campaign, Country, ...")
    total: int = strawberry.field(description="Groups before skip/limit.")
    rows: list[FunnelReportRow] = strawberry.field(description="Rows, clicks descending.")
    data: strawberry.scalars.JSON = strawberry.field(
        description="Rows exactly as GET /v1/funnel returns them."
    )

    @classmethod
    def from_data(cls, r: FunnelReportData) -> FunnelReport:
        rows = [
            FunnelReportRow(
                value=row.value,
                clicks=row.counts.get("clicks", 0),
                stages=[StageCount(name=n, count=c) for n, c in row.counts.items()],
            )
            for row in r.rows
        ]
        return cls(
            report_type=r.report_type,
            total=r.total,
            rows=rows,
            data=strawberry.scalars.JSON(r.data()),
        )


@strawberry.type(description="Clicks, conversions and revenue of one group.")
class AnalyticsGroup:
    value: str = strawberry.field(description="Group value (segment, source, day, ...).")
    clicks: int = strawberry.field(description="Qualified clicks.")
    conversions: int = strawberry.field(description="Conversion events.")
    revenue: float = strawberry.field(description="Revenue in the account currency.")
    revenue_by_currency: list[CurrencyAmount] = strawberry.field(
        description="Conversion value per currency; other currencies are never added up."
    )

    @classmethod
    def from_row(cls, row: GroupRowData) -> AnalyticsGroup:
        return cls(
            value=row.value,
            clicks=row.clicks,
            conversions=row.conversions,
            revenue=round(row.revenue, 6),
            revenue_by_currency=_amounts(row.revenue_by_currency),
        )


@strawberry.type(description="A configured funnel stage.")
class FunnelStageConfig:
    name: str = strawberry.field(description="Stage name.")
    event_types: list[str] = strawberry.field(
        description="Event types it counts; empty on conversions = campaign's event type."
    )


@strawberry.input(description="A funnel stage to configure.")
class FunnelStageInput:
    name: str = strawberry.field(description="Stage name.")
    event_types: list[str] = strawberry.field(description="Event types it counts.")
