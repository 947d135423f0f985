"""Personal access token management (ADMIN) over REST and GraphQL: shown once, listed
without the secret, revoked or expired tokens refused at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from db.tables import AccessToken
from resolvers.domain import utcnow
from tests.conftest import bearer, gql


def tokens_url(handle: str, *rest: str) -> str:
    return "/".join([f"/v2/handles/{handle}/tokens", *rest])


async def create(client, tenant, **body) -> dict:
    body = {"scopes": ["campaigns.read"], **body}
    response = await client.post(tokens_url(tenant.handle), json=body, headers=tenant.auth("ADMIN"))
    assert response.status_code == 201, response.text
    return response.json()


async def listed(client, tenant) -> list[dict]:
    response = await client.get(tokens_url(tenant.handle), headers=tenant.auth("ADMIN"))
    assert response.status_code == 200, response.text
    return response.json()["tokens"]


async def can_read_campaigns(client, tenant, token: str) -> int:
    response = await client.get(f"/v2/handles/{tenant.handle}/campaigns", headers=bearer(token))
    return response.status_code


async def test_a_token_is_shown_once_and_listed_without_its_secret(client, tenant):
    created = await create(
        client, tenant, scopes=["campaigns.read", "analytics.read"], name="ci", expiresIn=3600
    )
    token = created["token"]
    assert token.startswith("fgp_")
    assert created["prefix"] == token[:12]
    assert created["scopes"] == ["analytics.read", "campaigns.read"]
    assert created["name"] == "ci"

    response = await client.get(tokens_url(tenant.handle), headers=tenant.auth("ADMIN"))
    assert token not in response.text
    (row,) = response.json()["tokens"]
    assert row["id"] == created["id"]
    assert row["prefix"] == token[:12]
    assert row["scopes"] == ["analytics.read", "campaigns.read"]
    assert row["createdAt"] and row["expiresAt"]
    assert row["lastUsedAt"] is None and row["revokedAt"] is None
    assert "token" not in row

    assert await can_read_campaigns(client, tenant, token) == 200
    (row,) = await listed(client, tenant)
    assert row["lastUsedAt"] is not None


async def test_tokens_are_listed_newest_first_per_handle(client, tenant, make_pat):
    first = await create(client, tenant, name="first")
    second = await create(client, tenant, name="second")
    await make_pat(tenant.other_handle, "campaigns.read")  # another account's token
    assert [t["id"] for t in await listed(client, tenant)] == [second["id"], first["id"]]


async def test_a_revoked_token_is_refused_at_once(client, tenant):
    created = await create(client, tenant)
    token = created["token"]
    assert await can_read_campaigns(client, tenant, token) == 200

    response = await client.delete(
        tokens_url(tenant.handle, created["id"]), headers=tenant.auth("ADMIN")
    )
    assert response.status_code == 204
    response = await client.get(f"/v2/handles/{tenant.handle}/campaigns", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"
    (row,) = await listed(client, tenant)
    assert row["revokedAt"] is not None
    again = await client.delete(
        tokens_url(tenant.handle, created["id"]), headers=tenant.auth("ADMIN")
    )
    assert again.status_code == 204  # revoking twice is harmless


async def test_an_expired_token_is_refused(client, ctx, tenant):
    created = await create(client, tenant, expiresIn=3600)
    assert await can_read_campaigns(client, tenant, created["token"]) == 200
    async with ctx.sessions() as session:  # an hour passes
        await session.execute(
            update(AccessToken)
            .where(AccessToken.id == created["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    response = await client.get(
        f"/v2/handles/{tenant.handle}/campaigns", headers=bearer(created["token"])
    )
    assert response.status_code == 401
    assert response.json()["message"] == "Token expired"


async def test_revoking_an_unknown_or_foreign_token_is_404(client, tenant, make_pat, ctx):
    response = await client.delete(
        tokens_url(tenant.handle, "tok_nope"), headers=tenant.auth("ADMIN")
    )
    assert response.status_code == 404
    assert response.json()["error"] == "token_not_found"
    foreign = await make_pat(tenant.other_handle, "campaigns.read")
    async with ctx.sessions() as session:
        foreign_id = (
            await session.execute(
                select(AccessToken.id).where(AccessToken.handle == tenant.other_handle)
            )
        ).scalar_one()
    response = await client.delete(
        tokens_url(tenant.handle, foreign_id), headers=tenant.auth("ADMIN")
    )
    assert response.status_code == 404
    assert await can_read_campaigns_on(client, tenant.other_handle, foreign) == 200


async def can_read_campaigns_on(client, handle: str, token: str) -> int:
    response = await client.get(f"/v2/handles/{handle}/campaigns", headers=bearer(token))
    return response.status_code


@pytest.mark.parametrize(
    "body",
    [
        {"scopes": []},
        {"scopes": ["root"]},
        {"scopes": ["campaigns.read"], "expiresIn": 0},
        {"scopes": ["campaigns.read"], "name": "x" * 201},
        {"scopes": ["campaigns.read"], "secret": "mine"},
    ],
)
async def test_invalid_token_requests_are_400(client, tenant, body):
    response = await client.post(tokens_url(tenant.handle), json=body, headers=tenant.auth("ADMIN"))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"


async def test_token_management_needs_admin_on_the_handle(client, tenant, make_pat):
    created = await create(client, tenant)
    pat = await make_pat(tenant.handle, "campaigns.write", "analytics.read", "pages.write")
    denied = [
        tenant.auth("CREATOR"),
        tenant.auth("VIEWER"),
        tenant.auth("ADMIN", handle=tenant.other_handle),
        bearer(pat),
    ]
    calls = [
        ("POST", tokens_url(tenant.handle), {"scopes": ["campaigns.read"]}),
        ("GET", tokens_url(tenant.handle), None),
        ("DELETE", tokens_url(tenant.handle, created["id"]), None),
    ]
    for method, url, body in calls:
        for headers in denied:
            response = await client.request(method, url, json=body, headers=headers)
            assert response.status_code == 403, (method, url, headers, response.text)
        assert (await client.request(method, url, json=body)).status_code == 401
    assert await can_read_campaigns(client, tenant, created["token"]) == 200  # not revoked


# --- GraphQL ---------------------------------------------------------------------------------

CREATE = """
mutation($h: String!, $scopes: [String!]!, $name: String, $expiresIn: Int) {
  createAccessToken(handle: $h, scopes: $scopes, name: $name, expiresIn: $expiresIn) {
    token
    accessToken { id name prefix scopes createdAt lastUsedAt expiresAt revokedAt }
  }
}"""
LIST = """
query($h: String!) {
  accessTokens(handle: $h) { id name prefix scopes createdAt lastUsedAt expiresAt revokedAt }
}"""
REVOKE = """
mutation($h: String!, $id: String!) { revokeAccessToken(handle: $h, id: $id) { id revokedAt } }
"""


async def test_graphql_token_lifecycle(client, tenant):
    admin = tenant.auth("ADMIN")
    created = await gql(
        client, CREATE, admin, h=tenant.handle, scopes=["campaigns.read"], name="bot", expiresIn=60
    )
    assert "errors" not in created, created
    payload = created["data"]["createAccessToken"]
    token, meta = payload["token"], payload["accessToken"]
    assert token.startswith("fgp_") and meta["prefix"] == token[:12]
    assert meta["name"] == "bot" and meta["scopes"] == ["campaigns.read"]
    assert meta["expiresAt"] is not None and meta["revokedAt"] is None

    assert await can_read_campaigns(client, tenant, token) == 200
    tokens = (await gql(client, LIST, admin, h=tenant.handle))["data"]["accessTokens"]
    assert [t["id"] for t in tokens] == [meta["id"]]
    assert tokens[0]["lastUsedAt"] is not None
    assert token not in str(tokens)

    revoked = await gql(client, REVOKE, admin, h=tenant.handle, id=meta["id"])
    assert revoked["data"]["revokeAccessToken"]["revokedAt"] is not None
    assert await can_read_campaigns(client, tenant, token) == 401


async def test_graphql_tokens_need_admin_and_valid_input(client, tenant):
    creator = await gql(client, CREATE, tenant.auth("CREATOR"), h=tenant.handle, scopes=["x"])
    assert creator["errors"][0]["extensions"]["code"] == "forbidden"
    listing = await gql(client, LIST, tenant.auth("CREATOR"), h=tenant.handle)
    assert listing["errors"][0]["extensions"]["code"] == "forbidden"
    admin = tenant.auth("ADMIN")
    for variables in (
        {"scopes": ["root"]},
        {"scopes": ["campaigns.read"], "expiresIn": -5},
        {"scopes": ["campaigns.read"], "expiresIn": 11 * 365 * 86400},
        {"scopes": ["campaigns.read"], "name": "n" * 201},
    ):
        bad = await gql(client, CREATE, admin, h=tenant.handle, **variables)
        assert bad["errors"][0]["extensions"]["code"] == "invalid_request", variables
    missing = await gql(client, REVOKE, admin, h=tenant.handle, id="tok_nope")
    assert missing["errors"][0]["extensions"]["code"] == "token_not_found"
    fields = await gql(client, '{ __type(name: "AccessToken") { fields { name } } }')
    names = {f["name"] for f in fields["data"]["__type"]["fields"]}
    assert names == {
        "id",
        "name",
        "prefix",
        "scopes",
        "createdAt",
        "lastUsedAt",
        "expiresAt",
        "revokedAt",
    }
