"""Response shapes of the webhook routes, for the OpenAPI document (see ``shapes.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from app.rest.shapes import _Page, _Shape

EventType = Literal["conversion.tested", "conversion.created", "campaign.status_changed"]
DeliveryStatus = Literal["PENDING", "RETRYING", "DELIVERED", "DEAD"]


class WebhookSubscription(_Shape):
    id: str
    handle: str
    url: str
    events: list[EventType]
    enabled: bool
    createdAt: datetime
    updatedAt: datetime


class WebhookCreated(_Shape):
    webhook: WebhookSubscription
    secret: str = Field(
        description="HMAC-SHA256 key of the Funnelgate-Signature header; shown only here."
    )


class WebhookEnvelope(_Shape):
    webhook: WebhookSubscription


class WebhookList(_Shape):
    webhooks: list[WebhookSubscription]


class WebhookAttempt(_Shape):
    attempt: int = Field(ge=1)
    statusCode: int | None = Field(description="Null when no HTTP response came back.")
    error: str | None
    durationMs: float = Field(ge=0)
    attemptedAt: datetime


class WebhookDelivery(_Shape):
    id: str = Field(description="The Funnelgate-Delivery header of every attempt.")
    subscriptionId: str
    eventId: str = Field(description="The body's id; the same on every retry.")
    eventType: EventType
    status: DeliveryStatus
    attempts: int = Field(ge=0)
    nextAttemptAt: datetime | None
    lastStatusCode: int | None
    lastError: str | None
    createdAt: datetime
    deliveredAt: datetime | None
    payload: dict[str, Any] = Field(description="The exact body sent on every attempt.")
    attemptLog: list[WebhookAttempt] = Field(description="Every attempt, newest first.")


class WebhookDeliveryEnvelope(_Shape):
    delivery: WebhookDelivery


class WebhookDeliveryPage(_Page):
    deliveries: list[WebhookDelivery]
