"""Who may call what: every campaign/link route under every kind of credential.

Tokens are built here with pyjwt from the shared test secret (or by hand), never with the
gateway's own minting code, so that a bug there cannot hide itself.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import update

from db.tables import AccessToken
from tests.conftest import JWT_SECRET, bearer, gql
from tests.factories import SPRING, make_campaign_with_link

CAMPAIGN = "seeded-camp"
LINK = "seeded-link"


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str  # relative to /v2/handles/{handle}
    body: dict[str, Any] | None
    write: bool
    ok: int

    def url(self, handle: str) -> str:
        return f"/v2/handles/{handle}{self.path}"


ROUTES = [
    Route(
        "create_campaign",
        "POST",
        "/campaigns",
        {"campaignId": "new-camp", "goalType": "PRODUCT_SALE"},
        True,
        201,
    ),
    Route("list_campaigns", "GET", "/campaigns", None, False, 200),
    Route("get_campaign", "GET", f"/campaigns/{CAMPAIGN}", None, False, 200),
    Route("patch_campaign", "PATCH", f"/campaigns/{CAMPAIGN}", {"status": "ACTIVE"}, True, 200),
    Route("campaign_health", "GET", f"/campaigns/{CAMPAIGN}/health", None, False, 200),
    Route(
        "test_conversion",
        "POST",
        f"/campaigns/{CAMPAIGN}/test-conversion",
        {"eventType": "purchase", "value": 99.99, "currency": "USD", "metadata": {"orderId": "1"}},
        True,
        201,
    ),
    Route("list_links", "GET", "/links", None, False, 200),
    Route(
        "put_link",
        "PUT",
        "/links/new-link",
        {"destinationUrl": "https://shop.example.com/new", "campaignId": CAMPAIGN},
        True,
        201,
    ),
    Route("get_link", "GET", f"/links/{LINK}", None, False, 200),
    Route("delete_link", "DELETE", f"/links/{LINK}", None, True, 204),
]
READS = [r for r in ROUTES if not r.write]


def ids(routes: list[Route]) -> list[str]:
    return [r.name for r in routes]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def claims(handle: str, role: str = "CREATOR", exp_delta: int = 3600) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "auth-tester", "iat": now, "exp": now + exp_delta, "handles": {handle: role}}


def hs256(payload: dict, secret: str = JWT_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(payload, secret, algorithm=algorithm)


async def call(client, route: Route, handle: str, headers: dict[str, str] | None):
    return await client.request(
        route.method, route.url(handle), json=route.body, headers=headers or {}
    )


@pytest.fixture
async def seeded(client, tenant):
    """The tenant with one DRAFT campaign and one link of it."""
    await make_campaign_with_link(
        client, tenant, CAMPAIGN, LINK, destination=SPRING, primarySlug=LINK
    )
    return tenant


async def snapshot(client, tenant) -> dict[str, Any]:
    """Everything the routes above could change, read with a CREATOR token."""
    creator = tenant.auth("CREATOR")
    campaigns = await client.get(f"/v2/handles/{tenant.handle}/campaigns", headers=creator)
    links = await client.get(f"/v2/handles/{tenant.handle}/links", headers=creator)
    health = await client.get(
        f"/v2/handles/{tenant.handle}/campaigns/{CAMPAIGN}/health", headers=creator
    )
    return {"campaigns": campaigns.json(), "links": links.json(), "health": health.json()}


async def expire_token(ctx, token_prefix: str) -> None:
    """Move a PAT's expiry into the past (instead of sleeping out its lifetime)."""
    async with ctx.sessions() as session:
        await session.execute(
            update(AccessToken)
            .where(AccessToken.prefix == token_prefix)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=5))
        )
        await session.commit()


def assert_unauthenticated(response) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["error"] == "unauthenticated"
    assert isinstance(body["message"], str) and body["message"]
    assert set(body) == {"error", "message"}


def assert_forbidden(response) -> None:
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["error"] == "forbidden"
    assert set(body) == {"error", "message"}


# --- REST: authentication -------------------------------------------------------------

WRONG_SECRET = "a-different-secret-that-is-also-long-enough-0123456789"


def unsigned(payload: dict, with_dot: bool = True) -> str:
    """An ``alg: none`` token, built by hand: header.claims. with an empty signature."""
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = b64url(json.dumps(payload).encode())
    return f"{header}.{body}." if with_dot else f"{header}.{body}"


def invalid_credentials(handle: str) -> list[tuple[str, dict[str, str] | None]]:
    """(label, headers) that must all be answered 401 unauthenticated."""
    return [
        ("no header", None),
        ("empty header", {"Authorization": ""}),
        ("scheme only", {"Authorization": "Bearer"}),
        ("basic", {"Authorization": "Basic dXNlcjpwYXNz"}),
        ("basic short", {"Authorization": "Basic x"}),
        ("other scheme", {"Authorization": "Token abc"}),
        ("garbage", {"Authorization": "Bearer garbage"}),
        ("three garbage parts", {"Authorization": "Bearer a.b.c"}),
        ("unknown pat", {"Authorization": "Bearer fgp_doesnotexist"}),
        ("expired jwt", bearer(hs256(claims(handle, "ADMIN", exp_delta=-120)))),
        ("wrong secret", bearer(hs256(claims(handle, "ADMIN"), secret=WRONG_SECRET))),
        ("alg none", bearer(unsigned(claims(handle, "ADMIN")))),
        ("alg none no dot", bearer(unsigned(claims(handle, "ADMIN"), with_dot=False))),
    ]


@pytest.mark.parametrize("route", ROUTES, ids=ids(ROUTES))
async def test_route_refuses_missing_or_invalid_credentials(client, seeded, make_pat, ctx, route):
    expired_pat = await make_pat(seeded.handle, "campaigns.write", expires_in=3600)
    await expire_token(ctx, expired_pat[:12])
    cases = [*invalid_credentials(seeded.handle), ("expired pat", bearer(expired_pat))]
    before = await snapshot(client, seeded)
    for label, headers in cases:
        response = await call(client, route, seeded.handle, headers)
        assert response.status_code == 401, (label, response.text)
        assert_unauthenticated(response)
    assert await snapshot(client, seeded) == before


@pytest.mark.parametrize(
    "bad_claims",
    [
        pytest.param(lambda h: {"sub": "x", "handles": {h: "ADMIN"}}, id="no-exp"),
        pytest.param(
            lambda h: {"exp": int(time.time()) + 600, "handles": {h: "ADMIN"}}, id="no-sub"
        ),
        pytest.param(lambda h: claims(h, "SUPERUSER"), id="unknown-role"),
        pytest.param(lambda h: claims(h) | {"handles": [h]}, id="handles-not-a-map"),
    ],
)
async def test_jwt_with_bad_claims_is_unauthenticated(client, seeded, bad_claims):
    token = hs256(bad_claims(seeded.handle))
    response = await client.get(f"/v2/handles/{seeded.handle}/campaigns", headers=bearer(token))
    assert_unauthenticated(response)


async def test_jwt_with_unpinned_algorithm_is_unauthenticated(client, seeded):
    token = hs256(claims(seeded.handle, "ADMIN"), algorithm="HS384")
    response = await client.get(f"/v2/handles/{seeded.handle}/campaigns", headers=bearer(token))
    assert_unauthenticated(response)


async def test_hand_built_hs256_jwt_with_documented_claims_is_accepted(client, seeded):
    # The operating contract: {"sub": str, "exp": int, "handles": {"acme": "CREATOR"}}.
    token = hs256(
        {"sub": "someone", "exp": int(time.time()) + 60, "handles": {seeded.handle: "CREATOR"}}
    )
    response = await client.get(f"/v2/handles/{seeded.handle}/campaigns", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 1


# --- REST: authorization --------------------------------------------------------------


def pat_allows(write: bool, is_test_conversion: bool, scopes: tuple[str, ...]) -> bool:
    """Scope rules, from the spec: campaigns.read reads, campaigns.write reads and writes;
    a test conversion is also allowed with conversions.write."""
    if "campaigns.write" in scopes:
        return True
    if is_test_conversion and "conversions.write" in scopes:
        return True
    return not write and "campaigns.read" in scopes


SCOPE_SETS = [
    ("campaigns.read",),
    ("campaigns.write",),
    ("campaigns.read", "campaigns.write"),
    ("analytics.read",),
    ("analytics.*", "pages.read", "pages.write"),
    ("conversions.write",),
]


async def forbidden_credentials(
    tenant, make_pat, write: bool, is_test_conversion: bool
) -> list[tuple[str, dict[str, str]]]:
    """(label, headers) of valid tokens that must get 403 on an operation."""
    cases = [
        ("jwt of other handle", bearer(hs256(claims(tenant.other_handle, "ADMIN")))),
        (
            "pat of other handle",
            bearer(await make_pat(tenant.other_handle, "campaigns.read", "campaigns.write")),
        ),
    ]
    if write:
        cases.append(("viewer", bearer(hs256(claims(tenant.handle, "VIEWER")))))
    for scopes in SCOPE_SETS:
        if not pat_allows(write, is_test_conversion, scopes):
            cases.append(
                (f"pat {'+'.join(scopes)}", bearer(await make_pat(tenant.handle, *scopes)))
            )
    return cases


@pytest.mark.parametrize("route", ROUTES, ids=ids(ROUTES))
async def test_route_forbids_tokens_without_access_and_leaks_nothing(
    client, seeded, make_pat, route
):
    cases = await forbidden_credentials(
        seeded, make_pat, route.write, route.name == "test_conversion"
    )
    before = await snapshot(client, seeded)
    for label, headers in cases:
        response = await call(client, route, seeded.handle, headers)
        assert response.status_code == 403, (label, response.text)
        assert_forbidden(response)
        assert CAMPAIGN not in response.text, label
        assert "shop.example.com" not in response.text, label
    assert await snapshot(client, seeded) == before


async def call_in_turn(client, tenant, routes: list[Route], headers: dict[str, str]) -> None:
    """Call each route once, in order (the list is ordered so that every call can succeed)."""
    for route in routes:
        response = await call(client, route, tenant.handle, headers)
        assert response.status_code == route.ok, (route.name, response.text)


async def test_viewer_may_call_every_read_route(client, seeded):
    await call_in_turn(client, seeded, READS, bearer(hs256(claims(seeded.handle, "VIEWER"))))


@pytest.mark.parametrize("role", ["CREATOR", "ADMIN"])
async def test_creator_and_above_may_call_every_route(client, seeded, role):
    await call_in_turn(client, seeded, ROUTES, bearer(hs256(claims(seeded.handle, role))))


async def test_pat_with_campaigns_read_may_call_every_read_route(client, seeded, make_pat):
    token = await make_pat(seeded.handle, "campaigns.read")
    assert token.startswith("fgp_")
    await call_in_turn(client, seeded, READS, bearer(token))


async def test_pat_with_campaigns_write_may_call_every_route(client, seeded, make_pat):
    token = await make_pat(seeded.handle, "campaigns.write")
    await call_in_turn(client, seeded, ROUTES, bearer(token))


async def test_pat_with_conversions_write_may_post_a_test_conversion(client, seeded, make_pat):
    token = await make_pat(seeded.handle, "conversions.write")
    route = next(r for r in ROUTES if r.name == "test_conversion")
    await call_in_turn(client, seeded, [route], bearer(token))


async def test_role_names_in_claims_are_case_insensitive(client, seeded):
    token = hs256(claims(seeded.handle, "creator"))
    response = await client.post(
        f"/v2/handles/{seeded.handle}/campaigns",
        json={"goalType": "NEWSLETTER"},
        headers=bearer(token),
    )
    assert response.status_code == 201, response.text


async def test_jwt_naming_two_handles_reaches_both_with_its_roles(client, seeded):
    token = hs256(
        claims(seeded.handle) | {"handles": {seeded.handle: "VIEWER", seeded.other_handle: "ADMIN"}}
    )
    mine = await client.get(f"/v2/handles/{seeded.handle}/campaigns", headers=bearer(token))
    theirs = await client.get(f"/v2/handles/{seeded.other_handle}/campaigns", headers=bearer(token))
    assert mine.status_code == theirs.status_code == 200
    write = await client.post(
        f"/v2/handles/{seeded.handle}/campaigns",
        json={"goalType": "NEWSLETTER"},
        headers=bearer(token),
    )
    assert_forbidden(write)


async def test_pat_stops_working_once_its_lifetime_passes(client, seeded, make_pat):
    token = await make_pat(seeded.handle, "campaigns.read", expires_in=1)
    url = f"/v2/handles/{seeded.handle}/campaigns"
    assert (await client.get(url, headers=bearer(token))).status_code == 200
    await asyncio.sleep(1.2)
    assert_unauthenticated(await client.get(url, headers=bearer(token)))


async def test_revoked_pat_is_unauthenticated(client, seeded):
    admin = seeded.auth("ADMIN")
    created = await client.post(
        f"/v2/handles/{seeded.handle}/tokens", json={"scopes": ["campaigns.read"]}, headers=admin
    )
    assert created.status_code == 201, created.text
    token, token_id = created.json()["token"], created.json()["id"]
    url = f"/v2/handles/{seeded.handle}/campaigns"
    assert (await client.get(url, headers=bearer(token))).status_code == 200
    revoked = await client.delete(f"/v2/handles/{seeded.handle}/tokens/{token_id}", headers=admin)
    assert revoked.status_code == 204
    assert_unauthenticated(await client.get(url, headers=bearer(token)))


async def test_tampered_pat_is_unauthenticated(client, seeded, make_pat):
    token = await make_pat(seeded.handle, "campaigns.read")
    tampered = token[:-1] + ("a" if token[-1] != "a" else "b")
    response = await client.get(f"/v2/handles/{seeded.handle}/campaigns", headers=bearer(tampered))
    assert_unauthenticated(response)


# --- GraphQL --------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    name: str
    query: str
    write: bool


GQL_FIELDS = [
    Field(
        "campaigns",
        "query($h: String!) { campaigns(handle: $h) { totalCount edges { node { campaignId } } } }",
        False,
    ),
    Field(
        "campaign",
        'query($h: String!) { campaign(handle: $h, campaignId: "seeded-camp") { campaignId } }',
        False,
    ),
    Field(
        "campaignHealth",
        'query($h: String!) { campaignHealth(handle: $h, campaignId: "seeded-camp") '
        "{ readiness } }",
        False,
    ),
    Field(
        "links",
        "query($h: String!) { links(handle: $h) { totalCount edges { node { slug } } } }",
        False,
    ),
    Field(
        "link",
        'query($h: String!) { link(handle: $h, slug: "seeded-link") { destinationUrl } }',
        False,
    ),
    Field(
        "createCampaign",
        "mutation($h: String!) { createCampaign(handle: $h, "
        'input: {goalType: PRODUCT_SALE, campaignId: "gql-new"}) { campaign { campaignId } } }',
        True,
    ),
    Field(
        "setCampaignStatus",
        'mutation($h: String!) { setCampaignStatus(handle: $h, campaignId: "seeded-camp", '
        "status: ACTIVE) { status } }",
        True,
    ),
    Field(
        "upsertLink",
        'mutation($h: String!) { upsertLink(handle: $h, slug: "gql-link", '
        'input: {destinationUrl: "https://example.com/x"}) { slug } }',
        True,
    ),
    Field(
        "deleteLink",
        'mutation($h: String!) { deleteLink(handle: $h, slug: "seeded-link") }',
        True,
    ),
    Field(
        "testConversion",
        'mutation($h: String!) { testConversion(handle: $h, campaignId: "seeded-camp") '
        "{ status } }",
        True,
    ),
]
GQL_IDS = [f.name for f in GQL_FIELDS]


async def gql_call(client, field: Field, handle: str, headers: dict[str, str] | None):
    return await gql(client, field.query, headers, h=handle)


def gql_code(body: dict[str, Any]) -> str | None:
    if not body.get("errors"):
        return None
    return body["errors"][0].get("extensions", {}).get("code")


@pytest.mark.parametrize("field", GQL_FIELDS, ids=GQL_IDS)
async def test_graphql_field_refuses_missing_or_invalid_credentials(
    client, seeded, make_pat, ctx, field
):
    expired_pat = await make_pat(seeded.handle, "campaigns.write", expires_in=3600)
    await expire_token(ctx, expired_pat[:12])
    cases = [*invalid_credentials(seeded.handle), ("expired pat", bearer(expired_pat))]
    before = await snapshot(client, seeded)
    for label, headers in cases:
        body = await gql_call(client, field, seeded.handle, headers)
        assert body["data"] is None, label
        assert gql_code(body) == "unauthenticated", (label, body)
    assert await snapshot(client, seeded) == before


@pytest.mark.parametrize("field", GQL_FIELDS, ids=GQL_IDS)
async def test_graphql_field_forbids_tokens_without_access(client, seeded, make_pat, field):
    cases = await forbidden_credentials(
        seeded, make_pat, field.write, field.name == "testConversion"
    )
    before = await snapshot(client, seeded)
    for label, headers in cases:
        body = await gql_call(client, field, seeded.handle, headers)
        assert body["data"] is None, label
        assert gql_code(body) == "forbidden", (label, body)
        assert "shop.example.com" not in json.dumps(body), label
    assert await snapshot(client, seeded) == before


async def gql_in_turn(client, tenant, fields: list[Field], headers: dict[str, str]) -> None:
    for field in fields:
        body = await gql_call(client, field, tenant.handle, headers)
        assert "errors" not in body, (field.name, body)
        assert body["data"][field.name] is not None, field.name


GQL_READS = [f for f in GQL_FIELDS if not f.write]


async def test_graphql_viewer_may_use_every_read_field(client, seeded):
    await gql_in_turn(client, seeded, GQL_READS, bearer(hs256(claims(seeded.handle, "VIEWER"))))


@pytest.mark.parametrize("role", ["CREATOR", "ADMIN"])
async def test_graphql_creator_and_above_may_use_every_field(client, seeded, role):
    await gql_in_turn(client, seeded, GQL_FIELDS, bearer(hs256(claims(seeded.handle, role))))


async def test_graphql_pat_with_campaigns_read_may_use_every_read_field(client, seeded, make_pat):
    token = await make_pat(seeded.handle, "campaigns.read")
    await gql_in_turn(client, seeded, GQL_READS, bearer(token))


async def test_graphql_pat_with_campaigns_write_may_use_every_field(client, seeded, make_pat):
    token = await make_pat(seeded.handle, "campaigns.write")
    await gql_in_turn(client, seeded, GQL_FIELDS, bearer(token))


async def test_graphql_pat_with_conversions_write_may_test_a_conversion(client, seeded, make_pat):
    token = await make_pat(seeded.handle, "conversions.write")
    field = next(f for f in GQL_FIELDS if f.name == "testConversion")
    await gql_in_turn(client, seeded, [field], bearer(token))
