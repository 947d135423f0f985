"""The GraphQL endpoint: Strawberry's ASGI app with our per-request Context."""

from __future__ import annotations

import json
from typing import Any

import orjson
from graphql import OperationType
from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError

from app.errors import render_error
from app.openapi import Param, Reply, operation
from app.persisted import PersistedQueries, RequestError, RequestErrorResult
from app.runtime.responsecache import (
    CachedResponses,
    EncodedResponse,
    ResponseCache,
    operation_type,
)
from app.runtime.services import Services
from resolvers.auth import authenticate
from resolvers.context import Context
from resolvers.errors import InvalidInput, Unauthenticated
from resolvers.storable import unstorable_reason
from schema import build_schema
from schema.engine.storable import request_problem

try:  # where strawberry's HTTP layer takes its HTTPException from
    from cross_web import HTTPException
except ImportError:  # strawberry before cross-web (the pinned one has it no longer)
    from strawberry.http.exceptions import HTTPException  # type: ignore[attr-defined,no-redef]

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
_GRAPHQL_BAD = Reply(
    "Not a GraphQL request (malformed JSON, no query, a subscription over HTTP, hostile "
    "input): never executed, so there is no data entry; errors carry extensions.code.",
    {
        "type": "object",
        "required": ["errors"],
        "properties": {"errors": {"type": "array", "items": {"type": "object"}}},
    },
)
_GRAPHQL_TAGS = ("graphql",)
_GRAPHQL_SECURITY = ("jwt", "pat", "none")


@operation(
    method="POST",
    summary="Run a GraphQL operation",
    body=_GRAPHQL_REQUEST,
    responses={200: _GRAPHQL_RESULT, 400: _GRAPHQL_BAD},
    tags=_GRAPHQL_TAGS,
    security=_GRAPHQL_SECURITY,
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
    tags=_GRAPHQL_TAGS,
    security=_GRAPHQL_SECURITY,
)
class GraphQLApp(CachedResponses, GraphQL[Context, None]):
    def __init__(self, services: Services) -> None:
        super().__init__(build_schema(services.settings), graphql_ide="graphiql")
        self.services = services
        self.persisted = PersistedQueries.from_settings(services.settings, services.redis)
        self.response_cache = ResponseCache.from_settings(services.settings, services.redis)
        if self.response_cache is not None:
            services.change_hub.listen(self.response_cache.changed)

    async def run(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        """Strawberry answers a request it cannot read (not JSON, no query, a wrong method)
        in plain text; here it gets the GraphQL error shape with a code, like every other
        refusal of this endpoint."""
        try:
            return await super().run(request, *args, **kwargs)
        except HTTPException as exc:
            if isinstance(request, WebSocket):
                raise
            code = _HTTP_CODES.get(exc.status_code, InvalidInput.code)
            headers = {"Allow": "GET, POST"} if exc.status_code == 405 else None
            return render_error("graphql", exc.status_code, code, exc.reason, headers)

    def encode_json(self, data: object) -> str | bytes:
        if isinstance(data, EncodedResponse):  # from the response cache's encoding
            return data.body
        try:  # orjson: several times faster than json.dumps on large analytics results
            return orjson.dumps(data).decode()
        except TypeError:  # beyond orjson (integers over 64 bits): the standard encoder
            return super().encode_json(data)

    def decode_json(self, data: str | bytes) -> object:
        """HTTP bodies, GET parameters and websocket messages. orjson first; the standard
        decoder for what only it accepts (an escaped lone surrogate, refused later with a
        code); JSON nested past either decoder's depth is malformed, not a RecursionError."""
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
        try:
            return json.loads(data)
        except RecursionError as exc:
            raise json.JSONDecodeError("nested too deeply", "", 0) from exc

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
        """Refuses hostile input, fills the query in from a persisted-query hash and refuses
        subscriptions (served on the websocket only) before Strawberry runs anything."""
        if isinstance(request_data, list):  # batching is off: Strawberry refuses lists earlier
            raise HTTPException(400, "Batched operations are not supported.")
        try:
            _check_request(request_data)
            request_data = await self.persisted.resolve(request_data)
            if (
                request_data.query is not None
                and operation_type(request_data.query, request_data.operation_name)
                is OperationType.SUBSCRIPTION
            ):
                raise RequestError(
                    "Subscriptions are served over the websocket (graphql-transport-ws) only.",
                    InvalidInput.code,
                    400,
                )
        except RequestError as exc:
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
        ctx = self.services.context(long_lived=isinstance(request, WebSocket))
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


_HTTP_CODES = {401: "unauthenticated", 404: "not_found", 405: "method_not_allowed"}


def _check_request(data: Any) -> None:
    """RequestError (400) for a request no resolver, cache or hash may see: query text or
    operation name the databases cannot store, variables or extensions too deep or holding
    such text."""
    name = data.operation_name
    if name is not None and not isinstance(name, str):
        raise RequestError("operationName must be a string.", InvalidInput.code, 400)
    for field, text in (("query", data.query), ("operationName", name)):
        reason = None if text is None else unstorable_reason(text)
        if reason is not None:
            raise RequestError(f"{field}: {reason}", InvalidInput.code, 400)
    problem = request_problem(data.variables, data.extensions)
    if problem is not None:
        raise RequestError(problem, InvalidInput.code, 400)
