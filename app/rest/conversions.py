"""REST ingest of conversions: one event, or ``{"events": [...]}`` up to 1,000."""

from __future__ import annotations

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.openapi import Reply, operation
from app.rest import shapes
from app.rest.common import ORJSONResponse, json_body, request_context
from app.rest.views import conversion_result_json
from resolvers import conversions
from resolvers.conversions import MAX_BATCH, ConversionInput
from resolvers.errors import DomainError, InvalidInput
from resolvers.inputs import _Input
from resolvers.principal import WRITE_CONVERSIONS


class ConversionBatch(_Input):
    """``{"events": [...]}``: each event is validated, recorded or rejected on its own."""

    events: list[ConversionInput] = Field(min_length=1, max_length=MAX_BATCH)


@operation(
    summary="Record conversion events",
    tags=["conversions"],
    body=(ConversionInput, ConversionBatch),
    responses={
        201: Reply("The event was recorded.", shapes.ConversionOutcome),
        200: Reply(
            "A repeated or ignored event, or a batch (per-event results).",
            (shapes.ConversionOutcome, shapes.ConversionBatchResult),
        ),
    },
    access=WRITE_CONVERSIONS,
    errors=[503],
    description="One event, or a batch of up to 1,000. A repeated eventId is acknowledged "
    "once and never double counted; events of campaigns that are not ACTIVE are ignored.",
)
async def post_conversions(request: Request) -> Response:
    ctx = await request_context(request)
    handle = request.path_params["handle"]
    # Each event is validated on its own (parse_events): a NUL in one is that event's
    # rejection, not the batch's.
    body = await json_body(request, check_text=False)
    if not isinstance(body, dict):
        raise InvalidInput("Request body must be a JSON object.")
    batch = "events" in body
    if batch and set(body) != {"events"}:
        raise InvalidInput("A batch body holds only 'events'.")
    parsed = conversions.parse_events(body["events"] if batch else [body])
    if not batch and isinstance(parsed[0], DomainError):
        raise parsed[0]
    results = await conversions.record_conversions(ctx, handle, parsed)
    if not batch:
        result = results[0]
        if result.status == "rejected":
            raise DomainError(result.message or "Invalid event.", code=result.code)
        status = 201 if result.status == "created" else 200
        return ORJSONResponse(conversion_result_json(result), status_code=status)
    counts = {
        s: sum(r.status == s for r in results)
        for s in ("created", "duplicate", "ignored", "rejected")
    }
    return ORJSONResponse({"results": [conversion_result_json(r) for r in results], **counts})


ROUTES = [Route("/v2/handles/{handle}/conversions", post_conversions, methods=["POST"])]
