"""REST management of personal access tokens (ADMIN)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.openapi import operation
from app.rest import shapes
from app.rest.common import ORJSONResponse, json_body, request_context
from app.rest.views import token_json
from resolvers import tokens
from resolvers.principal import ADMIN
from resolvers.tokens import TokenCreate


@operation(
    summary="Create a personal access token",
    tags=["tokens"],
    body=TokenCreate,
    responses={201: shapes.AccessTokenCreated},
    access=ADMIN,
    description="The token secret is in this response only; the gateway keeps a hash.",
)
async def create_token(request: Request) -> Response:
    ctx = await request_context(request)
    issued = await tokens.create_pat(ctx, request.path_params["handle"], await json_body(request))
    return ORJSONResponse({"token": issued.token, **token_json(issued.row)}, status_code=201)


@operation(
    summary="List personal access tokens",
    tags=["tokens"],
    responses={200: shapes.AccessTokenList},
    access=ADMIN,
)
async def list_tokens(request: Request) -> Response:
    ctx = await request_context(request)
    rows = await tokens.list_pats(ctx, request.path_params["handle"])
    return ORJSONResponse({"tokens": [token_json(r) for r in rows]})


@operation(
    summary="Revoke a personal access token",
    tags=["tokens"],
    responses={204: None},
    access=ADMIN,
)
async def revoke_token(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    await tokens.revoke_pat(ctx, p["handle"], p["tokenId"])
    return Response(status_code=204)


ROUTES = [
    Route("/v2/handles/{handle}/tokens", create_token, methods=["POST"]),
    Route("/v2/handles/{handle}/tokens", list_tokens, methods=["GET"]),
    Route("/v2/handles/{handle}/tokens/{tokenId}", revoke_token, methods=["DELETE"]),
]
