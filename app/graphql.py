"""The GraphQL endpoint: Strawberry's ASGI app with our per-request Context."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from app.services import Services
from resolvers.auth import authenticate
from resolvers.context import Context
from resolvers.errors import Unauthenticated
from schema import build_schema


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
