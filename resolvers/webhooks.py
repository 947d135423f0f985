"""Webhook subscriptions (ADMIN): CRUD, the delivery log and manual redelivery.

Deliveries themselves are made by ``app.runtime.webhook_worker`` from the durable outbox.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated, Any, cast

from pydantic import Field, StringConstraints, WithJsonSchema, field_validator
from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.tables import WebhookAttempt, WebhookDelivery, WebhookSubscription
from resolvers.accounts import account_for_handle
from resolvers.context import Context
from resolvers.domain import utcnow
from resolvers.errors import Conflict, NotFound
from resolvers.inputs import Trimmed, _Input
from resolvers.outbox import EVENT_TYPES
from resolvers.pagination import Page, keyset_page
from resolvers.principal import ADMIN, authorize
from resolvers.storable import unstorable_reason
from resolvers.webhook_urls import check_webhook_url

MAX_SUBSCRIPTIONS_PER_HANDLE = 25
SECRET_PREFIX = "whsec_"
MAX_EVENTS = 16

PENDING, RETRYING, DELIVERED, DEAD = "PENDING", "RETRYING", "DELIVERED", "DEAD"
DUE_STATUSES = (PENDING, RETRYING)
FINISHED_STATUSES = (DELIVERED, DEAD)

# Checked by ``_check_events`` (a clear message naming the known types); documented as an enum.
EventType = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    WithJsonSchema({"type": "string", "enum": list(EVENT_TYPES)}),
]


def _check_events(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    unknown = sorted(set(value) - set(EVENT_TYPES))
    if unknown:
        known = ", ".join(EVENT_TYPES)
        raise ValueError(f"unknown event type(s) {', '.join(unknown)}; known: {known}")
    return [e for e in EVENT_TYPES if e in value]  # deduplicated, in a stable order


class WebhookCreate(_Input):
    url: Trimmed = Field(min_length=1, max_length=2048)
    events: list[EventType] = Field(min_length=1, max_length=MAX_EVENTS)
    enabled: bool = Field(default=True, strict=True)

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str] | None:
        return _check_events(value)


class WebhookUpdate(_Input):
    """A PATCH body: only the fields given change."""

    url: Trimmed | None = Field(default=None, min_length=1, max_length=2048)
    events: list[EventType] | None = Field(default=None, min_length=1, max_length=MAX_EVENTS)
    enabled: bool | None = Field(default=None, strict=True)

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str] | None) -> list[str] | None:
        return _check_events(value)


@dataclass(frozen=True)
class CreatedWebhook:
    """A new subscription and its signing secret, which is never shown again."""

    subscription: WebhookSubscription
    secret: str


@dataclass(frozen=True)
class DeliveryLog:
    """A delivery with its attempts, newest attempt first."""

    delivery: WebhookDelivery
    attempts: list[WebhookAttempt]


def webhook_not_found(webhook_id: str) -> NotFound:
    return NotFound(f"Webhook '{webhook_id}' not found.", code="webhook_not_found")


def delivery_not_found(delivery_id: str) -> NotFound:
    return NotFound(f"Delivery '{delivery_id}' not found.", code="delivery_not_found")


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


async def _load(session: AsyncSession, handle: str, webhook_id: str) -> WebhookSubscription:
    if unstorable_reason(webhook_id) is not None:  # cannot exist, nor be compared
        raise webhook_not_found(webhook_id)
    row = (
        await session.execute(
            select(WebhookSubscription).where(
                col(WebhookSubscription.handle) == handle, col(WebhookSubscription.id) == webhook_id
            )
        )
    ).scalar_one_or_none()
    if row is None:
        raise webhook_not_found(webhook_id)
    return row


async def create_webhook(ctx: Context, handle: str, data: WebhookCreate) -> CreatedWebhook:
    authorize(ctx.principal, handle, ADMIN)
    url = await check_webhook_url(data.url, allow_private=ctx.settings.webhook_allow_private)
    secret = new_secret()
    now = utcnow()
    async with ctx.sessions() as session:
        account = await account_for_handle(session, handle)
        count = (
            await session.execute(
                select(func.count()).where(col(WebhookSubscription.handle) == handle)
            )
        ).scalar_one()
        if count >= MAX_SUBSCRIPTIONS_PER_HANDLE:
            raise Conflict(
                f"A handle may have at most {MAX_SUBSCRIPTIONS_PER_HANDLE} webhooks.",
                code="too_many_webhooks",
            )
        row = WebhookSubscription(
            id="whk_" + secrets.token_hex(8),
            account_id=account.id,
            handle=handle,
            url=url,
            events=list(data.events),
            secret=secret,
            enabled=data.enabled,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        await session.commit()
    return CreatedWebhook(row, secret)


async def list_webhooks(ctx: Context, handle: str) -> list[WebhookSubscription]:
    """Every subscription of ``handle``, newest first."""
    authorize(ctx.principal, handle, ADMIN)
    async with ctx.sessions() as session:
        await account_for_handle(session, handle)
        rows = await session.execute(
            select(WebhookSubscription)
            .where(col(WebhookSubscription.handle) == handle)
            .order_by(
                col(WebhookSubscription.created_at).desc(), col(WebhookSubscription.id).desc()
            )
        )
        return list(rows.scalars().all())


async def get_webhook(ctx: Context, handle: str, webhook_id: str) -> WebhookSubscription:
    authorize(ctx.principal, handle, ADMIN)
    async with ctx.sessions() as session:
        await account_for_handle(session, handle)
        return await _load(session, handle, webhook_id)


async def update_webhook(
    ctx: Context, handle: str, webhook_id: str, data: WebhookUpdate
) -> WebhookSubscription:
    """Change url, events or enabled; fields left out keep their value."""
    authorize(ctx.principal, handle, ADMIN)
    if data.url is not None:
        await check_webhook_url(data.url, allow_private=ctx.settings.webhook_allow_private)
    async with ctx.sessions() as session:
        await account_for_handle(session, handle)
        row = await _load(session, handle, webhook_id)
        if data.url is not None:
            row.url = data.url
        if data.events is not None:
            row.events = list(data.events)
        if data.enabled is not None:
            row.enabled = data.enabled
        row.updated_at = utcnow()
        await session.commit()
        return row


async def delete_webhook(ctx: Context, handle: str, webhook_id: str) -> None:
    """Delete a subscription with its deliveries and their log; undelivered events are dropped."""
    authorize(ctx.principal, handle, ADMIN)
    async with ctx.sessions() as session:
        await account_for_handle(session, handle)
        await _load(session, handle, webhook_id)
        deliveries = select(col(WebhookDelivery.id)).where(
            col(WebhookDelivery.subscription_id) == webhook_id
        )
        await session.execute(
            delete(WebhookAttempt).where(col(WebhookAttempt.delivery_id).in_(deliveries))
        )
        await session.execute(
            delete(WebhookDelivery).where(col(WebhookDelivery.subscription_id) == webhook_id)
        )
        await session.execute(
            delete(WebhookSubscription).where(
                col(WebhookSubscription.handle) == handle, col(WebhookSubscription.id) == webhook_id
            )
        )
        await session.commit()


async def _attempts_of(
    session: AsyncSession, delivery_ids: list[str]
) -> dict[str, list[WebhookAttempt]]:
    by_delivery: dict[str, list[WebhookAttempt]] = {d: [] for d in delivery_ids}
    if not delivery_ids:
        return by_delivery
    rows = await session.execute(
        select(WebhookAttempt)
        .where(col(WebhookAttempt.delivery_id).in_(delivery_ids))
        .order_by(col(WebhookAttempt.attempted_at).desc(), col(WebhookAttempt.attempt).desc())
    )
    for attempt in rows.scalars().all():
        by_delivery[attempt.delivery_id].append(attempt)
    return by_delivery


async def list_deliveries(
    ctx: Context,
    handle: str,
    webhook_id: str,
    first: int | None = None,
    after: str | None = None,
) -> Page[DeliveryLog]:
    """The delivery log of a subscription, newest delivery first, keyset-paginated."""
    authorize(ctx.principal, handle, ADMIN)
    where = [
        col(WebhookDelivery.handle) == handle,
        col(WebhookDelivery.subscription_id) == webhook_id,
    ]
    async with ctx.sessions() as session:
        await account_for_handle(session, handle)
        await _load(session, handle, webhook_id)
        page = await keyset_page(
            session,
            WebhookDelivery,
            where,
            (col(WebhookDelivery.created_at), col(WebhookDelivery.id)),
            descending=True,
            first=first,
            after=after,
        )
        attempts = await _attempts_of(session, [r.id for r in page.items])
    items = [DeliveryLog(r, attempts[r.id]) for r in page.items]
    return Page(items, page.cursors, page.has_next, page.total)


async def redeliver(ctx: Context, handle: str, delivery_id: str) -> DeliveryLog:
    """Schedule a finished (DELIVERED or DEAD) delivery again, now, with the same event id.

    A redelivery always gets at least one attempt; the retry budget counts every attempt a
    delivery ever had, so a DEAD one that fails again goes straight back to DEAD.
    """
    authorize(ctx.principal, handle, ADMIN)
    if unstorable_reason(delivery_id) is not None:  # cannot exist, nor be compared
        raise delivery_not_found(delivery_id)
    async with ctx.sessions() as session:
        await account_for_handle(session, handle)
        result = await session.execute(
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.handle) == handle,
                col(WebhookDelivery.id) == delivery_id,
                col(WebhookDelivery.status).in_(FINISHED_STATUSES),
            )
            .values(status=PENDING, next_attempt_at=utcnow())
        )
        row = (
            await session.execute(
                select(WebhookDelivery).where(
                    col(WebhookDelivery.handle) == handle, col(WebhookDelivery.id) == delivery_id
                )
            )
        ).scalar_one_or_none()
        if row is None:
            raise delivery_not_found(delivery_id)
        # SQLAlchemy 2.0 types every result as Result; a DML statement's has rowcount.
        if cast(CursorResult[Any], result).rowcount == 0:
            raise Conflict(
                f"Delivery '{delivery_id}' is still {row.status}: it is already scheduled.",
                code="delivery_pending",
            )
        await session.commit()
        attempts = await _attempts_of(session, [row.id])
    return DeliveryLog(row, attempts[row.id])
