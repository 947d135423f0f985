"""The GraphQL endpoint: Strawberry's ASGI app with our per-request Context."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError

from app.openapi import Param, Reply, operation
from app.persisted import PersistedQueries, PersistedQueryError, RequestErrorResult
from app.responsecache import CachedResponses, EncodedResponse, ResponseCache
from app.services import Services
from resolvers.auth import authenticate
from resolvers.context import Context
from resolvers.errors import Unauthenticated
from schema import build_schema

try:  # where strawberry's HTTP layer takes its HTTPException from
    from cross_web import HTTPException
except ImportError:  # strawberry before cross-web
    from strawberry.http.exceptions import HTTPException  # type: ignore[no-redef]

_GRAPHQL_REQUEST = {
    "type": "object",
    "required": ["query"],
    "properties": {
        "query": {"type": "string"},
        "operationName": {"type": ["string", "null"]},
        "variables": {"type": ["object", "null"]},
        "extensions": {"type": ["object", "null"]},
    },
}
_GRAPHQL_RESULT = Reply(
    "A GraphQL result; errors carry extensions.code.",
    {
        "type": "object",
        "properties": {
            "data": {"type": ["object", "null"]},
            "errors": {"type": "array", "items": {"type": "object"}},
            "extensions": {"type": "object"},
        },
    },
)
_GRAPHQL_BAD = Reply("Not a GraphQL request.", {"type": "string"}, media_type="text/plain")
_GRAPHQL_DOC = dict(tags=["graphql"], security=["jwt", "pat", "none"])


@operation(
    method="POST",
    summary="Run a GraphQL operation",
    body=_GRAPHQL_REQUEST,
    responses={200: _GRAPHQL_RESULT, 400: _GRAPHQL_BAD},
    **_GRAPHQL_DOC,
)
@operation(
    method="GET",
    summary="Run a GraphQL query (no mutations), or open GraphiQL from a browser",
    query=[
        Param("query", {"type": "string"}),
        Param("operationName", {"type": "string"}),
        Param("variables", {"type": "string"}, "JSON-encoded variables."),
    ],
    responses={
        200: Reply(
            "A GraphQL result, or GraphiQL for a browser.",
            _GRAPHQL_RESULT.schema,
            also={"text/html": {"type": "string"}},
        ),
        400: _GRAPHQL_BAD,
    },
    **_GRAPHQL_DOC,
)
class GraphQLApp(CachedResponses, GraphQL):
    def __init__(self, services: Services) -> None:
        super().__init__(build_schema(services.settings), graphql_ide="graphiql")
        self.services = services
        self.persisted = PersistedQueries.from_settings(services.settings, services.redis)
        self.response_cache = ResponseCache.from_settings(services.settings, services.redis)
        if self.response_cache is not None:
            services.ingest.on_commit.append(self.response_cache.touch)

    def encode_json(self, data: object) -> str | bytes:
        if isinstance(data, EncodedResponse):  # from the response cache's encoding
            return data.body
        try:  # orjson: several times faster than json.dumps on large analytics results
            return orjson.dumps(data).decode()
        except TypeError:  # beyond orjson (integers over 64 bits): the standard encoder
            return super().encode_json(data)

    def parse_json(self, data: str | bytes) -> Any:
        # Strawberry only expects malformed JSON: bytes that are not UTF-8, or a bare string,
        # number or null it then reads fields off, would crash it into a 500, not a 400.
        try:
            value = super().parse_json(data)
        except UnicodeDecodeError as exc:
            raise HTTPException(400, "The request body is not UTF-8.") from exc
        if not isinstance(value, dict | list):
            raise HTTPException(400, "The GraphQL request must be a JSON object.")
        return value

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET with only a persisted-query hash has no ``query`` either, but wants a result.
        return "extensions" not in request.query_params and super().should_render_graphql_ide(
            request
        )

    async def execute_operation(
        self,
        request: Request,
        request_adapter: Any,
        request_data: Any,
        context: Context,
        root_value: Any,
        sub_response: Any,
    ) -> Any:
        """Fills the query in from a persisted-query hash before Strawberry runs it."""
        if isinstance(request_data, list):  # batching is off: Strawberry refuses lists earlier
            raise HTTPException(400, "Batched operations are not supported.")
        try:
            request_data = await self.persisted.resolve(request_data)
        except PersistedQueryError as exc:
            if exc.status != 200:
                sub_response.status_code = exc.status
            return exc.result()
        return await super().execute_operation(
            request, request_adapter, request_data, context, root_value, sub_response
        )

    async def process_result(self, request: Request, result: Any) -> Any:
        if isinstance(result, RequestErrorResult):  # never executed: no ``data`` entry
            return {"errors": [error.formatted for error in result.errors or ()]}
        return await super().process_result(request, result)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        ctx = Context(
            sessions=self.services.sessions, settings=self.services.settings, services=self.services
        )
        header = request.headers.get("authorization")
        try:
            ctx.principal = await authenticate(ctx, header)
        except Unauthenticated:
            # A bad token is treated as no token: every protected field answers
            # with extensions.code = "unauthenticated".
            ctx.principal = None
        return ctx

    async def on_ws_connect(self, context: Context) -> Any:
        """Browsers cannot set headers on a websocket: accept the token in connection_init."""
        params = context.connection_params or {}
        header = params.get("Authorization") or params.get("authorization")
        if not header and params.get("token"):
            header = f"Bearer {params['token']}"
        if header:
            try:
                context.principal = await authenticate(context, str(header))
            except Unauthenticated as exc:
                raise ConnectionRejectionError({"code": "unauthenticated"}) from exc
        return await super().on_ws_connect(context)
