"""Webhook subscriptions and their delivery log (ADMIN): types and Query/Mutation fields."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from db.tables import WebhookAttempt as AttemptRow
from db.tables import WebhookSubscription as SubscriptionRow
from resolvers import webhooks as hooks
from resolvers.context import Context
from resolvers.inputs import parse
from resolvers.outbox import EVENT_TYPES
from resolvers.webhooks import DeliveryLog, WebhookCreate, WebhookUpdate
from schema.connection import Connection

Ctx = Info[Context, None]
_EVENTS = ", ".join(EVENT_TYPES)


@strawberry.type(description="A webhook subscription; its signing secret is shown only on create.")
class WebhookSubscription:
    id: str = strawberry.field(description="Subscription id.")
    handle: str = strawberry.field(description="Handle whose events are sent.")
    url: str = strawberry.field(description="Receiver URL (http or https).")
    events: list[str] = strawberry.field(description=f"Event types sent: any of {_EVENTS}.")
    enabled: bool = strawberry.field(description="Disabled subscriptions receive nothing.")
    created_at: datetime = strawberry.field(description="Creation time (UTC).")
    updated_at: datetime = strawberry.field(description="Last change (UTC).")

    @classmethod
    def from_row(cls, row: SubscriptionRow) -> WebhookSubscription:
        return cls(
            id=row.id,
            handle=row.handle,
            url=row.url,
            events=list(row.events),
            enabled=row.enabled,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="A new subscription and its signing secret, shown only here.")
class CreateWebhookPayload:
    subscription: WebhookSubscription = strawberry.field(description="The subscription.")
    secret: str = strawberry.field(
        description="HMAC-SHA256 key of the Funnelgate-Signature header; store it now."
    )


@strawberry.type(description="One attempt to deliver an event to a receiver.")
class WebhookAttempt:
    attempt: int = strawberry.field(description="Attempt number, from 1.")
    status_code: int | None = strawberry.field(
        description="HTTP status the receiver answered; null when no response came."
    )
    error: str | None = strawberry.field(description="Why the attempt failed; null on success.")
    duration_ms: float = strawberry.field(description="Time the attempt took, in ms.")
    attempted_at: datetime = strawberry.field(description="When it was made (UTC).")

    @classmethod
    def from_row(cls, row: AttemptRow) -> WebhookAttempt:
        return cls(
            attempt=row.attempt,
            status_code=row.status_code,
            error=row.error,
            duration_ms=row.duration_ms,
            attempted_at=row.attempted_at,
        )


@strawberry.type(description="One event for one subscription, retried until delivered or DEAD.")
class WebhookDelivery:
    id: str = strawberry.field(description="Delivery id (the Funnelgate-Delivery header).")
    subscription_id: str = strawberry.field(description="Subscription delivered to.")
    event_id: str = strawberry.field(description="Event id: the body's id, the same on retries.")
    event_type: str = strawberry.field(description="Event type.")
    status: str = strawberry.field(description="PENDING, RETRYING, DELIVERED or DEAD.")
    attempts: int = strawberry.field(description="Attempts made so far.")
    next_attempt_at: datetime | None = strawberry.field(
        description="When the next attempt is due (UTC); null once DELIVERED or DEAD."
    )
    last_status_code: int | None = strawberry.field(description="HTTP status of the last try.")
    last_error: str | None = strawberry.field(description="Error of the last attempt, if any.")
    created_at: datetime = strawberry.field(description="When the event was queued (UTC).")
    delivered_at: datetime | None = strawberry.field(description="When a 2xx came back (UTC).")
    payload: JSON = strawberry.field(description="The exact body sent on every attempt.")
    attempt_log: list[WebhookAttempt] = strawberry.field(description="Every attempt, newest first.")

    @classmethod
    def from_log(cls, log: DeliveryLog) -> WebhookDelivery:
        d = log.delivery
        return cls(
            id=d.id,
            subscription_id=d.subscription_id,
            event_id=d.event_id,
            event_type=d.event_type,
            status=d.status,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            created_at=d.created_at,
            delivered_at=d.delivered_at,
            payload=JSON(d.payload),
            attempt_log=[WebhookAttempt.from_row(a) for a in log.attempts],
        )


@strawberry.input(description="A new webhook subscription.")
class WebhookInput:
    url: str = strawberry.field(description="Receiver URL: http or https, on a public host.")
    events: list[str] = strawberry.field(description=f"Event types to send: any of {_EVENTS}.")
    enabled: bool = strawberry.field(default=True, description="Defaults to true.")


@strawberry.input(description="Changes to a webhook subscription; omitted fields keep their value.")
class WebhookUpdateInput:
    url: str | None = strawberry.field(default=None, description="New receiver URL.")
    events: list[str] | None = strawberry.field(default=None, description="New event types.")
    enabled: bool | None = strawberry.field(default=None, description="Enable or disable.")


def _given(**fields: object) -> dict[str, object]:
    return {k: v for k, v in fields.items() if v is not None}


@strawberry.type
class WebhookQuery:
    @strawberry.field(description="Webhook subscriptions of a handle, newest first (ADMIN).")
    async def webhooks(self, info: Ctx, handle: str) -> list[WebhookSubscription]:
        rows = await hooks.list_webhooks(info.context, handle)
        return [WebhookSubscription.from_row(r) for r in rows]

    @strawberry.field(description="One webhook subscription by id (ADMIN).")
    async def webhook(self, info: Ctx, handle: str, id: str) -> WebhookSubscription:
        return WebhookSubscription.from_row(await hooks.get_webhook(info.context, handle, id))

    @strawberry.field(description="Delivery log of a subscription, newest first (ADMIN).")
    async def webhook_deliveries(
        self,
        info: Ctx,
        handle: str,
        subscription_id: str,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[WebhookDelivery]:
        page = await hooks.list_deliveries(info.context, handle, subscription_id, first, after)
        return Connection.of(page, WebhookDelivery.from_log)


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(description="Subscribe a URL to events of a handle (ADMIN).")
    async def create_webhook(
        self, info: Ctx, handle: str, input: WebhookInput
    ) -> CreateWebhookPayload:
        data = parse(
            WebhookCreate, {"url": input.url, "events": input.events, "enabled": input.enabled}
        )
        created = await hooks.create_webhook(info.context, handle, data)
        return CreateWebhookPayload(
            subscription=WebhookSubscription.from_row(created.subscription),
            secret=created.secret,
        )

    @strawberry.mutation(description="Change a subscription's url, events or enabled (ADMIN).")
    async def update_webhook(
        self, info: Ctx, handle: str, id: str, input: WebhookUpdateInput
    ) -> WebhookSubscription:
        raw = _given(url=input.url, events=input.events, enabled=input.enabled)
        row = await hooks.update_webhook(info.context, handle, id, parse(WebhookUpdate, raw))
        return WebhookSubscription.from_row(row)

    @strawberry.mutation(description="Delete a subscription and its delivery log (ADMIN).")
    async def delete_webhook(self, info: Ctx, handle: str, id: str) -> bool:
        await hooks.delete_webhook(info.context, handle, id)
        return True

    @strawberry.mutation(
        description="Send a DELIVERED or DEAD delivery again, same event id (ADMIN)."
    )
    async def redeliver_webhook(self, info: Ctx, handle: str, delivery_id: str) -> WebhookDelivery:
        return WebhookDelivery.from_log(await hooks.redeliver(info.context, handle, delivery_id))
