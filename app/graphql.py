"""The GraphQL endpoint: Strawberry's ASGI app with our per-request Context."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from app.openapi import Param, Reply, operation
from app.services import Services
from resolvers.auth import authenticate
from resolvers.context import Context
from resolvers.errors import Unauthenticated
from schema import build_schema

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
class GraphQLApp(GraphQL):
    def __init__(self, services: Services) -> None:
        super().__init__(build_schema(services.settings), graphql_ide="graphiql")
        self.services = services

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
