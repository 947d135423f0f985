"""Short links: upsert, fetch, list and delete."""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.dialect import locked_for_update
from db.tables import Link
from resolvers.accounts import account_for_handle
from resolvers.campaigns import load_campaign, validate_slug
from resolvers.context import Context
from resolvers.domain import utcnow
from resolvers.errors import InvalidInput, NotFound
from resolvers.inputs import LinkUpsert
from resolvers.pagination import Page, keyset_page
from resolvers.principal import READ_CAMPAIGNS, WRITE_CAMPAIGNS, authorize
from resolvers.storable import check_text, unstorable_reason


def validate_destination(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises ValueError for a port out of range
    except ValueError as exc:
        raise InvalidInput(
            f"destinationUrl is not a valid URL: {exc}.", code="invalid_destination_url"
        ) from exc
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidInput(
            "destinationUrl must be an absolute http or https URL.", code="invalid_destination_url"
        )
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise InvalidInput(
            "destinationUrl must not contain whitespace or control characters.",
            code="invalid_destination_url",
        )
    return url


def link_not_found(slug: str) -> NotFound:
    return NotFound(f"Link '{slug}' not found.", code="link_not_found")


async def load_link(session: AsyncSession, handle: str, slug: str) -> Link:
    if unstorable_reason(slug) is not None:  # cannot exist, nor be compared
        raise link_not_found(slug)
    row = (
        await session.execute(
            select(Link).where(col(Link.handle) == handle, col(Link.slug) == slug)
        )
    ).scalar_one_or_none()
    if row is None:
        raise link_not_found(slug)
    return row


async def upsert_link(ctx: Context, handle: str, slug: str, data: LinkUpsert) -> tuple[Link, bool]:
    """Create or replace the link at ``slug``; returns (link, created)."""
    authorize(ctx.principal, handle, WRITE_CAMPAIGNS)
    validate_slug(slug)
    validate_destination(data.destination_url)
    now = utcnow()
    async with ctx.sessions() as session:
        account = await account_for_handle(session, handle)
        if data.campaign_id is not None:
            await load_campaign(session, handle, data.campaign_id)
        query = select(Link).where(col(Link.handle) == handle, col(Link.slug) == slug)
        row = (await session.execute(locked_for_update(query))).scalar_one_or_none()
        created = row is None
        if row is None:
            row = Link(
                account_id=account.id,
                handle=handle,
                slug=slug,
                created_at=now,
                destination_url=data.destination_url,
                updated_at=now,
            )
            session.add(row)
        row.destination_url = data.destination_url
        row.campaign_id = data.campaign_id
        row.tracking_mode = data.tracking_policy.mode.value
        row.append_context_param = data.tracking_policy.append_context_param
        row.updated_at = now
        await session.commit()
    return row, created


async def get_link(ctx: Context, handle: str, slug: str) -> Link:
    authorize(ctx.principal, handle, READ_CAMPAIGNS)
    async with ctx.sessions() as session:
        await account_for_handle(session, handle)
        return await load_link(session, handle, slug)


async def list_links(
    ctx: Context,
    handle: str,
    campaign_id: str | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page[Link]:
    """Ordered by slug, keyset-paginated; optionally only one campaign's links."""
    authorize(ctx.principal, handle, READ_CAMPAIGNS)
    where = [col(Link.handle) == handle]
    if campaign_id is not None:
        check_text(campaign_id, "campaignId")
        where.append(col(Link.campaign_id) == campaign_id)
    async with ctx.sessions() as session:
        await account_for_handle(session, handle)
        return await keyset_page(session, Link, where, (col(Link.slug),), first=first, after=after)


async def delete_link(ctx: Context, handle: str, slug: str) -> None:
    authorize(ctx.principal, handle, WRITE_CAMPAIGNS)
    if unstorable_reason(slug) is not None:
        raise link_not_found(slug)
    async with ctx.sessions() as session:
        await account_for_handle(session, handle)
        result = await session.execute(
            delete(Link).where(col(Link.handle) == handle, col(Link.slug) == slug)
        )
        # SQLAlchemy 2.0 types every result as Result; a DML statement's has rowcount.
        if cast(CursorResult[Any], result).rowcount == 0:
            raise link_not_found(slug)
        await session.commit()
