"""Strawberry types: thin views over rows returned by resolvers."""

from __future__ import annotations

from datetime import datetime

import strawberry

from db.tables import Campaign as CampaignRow
from db.tables import Conversion as ConversionRow
from db.tables import Link as LinkRow
from resolvers import domain
from resolvers.funnels import funnel_loader
from resolvers.health import HealthReport as HealthReportData
from schema.funnel_types import Funnel

# strawberry.enum marks the domain enum itself as a GraphQL enum (and returns it). The name
# is bound to the enum class, not to the call's result, so that type checkers take it as a type.
GoalType = domain.GoalType
CampaignStatus = domain.CampaignStatus
Readiness = domain.Readiness
CheckStatus = domain.CheckStatus
TrackingMode = domain.TrackingMode
Role = domain.Role
strawberry.enum(
    GoalType,
    description="What a campaign is trying to achieve; "
    "sets the default tracking preset and conversion event type.",
)
strawberry.enum(
    CampaignStatus,
    description="Campaign lifecycle state: "
    "DRAFT (not tracking), ACTIVE (tracking), PAUSED (no new tracking).",
)
strawberry.enum(Readiness, description="READY when no health check FAILs.")
strawberry.enum(CheckStatus, description="Outcome of one health check.")
strawberry.enum(TrackingMode, description="How a link redirects.")
strawberry.enum(Role, description="Role of a principal on a handle.")


@strawberry.type(description="How a link records and forwards clicks.")
class TrackingPolicy:
    mode: TrackingMode = strawberry.field(description="Redirect mode (DIRECT).")
    append_context_param: bool = strawberry.field(
        description="Append the click context id as `fg_click` to the destination URL."
    )


@strawberry.type(description="A campaign groups links and conversion events under one goal.")
class Campaign:
    campaign_id: str = strawberry.field(description="Campaign id, unique within the handle.")
    handle: str = strawberry.field(description="Handle that owns the campaign.")
    name: str | None = strawberry.field(description="Optional display name.")
    goal_type: GoalType = strawberry.field(description="Goal of the campaign.")
    tracking_preset: str = strawberry.field(description="Tracking preset, e.g. ga4_purchase.")
    conversion_event_type: str = strawberry.field(
        description="Event type that counts as the final conversion, e.g. purchase."
    )
    status: CampaignStatus = strawberry.field(description="Lifecycle state.")
    primary_slug: str | None = strawberry.field(description="Slug of the campaign's main link.")
    details_page_slug: str | None = strawberry.field(
        description="Slug of the published site-structure details page, if any."
    )
    created_at: datetime = strawberry.field(description="Creation time (UTC).")
    updated_at: datetime = strawberry.field(description="Last change (UTC).")

    @strawberry.field(
        description="Funnel of this campaign; whole life without dateRange. "
        "Batched per request: a page of campaigns costs constant SQL."
    )
    async def funnel(
        self, info: strawberry.Info, date_range: str | None = None, include_test: bool = False
    ) -> Funnel:
        loader = funnel_loader(info.context)
        data = await loader.load(
            self.handle, self.campaign_id, self.conversion_event_type, date_range, include_test
        )
        return Funnel.from_data(data)

    @classmethod
    def from_row(cls, row: CampaignRow) -> Campaign:
        return cls(
            campaign_id=row.campaign_id,
            handle=row.handle,
            name=row.name,
            goal_type=domain.GoalType(row.goal_type),
            tracking_preset=row.tracking_preset,
            conversion_event_type=row.conversion_event_type,
            status=domain.CampaignStatus(row.status),
            primary_slug=row.primary_slug,
            details_page_slug=row.details_page_slug,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="A short link served at /{handle}/{slug}.")
class Link:
    slug: str = strawberry.field(description="Slug, unique within the handle.")
    handle: str = strawberry.field(description="Handle that owns the link.")
    destination_url: str = strawberry.field(description="Where the link redirects (http/https).")
    campaign_id: str | None = strawberry.field(description="Campaign the link feeds, if any.")
    tracking_policy: TrackingPolicy = strawberry.field(description="Tracking behaviour.")
    short_path: str = strawberry.field(description="Path of the short link on this gateway.")
    created_at: datetime = strawberry.field(description="Creation time (UTC).")
    updated_at: datetime = strawberry.field(description="Last change (UTC).")

    @classmethod
    def from_row(cls, row: LinkRow) -> Link:
        return cls(
            slug=row.slug,
            handle=row.handle,
            destination_url=row.destination_url,
            campaign_id=row.campaign_id,
            tracking_policy=TrackingPolicy(
                mode=domain.TrackingMode(row.tracking_mode),
                append_context_param=row.append_context_param,
            ),
            short_path=f"/{row.handle}/{row.slug}",
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="One readiness check of a campaign.")
class HealthCheck:
    name: str = strawberry.field(description="Check name, e.g. primary_link.")
    status: CheckStatus = strawberry.field(description="PASS, WARN or FAIL.")
    detail: str = strawberry.field(description="One sentence explaining the outcome.")


@strawberry.type(description="Campaign health: every check and the overall readiness.")
class CampaignHealth:
    campaign_id: str = strawberry.field(description="Campaign checked.")
    checks: list[HealthCheck] = strawberry.field(description="Individual checks.")
    readiness: Readiness = strawberry.field(description="READY when no check FAILs.")

    @classmethod
    def from_report(cls, report: HealthReportData) -> CampaignHealth:
        return cls(
            campaign_id=report.campaign_id,
            readiness=report.readiness,
            checks=[
                HealthCheck(name=c.name, status=c.status, detail=c.detail) for c in report.checks
            ],
        )


@strawberry.type(description="Result of createCampaign: the campaign and activation steps.")
class CreateCampaignPayload:
    campaign: Campaign = strawberry.field(description="The new campaign.")
    quick_start: list[str] = strawberry.field(description="Three activation steps.")


@strawberry.type(description="A stored conversion event.")
class Conversion:
    conversion_id: str = strawberry.field(description="Server id of the conversion.")
    event_id: str = strawberry.field(description="Idempotency key sent by the client.")
    event_type: str = strawberry.field(description="Event type, e.g. purchase.")
    campaign_id: str | None = strawberry.field(description="Attributed campaign.")
    click_id: str | None = strawberry.field(description="Attributed click (fg_click), if any.")
    value: float | None = strawberry.field(description="Monetary value.")
    currency: str | None = strawberry.field(description="ISO 4217 currency of the value.")
    metadata: strawberry.scalars.JSON = strawberry.field(description="Client metadata.")
    test: bool = strawberry.field(description="True for test conversions.")
    occurred_at: datetime = strawberry.field(description="When the event happened (UTC).")

    @classmethod
    def from_row(cls, row: ConversionRow) -> Conversion:
        return cls(
            conversion_id=row.id,
            event_id=row.event_id,
            event_type=row.event_type,
            campaign_id=row.campaign_id,
            click_id=row.click_id,
            value=None if row.value_micros is None else row.value_micros / 1_000_000,
            currency=row.currency,
            metadata=strawberry.scalars.JSON(row.event_metadata),
            test=row.is_test,
            occurred_at=row.occurred_at,
        )


@strawberry.type(description="Result of a test conversion.")
class TestConversionPayload:
    status: str = strawberry.field(description="created or duplicate.")
    conversion: Conversion = strawberry.field(description="The stored test conversion.")
    webhook_event_id: str | None = strawberry.field(
        description="Id of the conversion.tested outbox event written with it."
    )


@strawberry.type(description="Outcome of one event of a recordConversions batch.")
class ConversionResult:
    index: int = strawberry.field(description="Position of the event in the batch.")
    status: str = strawberry.field(description="created, duplicate, ignored or rejected.")
    event_id: str | None = strawberry.field(description="Idempotency key of the event.")
    conversion_id: str | None = strawberry.field(description="Server id when created.")
    campaign_id: str | None = strawberry.field(description="Attributed campaign.")
    attributed: bool = strawberry.field(description="Attributed to a recorded click.")
    code: str | None = strawberry.field(description="Error code when rejected or ignored.")
    message: str | None = strawberry.field(description="Explanation when rejected or ignored.")
