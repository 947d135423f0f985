"""Helpers every REST handler shares: context, JSON bodies, query parameters."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from resolvers.auth import authenticate
from resolvers.context import Context
from resolvers.errors import InvalidInput, PayloadTooLarge
from resolvers.storable import MAX_JSON_DEPTH, json_problem

if TYPE_CHECKING:
    from app.runtime.services import Services

MAX_BODY_BYTES = 2 * 1024 * 1024
# A stored document (metadata, a page schema) sits at most three levels into a body:
# {"events": [{"metadata": {...}}]}.
MAX_BODY_DEPTH = MAX_JSON_DEPTH + 3


class ORJSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def request_context(request: Request) -> Context:
    services: Services = request.app.state.services
    ctx = services.context()
    ctx.principal = await authenticate(ctx, request.headers.get("authorization"))
    return ctx


async def json_body(request: Request, *, check_text: bool = True) -> Any:
    """The parsed JSON body; InvalidInput if it is malformed, nested too deep or holds text
    the databases cannot store (NUL; orjson already refuses lone surrogates).

    ``check_text=False`` leaves the text to a handler that validates parts of the body on
    their own (a conversion batch answers each event), so one bad part spoils no other."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"Request body exceeds {MAX_BODY_BYTES} bytes.")
    if not body:
        raise InvalidInput("Request body must be a JSON object.")
    value = _decode(body)
    problem = json_problem(value, max_depth=MAX_BODY_DEPTH, check_text=check_text)
    if problem is not None:
        raise InvalidInput(f"Request body: {problem}.")
    return value


def _decode(body: bytes) -> Any:
    """orjson; then the standard decoder for what only it reads (an escaped lone
    surrogate, which the checks then refuse with the field's name, or the event's own
    rejection in a batch). Nesting past either decoder's depth is malformed JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        error = exc
    try:
        return json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise InvalidInput(f"Malformed JSON: {error}") from error


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: orjson refuses them too


def int_param(request: Request, name: str, default: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise InvalidInput(f"Query parameter '{name}' must be an integer.") from exc


def bool_param(request: Request, name: str, default: bool = False) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise InvalidInput(f"Query parameter '{name}' must be true or false.")


def enum_param(request: Request, name: str, enum: Any) -> Any:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return enum(raw.upper())
    except ValueError as exc:
        allowed = ", ".join(m.value for m in enum)
        raise InvalidInput(f"Query parameter '{name}' must be one of {allowed}.") from exc
