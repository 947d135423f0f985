"""Creating a personal access token is validated in one place (resolvers.tokens.TokenCreate):
REST ``POST /v2/handles/{handle}/tokens``, GraphQL ``createAccessToken`` and the CLI
``funnelgate token pat`` refuse the same input with the same code and message, and store
accepted input the same way. MCP has no tool that creates tokens."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from sqlalchemy import func, select

from db.tables import AccessToken
from resolvers.errors import InvalidInput
from resolvers.tokens import issue_pat
from tests.conftest import JWT_SECRET
from tests.test_cli import _console_script

CREATE = """
mutation($h: String!, $scopes: [String!]!, $name: String, $expiresIn: Int) {
  createAccessToken(handle: $h, scopes: $scopes, name: $name, expiresIn: $expiresIn) {
    token accessToken { id name scopes expiresAt }
  }
}"""
TEN_YEARS = 10 * 365 * 86400

# Refused by the shared check on every door (the REST body's field names).
BAD = [
    pytest.param({"scopes": []}, id="no-scope"),
    pytest.param({"scopes": ["root"]}, id="unknown-scope"),
    pytest.param({"scopes": ["campaigns.read", "Campaigns.Read"]}, id="scope-in-other-case"),
    pytest.param({"scopes": ["campaigns.read"] * 17}, id="more-than-16-scopes"),
    pytest.param({"scopes": ["campaigns.read"], "expiresIn": 0}, id="zero-expiry"),
    pytest.param({"scopes": ["campaigns.read"], "expiresIn": -60}, id="negative-expiry"),
    pytest.param({"scopes": ["campaigns.read"], "expiresIn": TEN_YEARS + 1}, id="over-ten-years"),
    pytest.param({"scopes": ["campaigns.read"], "name": "n" * 201}, id="name-too-long"),
]
# A NUL cannot travel in a command line, so these reach REST, GraphQL and the resolver the
# CLI calls; REST and GraphQL refuse them at their edge, the resolver again on its own.
UNSTORABLE = [
    pytest.param({"scopes": ["campaigns.read"], "name": "a\x00b"}, id="nul-in-name"),
    pytest.param({"scopes": ["campaigns.re\x00ad"]}, id="nul-in-scope"),
]


def tokens_url(handle: str) -> str:
    return f"/v2/handles/{handle}/tokens"


async def rest_create(client, tenant, body: dict[str, Any], role: str = "ADMIN"):
    return await client.post(tokens_url(tenant.handle), json=body, headers=tenant.auth(role))


async def graphql_create(client, tenant, body: dict[str, Any], role: str = "ADMIN") -> dict:
    variables = {"h": tenant.handle, **body}
    response = await client.post(
        "/graphql", json={"query": CREATE, "variables": variables}, headers=tenant.auth(role)
    )
    # A value refused before execution (a NUL) is answered with 400, the rest with 200.
    assert response.status_code in (200, 400), response.text
    return response.json()


def cli_args(handle: str, body: dict[str, Any]) -> list[str]:
    args = ["token", "pat", "--handle", handle]
    for scope in body["scopes"]:
        args += ["--scope", scope]
    if "expiresIn" in body:
        args.append(f"--expires-in={body['expiresIn']}")
    if "name" in body:
        args.append(f"--name={body['name']}")
    return args


async def run_cli(database_url: str, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNNELGATE_")}
    env |= {"FUNNELGATE_DATABASE_URL": database_url, "FUNNELGATE_JWT_SECRET": JWT_SECRET}
    proc = await asyncio.create_subprocess_exec(
        _console_script(),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def token_count(ctx, handle: str) -> int:
    async with ctx.sessions() as session:
        query = select(func.count()).select_from(AccessToken).where(AccessToken.handle == handle)
        return (await session.execute(query)).scalar_one()


@pytest.mark.parametrize("body", BAD)
async def test_rest_graphql_and_the_cli_resolver_refuse_alike(client, tenant, ctx, body):
    response = await rest_create(client, tenant, body)
    assert response.status_code == 400, response.text
    refusal = response.json()
    assert refusal["error"] == "invalid_request"

    graphql = await graphql_create(client, tenant, body)
    assert graphql.get("data") is None, graphql
    error = graphql["errors"][0]
    assert (error["extensions"]["code"], error["message"]) == (
        "invalid_request",
        refusal["message"],
    )

    with pytest.raises(InvalidInput) as raised:  # what `funnelgate token pat` calls
        await issue_pat(
            ctx,
            tenant.handle,
            body["scopes"],
            expires_in=body.get("expiresIn"),
            name=body.get("name"),
            check_access=False,
        )
    assert (raised.value.code, raised.value.message) == ("invalid_request", refusal["message"])
    assert await token_count(ctx, tenant.handle) == 0


async def test_the_cli_refuses_what_rest_refuses(client, tenant, ctx, database_url):
    bodies = [p.values[0] for p in BAD]
    refusals = []
    for body in bodies:
        response = await rest_create(client, tenant, body)
        assert response.status_code == 400, response.text
        refusals.append(response.json())
    results = await asyncio.gather(
        *(run_cli(database_url, *cli_args(tenant.handle, body)) for body in bodies)
    )
    for body, refusal, (code, out, err) in zip(bodies, refusals, results, strict=True):
        assert code == 2, (body, out, err)
        assert out == "", (body, out)
        assert err.strip() == f"error: {refusal['error']}: {refusal['message']}", (body, err)
    assert await token_count(ctx, tenant.handle) == 0


@pytest.mark.parametrize("body", UNSTORABLE)
async def test_unstorable_text_is_refused_by_every_door(client, tenant, ctx, body):
    response = await rest_create(client, tenant, body)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    graphql = await graphql_create(client, tenant, body)
    assert graphql["errors"][0]["extensions"]["code"] == "invalid_request", graphql
    with pytest.raises(InvalidInput) as raised:
        await issue_pat(
            ctx, tenant.handle, body["scopes"], name=body.get("name"), check_access=False
        )
    assert raised.value.code == "invalid_request"
    assert "\x00" not in raised.value.message  # named, never echoed
    assert await token_count(ctx, tenant.handle) == 0


async def test_accepted_input_is_stored_the_same_by_every_door(client, tenant, ctx, database_url):
    body = {"scopes": ["pages.read", "campaigns.read", "pages.read"], "name": "  Deploy bot  "}
    want = ("Deploy bot", ["campaigns.read", "pages.read"])

    response = await rest_create(client, tenant, body)
    assert response.status_code == 201, response.text
    assert (response.json()["name"], response.json()["scopes"]) == want

    graphql = await graphql_create(client, tenant, body)
    assert "errors" not in graphql, graphql
    meta = graphql["data"]["createAccessToken"]["accessToken"]
    assert (meta["name"], meta["scopes"]) == want

    code, out, err = await run_cli(database_url, *cli_args(tenant.handle, body))
    assert code == 0, err
    prefix = out.strip()[:12]
    async with ctx.sessions() as session:
        row = (
            await session.execute(select(AccessToken).where(AccessToken.prefix == prefix))
        ).scalar_one()
    assert (row.name, list(row.scopes)) == want


async def test_without_admin_the_input_is_not_looked_at_on_either_door(client, tenant, ctx):
    for role in ("CREATOR", "VIEWER"):
        for body in ({"scopes": ["root"]}, {"scopes": [], "expiresIn": 0}):
            response = await rest_create(client, tenant, body, role=role)
            assert (response.status_code, response.json()["error"]) == (403, "forbidden"), body
            graphql = await graphql_create(client, tenant, body, role=role)
            assert graphql["errors"][0]["extensions"]["code"] == "forbidden", graphql
    assert await token_count(ctx, tenant.handle) == 0
