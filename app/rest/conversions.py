"""REST ingest of conversions: one event, or ``{"events": [...]}`` up to 1,000."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.rest.common import ORJSONResponse, json_body, request_context
from resolvers import conversions
from resolvers.errors import DomainError, InvalidInput


async def post_conversions(request: Request) -> Response:
    ctx = await request_context(request)
    handle = request.path_params["handle"]
    body = await json_body(request)
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
        return ORJSONResponse(result.as_dict(), status_code=status)
    counts = {
        s: sum(r.status == s for r in results)
        for s in ("created", "duplicate", "ignored", "rejected")
    }
    return ORJSONResponse({"results": [r.as_dict() for r in results], **counts})


ROUTES = [Route("/v2/handles/{handle}/conversions", post_conversions, methods=["POST"])]
