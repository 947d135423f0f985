"""REST management of personal access tokens (ADMIN)."""

from __future__ import annotations

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.openapi import operation
from app.rest import shapes
from app.rest.common import ORJSONResponse, json_body, request_context
from app.rest.views import token_json
from resolvers import tokens
from resolvers.inputs import Trimmed, _Input, parse
from resolvers.principal import ADMIN


class TokenCreate(_Input):
    scopes: list[str] = Field(min_length=1, max_length=16)
    name: Trimmed | None = Field(default=None, max_length=200)
    expiresIn: int | None = Field(default=None, gt=0, le=10 * 365 * 86400)


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
    data = parse(TokenCreate, await json_body(request))
    issued = await tokens.issue_pat(
        ctx, request.path_params["handle"], data.scopes, expires_in=data.expiresIn, name=data.name
    )
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
    await tokens.revoke_pat(ctx, p["handle"], p["token_id"])
    return Response(status_code=204)


ROUTES = [
    Route("/v2/handles/{handle}/tokens", create_token, methods=["POST"]),
    Route("/v2/handles/{handle}/tokens", list_tokens, methods=["GET"]),
    Route("/v2/handles/{handle}/tokens/{token_id}", revoke_token, methods=["DELETE"]),
]
