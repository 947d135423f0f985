"""Campaign site-structure pages: the SitePage type and the Query/Mutation fields serving it."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from resolvers import pages
from resolvers.context import Context
from schema.types import Campaign

Ctx = Info[Context, None]

# Bound to the enum class (strawberry.enum marks it and returns it) so that it is a type.
PageStatus = pages.PageStatus
strawberry.enum(
    PageStatus, description="PUBLISHED when this version is the published one, else DRAFT."
)


@strawberry.type(description="One version of a campaign's site-structure page.")
class SitePage:
    campaign_id: str = strawberry.field(description="Campaign the page belongs to.")
    version: int = strawberry.field(description="Version shown, from 1; each upsert adds one.")
    latest_version: int = strawberry.field(description="Newest version of the page.")
    object_key: str = strawberry.field(
        description="Object-store key of this version's schema JSON: "
        "site-structure/{handle}/campaigns/{campaignId}/v{version}.json."
    )
    page: JSON = strawberry.field(description="Page metadata: slug, title and any other keys.")
    schema: JSON = strawberry.field(description="The page's schema JSON object.")
    status: PageStatus = strawberry.field(description="Whether this version is the published one.")
    access: str | None = strawberry.field(
        description="Access of the published page (FREE_WITH_LOGIN); null until published."
    )
    published_version: int | None = strawberry.field(
        description="Version that is published; null until published."
    )
    published_at: datetime | None = strawberry.field(
        description="When that version was published (UTC); null until published."
    )
    created_at: datetime = strawberry.field(description="When this version was stored (UTC).")

    @classmethod
    def from_view(cls, view: pages.PageView) -> SitePage:
        return cls(
            campaign_id=view.campaign_id,
            version=view.version,
            latest_version=view.latest_version,
            object_key=view.object_key,
            page=JSON(view.page),
            schema=JSON(view.schema),
            status=view.status,
            access=view.access,
            published_version=view.published_version,
            published_at=view.published_at,
            created_at=view.created_at,
        )


@strawberry.type
class PageQuery:
    @strawberry.field(description="A campaign's site-structure page: the latest version or one.")
    async def campaign_structure(
        self, info: Ctx, handle: str, campaign_id: str, version: int | None = None
    ) -> SitePage:
        view = await pages.get_page(info.context, handle, campaign_id, version)
        return SitePage.from_view(view)

    @strawberry.field(description="The campaign whose published details page has this slug.")
    async def campaign_by_page_slug(self, info: Ctx, handle: str, slug: str) -> Campaign:
        row = await pages.find_campaign_by_page_slug(info.context, handle, slug)
        return Campaign.from_row(row)


@strawberry.type
class PageMutation:
    @strawberry.mutation(
        description="Store page metadata ({slug, title, ...}) and a schema JSON object "
        "as the page's next version."
    )
    async def upsert_campaign_structure(
        self, info: Ctx, handle: str, campaign_id: str, page: JSON, schema: JSON
    ) -> SitePage:
        body = {"page": page, "schema": schema}
        view = await pages.upsert_page(info.context, handle, campaign_id, body)
        return SitePage.from_view(view)

    @strawberry.mutation(
        description="Publish the latest version (or the given one) with access "
        "FREE_WITH_LOGIN and set the campaign's detailsPageSlug."
    )
    async def publish_campaign_structure(
        self, info: Ctx, handle: str, campaign_id: str, version: int | None = None
    ) -> SitePage:
        view = await pages.publish_page(info.context, handle, campaign_id, version)
        return SitePage.from_view(view)
