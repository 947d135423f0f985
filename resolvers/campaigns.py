"""Campaigns: create, list, fetch and move through their lifecycle."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.dialect import locked_for_update
from db.tables import Campaign
from resolvers import outbox
from resolvers.accounts import account_for_handle
from resolvers.context import Context
from resolvers.domain import (
    CAMPAIGN_ID_RE,
    GOAL_DEFAULTS,
    QUICK_START,
    SLUG_RE,
    STATUS_TRANSITIONS,
    CampaignStatus,
    iso,
    utcnow,
)
from resolvers.errors import Conflict, InvalidInput, NotFound
from resolvers.inputs import CampaignCreate, CampaignUpdate
from resolvers.pagination import Page, keyset_page
from resolvers.principal import READ_CAMPAIGNS, WRITE_CAMPAIGNS, authorize
from resolvers.storable import unstorable_reason


def validate_campaign_id(campaign_id: str) -> str:
    if not CAMPAIGN_ID_RE.fullmatch(campaign_id):
        raise InvalidInput(
            f"Campaign ID '{campaign_id[:80]}' does not match ^[a-z0-9][a-z0-9_-]{{2,63}}$.",
            code="invalid_campaign_id",
        )
    return campaign_id


def validate_slug(slug: str) -> str:
    if not SLUG_RE.fullmatch(slug):
        raise InvalidInput(f"Invalid slug '{slug[:80]}'.", code="invalid_slug")
    return slug


def campaign_not_found(campaign_id: str) -> NotFound:
    return NotFound(f"Campaign '{campaign_id}' not found.", code="campaign_not_found")


async def load_campaign(session: AsyncSession, handle: str, campaign_id: str) -> Campaign:
    if unstorable_reason(campaign_id) is not None:  # cannot exist, nor be compared
        raise campaign_not_found(campaign_id)
    row = (
        await session.execute(
            select(Campaign).where(
                col(Campaign.handle) == handle, col(Campaign.campaign_id) == campaign_id
            )
        )
    ).scalar_one_or_none()
    if row is None:
        raise campaign_not_found(campaign_id)
    return row


async def create_campaign(ctx: Context, handle: str, data: CampaignCreate) -> Campaign:
    authorize(ctx.principal, handle, WRITE_CAMPAIGNS)
    campaign_id = (
        validate_campaign_id(data.campaign_id)
        if data.campaign_id is not None
        else ("cmp_" + secrets.token_hex(8))
    )
    if data.status not in (CampaignStatus.DRAFT, CampaignStatus.ACTIVE):
        raise Conflict(
            f"A campaign cannot start {data.status.value}; start DRAFT or ACTIVE.",
            code="invalid_status_transition",
        )
    if data.primary_slug:
        validate_slug(data.primary_slug)
    preset, event_type = GOAL_DEFAULTS[data.goal_type]
    now = utcnow()
    async with ctx.sessions() as session:
        account = await account_for_handle(session, handle)
        row = Campaign(
            account_id=account.id,
            handle=handle,
            campaign_id=campaign_id,
            name=data.name,
            goal_type=data.goal_type.value,
            tracking_preset=data.tracking_preset or preset,
            conversion_event_type=data.conversion_event_type or event_type,
            status=data.status.value,
            primary_slug=data.primary_slug,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        try:
            await session.commit()
        except IntegrityError as exc:
            raise Conflict(
                f"Campaign ID '{campaign_id}' already exists.", code="campaign_conflict"
            ) from exc
    return row


def quick_start() -> list[str]:
    return list(QUICK_START)


async def list_campaigns(
    ctx: Context,
    handle: str,
    status: CampaignStatus | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page[Campaign]:
    """Newest first, keyset-paginated."""
    authorize(ctx.principal, handle, READ_CAMPAIGNS)
    where = [col(Campaign.handle) == handle]
    if status is not None:
        where.append(col(Campaign.status) == status.value)
    async with ctx.sessions() as session:
        await account_for_handle(session, handle)
        return await keyset_page(
            session,
            Campaign,
            where,
            (col(Campaign.created_at), col(Campaign.campaign_id)),
            descending=True,
            first=first,
            after=after,
        )


async def get_campaign(ctx: Context, handle: str, campaign_id: str) -> Campaign:
    authorize(ctx.principal, handle, READ_CAMPAIGNS)
    async with ctx.sessions() as session:
        await account_for_handle(session, handle)
        return await load_campaign(session, handle, campaign_id)


def _check_transition(current: CampaignStatus, target: CampaignStatus) -> None:
    if target not in STATUS_TRANSITIONS[current]:
        raise Conflict(
            f"Cannot move a campaign from {current.value} to {target.value}.",
            code="invalid_status_transition",
        )


async def update_campaign(
    ctx: Context, handle: str, campaign_id: str, data: CampaignUpdate
) -> Campaign:
    """Change status (lifecycle rules apply), name or primary slug, atomically."""
    authorize(ctx.principal, handle, WRITE_CAMPAIGNS)
    if data.primary_slug:
        validate_slug(data.primary_slug)
    if unstorable_reason(campaign_id) is not None:
        raise campaign_not_found(campaign_id)
    async with ctx.sessions() as session:
        await account_for_handle(session, handle)
        query = select(Campaign).where(
            col(Campaign.handle) == handle, col(Campaign.campaign_id) == campaign_id
        )
        row = (await session.execute(locked_for_update(query))).scalar_one_or_none()
        if row is None:
            raise campaign_not_found(campaign_id)
        previous = CampaignStatus(row.status)
        if data.status is not None:
            _check_transition(previous, data.status)
            row.status = data.status.value
        if data.name is not None:
            row.name = data.name
        if data.primary_slug is not None:
            row.primary_slug = data.primary_slug
        row.updated_at = utcnow()
        if data.status is not None:
            outbox.emit(
                session,
                row.account_id,
                handle,
                outbox.CAMPAIGN_STATUS_CHANGED,
                {
                    "campaignId": campaign_id,
                    "from": previous.value,
                    "to": row.status,
                    "changedAt": iso(row.updated_at),
                },
            )
        await session.commit()
    return row


async def set_campaign_status(
    ctx: Context, handle: str, campaign_id: str, status: CampaignStatus
) -> Campaign:
    return await update_campaign(ctx, handle, campaign_id, CampaignUpdate(status=status))
