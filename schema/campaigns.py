"""Campaign, link, health and conversion fields of the Query and Mutation roots."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from resolvers import campaigns, conversions, health, links
from resolvers.context import Context
from schema.connection import Connection
from schema.inputs import (
    ConversionInput,
    CreateCampaignInput,
    LinkInput,
    TestConversionInput,
    UpdateCampaignInput,
)
from schema.types import (
    Campaign,
    CampaignHealth,
    CampaignStatus,
    ConversionResult,
    CreateCampaignPayload,
    Link,
    TestConversionPayload,
)
from schema.types import Conversion as ConversionType

Ctx = Info[Context, None]


@strawberry.type
class CampaignQuery:
    @strawberry.field(description="Campaigns of a handle, newest first (Relay connection).")
    async def campaigns(
        self,
        info: Ctx,
        handle: str,
        status: CampaignStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Campaign]:
        page = await campaigns.list_campaigns(info.context, handle, status, first, after)
        return Connection.of(page, Campaign.from_row)

    @strawberry.field(description="One campaign by id.")
    async def campaign(self, info: Ctx, handle: str, campaign_id: str) -> Campaign:
        return Campaign.from_row(await campaigns.get_campaign(info.context, handle, campaign_id))

    @strawberry.field(description="Readiness checks of a campaign.")
    async def campaign_health(self, info: Ctx, handle: str, campaign_id: str) -> CampaignHealth:
        return CampaignHealth.from_report(
            await health.campaign_health(info.context, handle, campaign_id)
        )

    @strawberry.field(description="Links of a handle ordered by slug (Relay connection).")
    async def links(
        self,
        info: Ctx,
        handle: str,
        campaign_id: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Link]:
        page = await links.list_links(info.context, handle, campaign_id, first, after)
        return Connection.of(page, Link.from_row)

    @strawberry.field(description="One link by slug.")
    async def link(self, info: Ctx, handle: str, slug: str) -> Link:
        return Link.from_row(await links.get_link(info.context, handle, slug))


@strawberry.type
class CampaignMutation:
    @strawberry.mutation(description="Create a campaign; returns it with quick-start steps.")
    async def create_campaign(
        self, info: Ctx, handle: str, input: CreateCampaignInput
    ) -> CreateCampaignPayload:
        row = await campaigns.create_campaign(info.context, handle, input.to_model())
        return CreateCampaignPayload(
            campaign=Campaign.from_row(row), quick_start=campaigns.quick_start()
        )

    @strawberry.mutation(description="Move a campaign through DRAFT→ACTIVE⇄PAUSED.")
    async def set_campaign_status(
        self, info: Ctx, handle: str, campaign_id: str, status: CampaignStatus
    ) -> Campaign:
        row = await campaigns.set_campaign_status(info.context, handle, campaign_id, status)
        return Campaign.from_row(row)

    @strawberry.mutation(
        description="Rename a campaign, change its primary slug and/or move its status; "
        "the same change as PATCH /v2/handles/{handle}/campaigns/{campaignId}."
    )
    async def update_campaign(
        self, info: Ctx, handle: str, campaign_id: str, input: UpdateCampaignInput
    ) -> Campaign:
        row = await campaigns.update_campaign(info.context, handle, campaign_id, input.to_model())
        return Campaign.from_row(row)

    @strawberry.mutation(description="Create or replace the link at a slug.")
    async def upsert_link(self, info: Ctx, handle: str, slug: str, input: LinkInput) -> Link:
        row, _ = await links.upsert_link(info.context, handle, slug, input.to_model())
        return Link.from_row(row)

    @strawberry.mutation(description="Delete a link; true when it existed.")
    async def delete_link(self, info: Ctx, handle: str, slug: str) -> bool:
        await links.delete_link(info.context, handle, slug)
        return True

    @strawberry.mutation(description="Post a test conversion (metadata.test = true).")
    async def test_conversion(
        self, info: Ctx, handle: str, campaign_id: str, input: TestConversionInput | None = None
    ) -> TestConversionPayload:
        model = input.to_model() if input else TestConversionInput().to_model()
        result, row = await conversions.test_conversion(info.context, handle, campaign_id, model)
        return TestConversionPayload(
            status=result.status,
            conversion=ConversionType.from_row(row),
            webhook_event_id=result.webhook_event_id,
        )

    @strawberry.mutation(description="Record up to 1,000 conversion events; one result each.")
    async def record_conversions(
        self, info: Ctx, handle: str, events: list[ConversionInput]
    ) -> list[ConversionResult]:
        parsed = conversions.parse_events([e.to_raw() for e in events])
        results = await conversions.record_conversions(info.context, handle, parsed)
        return [
            ConversionResult(
                index=r.index,
                status=r.status,
                event_id=r.event_id,
                conversion_id=r.conversion_id,
                campaign_id=r.campaign_id,
                attributed=r.attributed,
                code=r.code,
                message=r.message,
            )
            for r in results
        ]
