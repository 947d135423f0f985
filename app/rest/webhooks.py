"""REST shim for webhook subscriptions (ADMIN), their delivery log and redelivery."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.openapi import CURSOR, LIMIT, operation
from app.rest import webhook_shapes as shapes
from app.rest.common import ORJSONResponse, int_param, json_body, request_context
from app.rest.views import page_json
from db.tables import WebhookAttempt, WebhookSubscription
from resolvers import webhooks
from resolvers.domain import iso
from resolvers.inputs import parse
from resolvers.principal import ADMIN
from resolvers.webhooks import DeliveryLog, WebhookCreate, WebhookUpdate

TAGS = ["webhooks"]


def webhook_json(row: WebhookSubscription) -> dict[str, Any]:
    """A subscription without its secret, which only the create response carries."""
    return {
        "id": row.id,
        "handle": row.handle,
        "url": row.url,
        "events": list(row.events),
        "enabled": row.enabled,
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
    }


def attempt_json(row: WebhookAttempt) -> dict[str, Any]:
    return {
        "attempt": row.attempt,
        "statusCode": row.status_code,
        "error": row.error,
        "durationMs": row.duration_ms,
        "attemptedAt": iso(row.attempted_at),
    }


def delivery_json(log: DeliveryLog) -> dict[str, Any]:
    d = log.delivery
    return {
        "id": d.id,
        "subscriptionId": d.subscription_id,
        "eventId": d.event_id,
        "eventType": d.event_type,
        "status": d.status,
        "attempts": d.attempts,
        "nextAttemptAt": iso(d.next_attempt_at),
        "lastStatusCode": d.last_status_code,
        "lastError": d.last_error,
        "createdAt": iso(d.created_at),
        "deliveredAt": iso(d.delivered_at),
        "payload": d.payload,
        "attemptLog": [attempt_json(a) for a in log.attempts],
    }


@operation(
    summary="Subscribe a URL to events of the handle",
    tags=TAGS,
    body=WebhookCreate,
    responses={201: shapes.WebhookCreated},
    access=ADMIN,
    errors=[409],
    description="The signing secret is in this response only. URLs on private, loopback or "
    "link-local addresses are refused (400 ``webhook_url_not_allowed``) unless "
    "FUNNELGATE_WEBHOOK_ALLOW_PRIVATE is set.",
)
async def create_webhook(request: Request) -> Response:
    ctx = await request_context(request)
    data = parse(WebhookCreate, await json_body(request))
    created = await webhooks.create_webhook(ctx, request.path_params["handle"], data)
    return ORJSONResponse(
        {"webhook": webhook_json(created.subscription), "secret": created.secret},
        status_code=201,
    )


@operation(
    summary="List webhook subscriptions",
    tags=TAGS,
    responses={200: shapes.WebhookList},
    access=ADMIN,
)
async def list_webhooks(request: Request) -> Response:
    ctx = await request_context(request)
    rows = await webhooks.list_webhooks(ctx, request.path_params["handle"])
    return ORJSONResponse({"webhooks": [webhook_json(r) for r in rows]})


@operation(
    summary="Fetch a webhook subscription",
    tags=TAGS,
    responses={200: shapes.WebhookEnvelope},
    access=ADMIN,
)
async def get_webhook(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    row = await webhooks.get_webhook(ctx, p["handle"], p["webhookId"])
    return ORJSONResponse({"webhook": webhook_json(row)})


@operation(
    summary="Change a webhook's url, events or enabled",
    tags=TAGS,
    body=WebhookUpdate,
    responses={200: shapes.WebhookEnvelope},
    access=ADMIN,
)
async def update_webhook(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    data = parse(WebhookUpdate, await json_body(request))
    row = await webhooks.update_webhook(ctx, p["handle"], p["webhookId"], data)
    return ORJSONResponse({"webhook": webhook_json(row)})


@operation(
    summary="Delete a webhook subscription and its delivery log",
    tags=TAGS,
    responses={204: None},
    access=ADMIN,
)
async def delete_webhook(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    await webhooks.delete_webhook(ctx, p["handle"], p["webhookId"])
    return Response(status_code=204)


@operation(
    summary="Delivery log of a webhook, newest first",
    tags=TAGS,
    query=[LIMIT, CURSOR],
    responses={200: shapes.WebhookDeliveryPage},
    access=ADMIN,
)
async def list_deliveries(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    page = await webhooks.list_deliveries(
        ctx,
        p["handle"],
        p["webhookId"],
        first=int_param(request, "limit"),
        after=request.query_params.get("cursor") or None,
    )
    return ORJSONResponse(page_json(page, "deliveries", delivery_json))


@operation(
    summary="Send a DELIVERED or DEAD delivery again",
    tags=TAGS,
    responses={202: shapes.WebhookDeliveryEnvelope},
    access=ADMIN,
    errors=[409],
    description="Same event id and delivery id; 409 ``delivery_pending`` while one is due.",
)
async def redeliver(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    log = await webhooks.redeliver(ctx, p["handle"], p["deliveryId"])
    return ORJSONResponse({"delivery": delivery_json(log)}, status_code=202)


_HOOKS = "/v2/handles/{handle}/webhooks"
ROUTES = [
    Route(_HOOKS, create_webhook, methods=["POST"]),
    Route(_HOOKS, list_webhooks, methods=["GET"]),
    Route(_HOOKS + "/deliveries/{deliveryId}/redeliver", redeliver, methods=["POST"]),
    Route(_HOOKS + "/{webhookId}", get_webhook, methods=["GET"]),
    Route(_HOOKS + "/{webhookId}", update_webhook, methods=["PATCH"]),
    Route(_HOOKS + "/{webhookId}", delete_webhook, methods=["DELETE"]),
    Route(_HOOKS + "/{webhookId}/deliveries", list_deliveries, methods=["GET"]),
]
