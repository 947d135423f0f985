"""The MCP server at ``/mcp`` (streamable HTTP, stateless, JSON responses): tools over the same
resolvers as the REST shim, each HTTP request authenticated by its bearer token (a PAT; a JWT
works too), with the same access rules as the matching REST route."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import orjson
from mcp.server.fastmcp import Context as ToolContext
from mcp.server.fastmcp import FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.server.fastmcp.tools import Tool
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR
from pydantic import Field
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from app.errors import render_error
from app.openapi import Reply, operation
from app.rest.views import analytics_json, campaign_json, health_json, page_json, site_page_json
from resolvers import campaigns, funnels, health, pages
from resolvers.auth import authenticate
from resolvers.context import Context
from resolvers.domain import CampaignStatus
from resolvers.errors import DomainError, Unauthenticated
from resolvers.storable import MAX_JSON_DEPTH, json_problem

if TYPE_CHECKING:
    from mcp.server.session import ServerSession
    from starlette.requests import Request

    from app.runtime.services import Services

    # FastMCP's Context is generic in its session, lifespan state and request; the tools
    # read only the request. At run time the plain class, which FastMCP looks for.
    ToolCtx = ToolContext[ServerSession, object, Request]
else:
    ToolCtx = ToolContext

log = logging.getLogger("funnelgate.mcp")

CONTEXT_KEY = "funnelgate.context"
T = TypeVar("T")

Handle = Annotated[str, Field(description="Handle (namespace) that owns the campaign.")]
CampaignId = Annotated[str, Field(description="Campaign id, e.g. spring-launch.")]
Version = Annotated[int | None, Field(ge=1, description="Omit for the latest.")]
DateRange = Annotated[
    str | None,
    Field(description="YYYYMMDD,YYYYMMDD or a name such as last_7_days; whole life if omitted."),
]


def _context(tool_ctx: ToolCtx) -> Context:
    request = tool_ctx.request_context.request
    if request is None or CONTEXT_KEY not in request.scope:
        raise ToolError("unauthenticated: This tool is only served over authenticated HTTP.")
    ctx: Context = request.scope[CONTEXT_KEY]
    return ctx


async def _call(tool_ctx: ToolCtx, resolver: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run a resolver as the caller; domain errors become tool errors led by their code."""
    try:
        return await resolver(_context(tool_ctx), *args)
    except DomainError as exc:
        raise ToolError(f"{exc.code}: {exc.message}") from exc
    except ToolError:
        raise
    except Exception as exc:
        log.exception("MCP tool failed", exc_info=exc)
        raise ToolError("internal_error: Unexpected error.") from exc


async def campaign_structure_get(
    handle: Handle, campaign_id: CampaignId, ctx: ToolCtx, version: Version = None
) -> dict[str, Any]:
    """Fetch a campaign's site-structure page (metadata and schema JSON): the latest version,
    or the one asked for. Needs pages.read or pages.write."""
    return site_page_json(await _call(ctx, pages.get_page, handle, campaign_id, version))


async def campaign_structure_upsert(
    handle: Handle,
    campaign_id: CampaignId,
    page: Annotated[
        dict[str, Any],
        Field(description="Page metadata: slug (URL-safe, unique per handle), title, any more."),
    ],
    schema: Annotated[dict[str, Any], Field(description="The page's schema JSON object.")],
    ctx: ToolCtx,
) -> dict[str, Any]:
    """Store page metadata and a schema JSON object (up to 256 KiB) as the page's next
    version. Needs pages.write."""
    body = {"page": page, "schema": schema}
    return site_page_json(await _call(ctx, pages.upsert_page, handle, campaign_id, body))


async def campaign_structure_publish(
    handle: Handle, campaign_id: CampaignId, ctx: ToolCtx, version: Version = None
) -> dict[str, Any]:
    """Publish the latest version (or the one asked for) with access FREE_WITH_LOGIN and set
    the campaign's detailsPageSlug. Needs pages.write."""
    return site_page_json(await _call(ctx, pages.publish_page, handle, campaign_id, version))


async def campaign_list(
    handle: Handle,
    ctx: ToolCtx,
    status: CampaignStatus | None = None,
    limit: Annotated[int | None, Field(ge=1, le=100)] = None,
    cursor: Annotated[str | None, Field(description="nextCursor of a page.")] = None,
) -> dict[str, Any]:
    """List a handle's campaigns, newest first, a page at a time. Needs campaigns.read."""
    page = await _call(ctx, campaigns.list_campaigns, handle, status, limit, cursor)
    return page_json(page, "campaigns", campaign_json)


async def campaign_health(handle: Handle, campaign_id: CampaignId, ctx: ToolCtx) -> dict[str, Any]:
    """Readiness checks of a campaign (tracking preset, conversion event type, primary link
    and more), each PASS, WARN or FAIL. Needs campaigns.read."""
    return health_json(await _call(ctx, health.campaign_health, handle, campaign_id))


async def funnel_query(
    handle: Handle,
    ctx: ToolCtx,
    campaign_id: Annotated[
        str | None, Field(description="One campaign; all campaigns if omitted.")
    ] = None,
    date_range: DateRange = None,
    include_test: Annotated[bool, Field(description="Count test conversions too.")] = False,
) -> dict[str, Any]:
    """The funnel of one campaign, or the aggregate and per-campaign funnels of the handle;
    the same JSON as GET /v2/handles/{handle}/analytics?funnel=true. Needs analytics.read."""
    return analytics_json(
        await _call(ctx, funnels.analytics, handle, campaign_id, date_range, include_test)
    )


TOOLS: list[Callable[..., Awaitable[dict[str, Any]]]] = [
    campaign_structure_get,
    campaign_structure_upsert,
    campaign_structure_publish,
    campaign_list,
    campaign_health,
    funnel_query,
]


@functools.cache
def _tools() -> list[Tool]:
    # Built once per process: deriving argument models from signatures is the slow part of
    # setting up the server, and the tools hold no per-app state.
    return [Tool.from_function(fn) for fn in TOOLS]


@operation(
    method="POST",
    summary="Model Context Protocol: streamable HTTP, stateless, JSON responses",
    tags=["mcp"],
    body={"type": "object", "description": "An MCP JSON-RPC 2.0 message."},
    responses={
        200: Reply("The JSON-RPC response.", {"type": "object"}),
        202: Reply("Accepted: the message was a notification."),
    },
    security=["pat", "jwt"],
    errors=[401],
    description="Tools: " + ", ".join(fn.__name__ for fn in TOOLS) + "; each needs what "
    "its REST route needs (pages.read, pages.write, campaigns.read or analytics.read).",
)
class MCPEndpoint:
    """ASGI app for ``/mcp``: resolves the caller from ``Authorization: Bearer`` (401 JSON
    without a valid token), then hands the request to the SDK's session manager."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.server = FastMCP(
            "funnelgate",
            instructions="Campaign site-structure pages, campaigns, health and funnels.",
            tools=_tools(),
            stateless_http=True,
            json_response=True,
            # FastMCP calls logging.basicConfig with this level: keep the root at the default.
            log_level="WARNING",
            # Every request must carry a bearer token, which a DNS-rebinding page cannot
            # supply; the gateway answers under whatever host name it is deployed.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        self.server.streamable_http_app()  # creates the session manager we dispatch to

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the SDK's session manager (its task group) while the app lives.

        It runs in a task of its own: a task group must be left by the task that entered it,
        and a lifespan may be entered and left by different tasks (test fixtures do that).
        """
        started, stop = asyncio.Event(), asyncio.Event()

        async def run() -> None:
            async with self.server.session_manager.run():
                started.set()
                await stop.wait()

        task = asyncio.create_task(run(), name="mcp-session-manager")
        ready = asyncio.create_task(started.wait())
        await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if task.done():
            task.result()  # failed while starting: raise its error
        try:
            yield
        finally:
            stop.set()
            await task

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = self.services.context()
        try:
            ctx.principal = await authenticate(ctx, Headers(scope=scope).get("authorization"))
            if ctx.principal is None:
                raise Unauthenticated()
        except Unauthenticated as exc:
            response = render_error(
                "api", 401, exc.code, exc.message, {"WWW-Authenticate": "Bearer"}
            )
            await response(scope, receive, send)
            return
        if scope["method"] == "POST" and "application/json" in Headers(scope=scope).get(
            "content-type", ""
        ):
            body = await _read_body(receive)
            refusal = _refusal(body)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
            receive = _replay(body, receive)
        await self.server.session_manager.handle_request({**scope, CONTEXT_KEY: ctx}, receive, send)


# The arguments of tools/call sit two levels below ``params``; a page's schema JSON inside
# them may nest as deep as the pages routes accept.
_PARAMS_DEPTH = MAX_JSON_DEPTH + 2


def _refusal(body: bytes) -> JSONResponse | None:
    """A 400 JSON-RPC error for a message the SDK would crash on or a resolver must not see
    (not UTF-8 or JSON, nested too deep, text the databases cannot store), else None."""
    try:
        message = orjson.loads(body)  # strict UTF-8; no lone surrogates; depth-limited
    except orjson.JSONDecodeError as exc:
        return _error(None, PARSE_ERROR, f"Parse error: {exc}")
    if not isinstance(message, dict):
        problem = json_problem(message, max_depth=_PARAMS_DEPTH + 1)
        return None if problem is None else _error(None, INVALID_REQUEST, problem)
    envelope = {key: value for key, value in message.items() if key != "params"}
    problem = json_problem(envelope, max_depth=2)
    if problem is not None:
        return _error(None, INVALID_REQUEST, f"Invalid request: {problem}")
    problem = json_problem(message.get("params"), max_depth=_PARAMS_DEPTH)
    if problem is not None:
        return _error(message.get("id"), INVALID_PARAMS, f"Invalid params: params.{problem}")
    return None


def _error(message_id: object, code: int, text: str) -> JSONResponse:
    # The SDK's own id for an error it cannot tie to a request.
    if not isinstance(message_id, str | int) or isinstance(message_id, bool):
        message_id = "server-error"
    error = {"jsonrpc": "2.0", "id": message_id, "error": {"code": code, "message": text}}
    return JSONResponse(error, status_code=400)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the SDK: the body read already, then the client's own messages."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
