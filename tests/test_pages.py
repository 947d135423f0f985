"""Campaign site-structure pages over REST (JWT and PAT routes) and GraphQL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.settings import Settings
from db.tables import SitePage, SitePageVersion
from resolvers import pages
from resolvers.auth import authenticate
from resolvers.context import Context
from resolvers.errors import Conflict, NotFound
from tests.conftest import Tenant, gql
from tests.factories import make_campaign

CAMPAIGN = "spring-launch"


def page_url(handle: str, campaign_id: str = CAMPAIGN, public: bool = False) -> str:
    prefix = "/v2/public/handles" if public else "/v2/handles"
    return f"{prefix}/{handle}/site-structure/campaigns/{campaign_id}"


def body(slug: str = "spring", title: str = "Spring sale", **schema: Any) -> dict[str, Any]:
    return {
        "page": {"slug": slug, "title": title, "hero": {"image": "spring.png"}},
        "schema": schema or {"sections": [{"type": "hero"}, {"type": "pricing"}]},
    }


def stored_files(settings: Settings) -> list[str]:
    root = Path(settings.storage_url)
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def signed_in(ctx: Context, tenant: Tenant, role: str = "CREATOR") -> Context:
    ctx.principal = await authenticate(ctx, f"Bearer {tenant.jwt(role)}")
    return ctx


# --- versions and object keys ----------------------------------------------------------------


async def test_each_put_stores_a_new_version_at_its_object_key(client, tenant, settings):
    await make_campaign(client, tenant)
    url, auth = page_url(tenant.handle), tenant.auth()

    first = await client.put(url, json=body(sections=[1]), headers=auth)
    assert first.status_code == 201, first.text
    second = await client.put(url, json=body(title="Spring sale, part 2", v=2), headers=auth)
    assert second.status_code == 200, second.text

    key = f"site-structure/{tenant.handle}/campaigns/{CAMPAIGN}"
    one, two = first.json(), second.json()
    assert (one["version"], one["objectKey"]) == (1, f"{key}/v1.json")
    assert (two["version"], two["objectKey"]) == (2, f"{key}/v2.json")
    assert two["page"] == {
        "slug": "spring",
        "title": "Spring sale, part 2",
        "hero": {"image": "spring.png"},
    }
    assert two["schema"] == {"v": 2}
    assert (two["status"], two["access"], two["publishedVersion"]) == ("DRAFT", None, None)
    assert stored_files(settings) == [f"{key}/v1.json", f"{key}/v2.json"]
    stored = Path(settings.storage_url, f"{key}/v1.json").read_bytes()
    assert json.loads(stored) == {"sections": [1]}


async def test_get_returns_the_latest_version_or_the_one_asked_for(client, tenant):
    await make_campaign(client, tenant)
    url, auth = page_url(tenant.handle), tenant.auth()
    for n in (1, 2, 3):
        assert (await client.put(url, json=body(n=n), headers=auth)).status_code in (200, 201)

    latest = (await client.get(url, headers=auth)).json()
    assert (latest["version"], latest["latestVersion"], latest["schema"]) == (3, 3, {"n": 3})
    older = (await client.get(url, params={"version": 1}, headers=auth)).json()
    assert (older["version"], older["latestVersion"], older["schema"]) == (1, 3, {"n": 1})
    assert older["objectKey"].endswith("/v1.json")

    missing = await client.get(url, params={"version": 4}, headers=auth)
    assert (missing.status_code, missing.json()["error"]) == (404, "page_version_not_found")
    bad = await client.get(url, params={"version": "one"}, headers=auth)
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_request")


async def test_missing_campaign_and_missing_page_are_404(client, tenant):
    await make_campaign(client, tenant)
    auth = tenant.auth()
    no_page = await client.get(page_url(tenant.handle), headers=auth)
    assert (no_page.status_code, no_page.json()["error"]) == (404, "page_not_found")
    for response in (
        await client.get(page_url(tenant.handle, "no-such-campaign"), headers=auth),
        await client.put(page_url(tenant.handle, "no-such-campaign"), json=body(), headers=auth),
        await client.post(page_url(tenant.handle, "no-such-campaign") + "/publish", headers=auth),
    ):
        assert (response.status_code, response.json()["error"]) == (404, "campaign_not_found")
    unpublished = await client.post(page_url(tenant.handle) + "/publish", headers=auth)
    assert (unpublished.status_code, unpublished.json()["error"]) == (404, "page_not_found")


# --- publishing ------------------------------------------------------------------------------


async def test_publish_sets_access_and_the_campaign_backreference(client, tenant, ctx):
    await make_campaign(client, tenant)
    url, auth = page_url(tenant.handle), tenant.auth()
    await client.put(url, json=body(slug="spring-v1", n=1), headers=auth)
    await client.put(url, json=body(slug="spring", n=2), headers=auth)

    published = await client.post(url + "/publish", headers=auth)
    assert published.status_code == 200, published.text
    view = published.json()
    assert (view["version"], view["status"], view["access"]) == (2, "PUBLISHED", "FREE_WITH_LOGIN")
    assert view["publishedVersion"] == 2 and view["publishedAt"] is not None
    campaign = await client.get(f"/v2/handles/{tenant.handle}/campaigns/{CAMPAIGN}", headers=auth)
    assert campaign.json()["campaign"]["detailsPageSlug"] == "spring"

    found = await pages.find_campaign_by_page_slug(
        await signed_in(ctx, tenant), tenant.handle, "spring"
    )
    assert (found.handle, found.campaign_id) == (tenant.handle, CAMPAIGN)
    with pytest.raises(NotFound):
        await pages.find_campaign_by_page_slug(ctx, tenant.handle, "spring-v1")

    # A newer draft does not unpublish: the published version stays until the next publish.
    draft = (await client.put(url, json=body(slug="spring", n=3), headers=auth)).json()
    assert (draft["version"], draft["status"], draft["publishedVersion"]) == (3, "DRAFT", 2)
    assert draft["access"] == "FREE_WITH_LOGIN"
    latest = (await client.get(url, headers=auth)).json()
    assert (latest["version"], latest["status"]) == (3, "DRAFT")

    # Publishing an older version moves the backreference to that version's slug.
    older = await client.post(url + "/publish", json={"version": 1}, headers=auth)
    assert (older.json()["version"], older.json()["status"]) == (1, "PUBLISHED")
    assert (await client.get(url, params={"version": 1}, headers=auth)).json()["status"] == (
        "PUBLISHED"
    )
    assert (await client.get(url, params={"version": 2}, headers=auth)).json()["status"] == "DRAFT"
    found = await pages.find_campaign_by_page_slug(ctx, tenant.handle, "spring-v1")
    assert found.campaign_id == CAMPAIGN
    with pytest.raises(NotFound):
        await pages.find_campaign_by_page_slug(ctx, tenant.handle, "spring")

    gone = await client.post(url + "/publish", json={"version": 9}, headers=auth)
    assert (gone.status_code, gone.json()["error"]) == (404, "page_version_not_found")
    for bad in ({"version": "1"}, {"version": 0}, {"other": 1}, [1]):
        response = await client.post(url + "/publish", json=bad, headers=auth)
        assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


async def test_page_slug_is_unique_per_handle_across_campaigns(client, tenant, settings):
    await make_campaign(client, tenant, "spring-launch")
    await make_campaign(client, tenant, "summer-launch")
    await make_campaign(client, tenant, "spring-launch", handle=tenant.other_handle)
    auth = tenant.auth()
    spring, summer = (
        page_url(tenant.handle, "spring-launch"),
        page_url(tenant.handle, "summer-launch"),
    )
    assert (await client.put(spring, json=body(slug="offer"), headers=auth)).status_code == 201
    before = stored_files(settings)

    taken = await client.put(summer, json=body(slug="offer"), headers=auth)
    assert (taken.status_code, taken.json()["error"]) == (409, "page_slug_conflict")
    assert stored_files(settings) == before
    assert (await client.get(summer, headers=auth)).status_code == 404

    # The same campaign may keep its slug; another handle may use it too.
    assert (await client.put(spring, json=body(slug="offer"), headers=auth)).status_code == 200
    other = page_url(tenant.other_handle, "spring-launch")
    other_auth = tenant.auth(handle=tenant.other_handle)
    assert (await client.put(other, json=body(slug="offer"), headers=other_auth)).status_code == 201

    # A published slug stays reserved after the page's latest version renames it.
    await client.post(spring + "/publish", headers=auth)
    assert (await client.put(spring, json=body(slug="offer-2"), headers=auth)).status_code == 200
    still = await client.put(summer, json=body(slug="offer"), headers=auth)
    assert (still.status_code, still.json()["error"]) == (409, "page_slug_conflict")
    assert (await client.put(summer, json=body(slug="summer"), headers=auth)).status_code == 201


async def test_slug_taken_between_check_and_commit_is_a_conflict_and_stores_nothing(
    client, tenant, ctx, settings, monkeypatch
):
    await make_campaign(client, tenant, "spring-launch")
    await make_campaign(client, tenant, "summer-launch")
    ctx = await signed_in(ctx, tenant)
    await pages.upsert_page(ctx, tenant.handle, "spring-launch", body(slug="offer"))
    before = stored_files(settings)
    real_check = pages._check_slug_free
    calls = []

    async def check_passes_once(*args: Any) -> None:
        # The first check runs as if the other campaign had not committed yet.
        calls.append(args)
        if len(calls) > 1:
            await real_check(*args)

    monkeypatch.setattr(pages, "_check_slug_free", check_passes_once)
    with pytest.raises(Conflict) as raised:
        await pages.upsert_page(ctx, tenant.handle, "summer-launch", body(slug="offer"))
    assert raised.value.code == "page_slug_conflict"
    assert len(calls) == 2
    assert stored_files(settings) == before


# --- validation and failures ----------------------------------------------------------------

BIG = "x" * (256 * 1024)


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"page": {"slug": "spring", "title": "T"}, "schema": [1, 2]}, "invalid_request"),
        ({"page": {"slug": "spring", "title": "T"}, "schema": "{}"}, "invalid_request"),
        ({"page": {"slug": "spring", "title": "T"}, "schema": {"big": BIG}}, "schema_too_large"),
        ({"page": {"slug": "spring", "title": "T", "blob": BIG}, "schema": {}}, "page_too_large"),
        ({"page": {"slug": "has space", "title": "T"}, "schema": {}}, "invalid_request"),
        ({"page": {"slug": "../etc", "title": "T"}, "schema": {}}, "invalid_request"),
        ({"page": {"slug": "", "title": "T"}, "schema": {}}, "invalid_request"),
        ({"page": {"slug": "spring"}, "schema": {}}, "invalid_request"),
        ({"page": {"slug": "spring", "title": "  "}, "schema": {}}, "invalid_request"),
        ({"page": {"slug": "spring", "title": "T"}}, "invalid_request"),
        ({"schema": {}}, "invalid_request"),
        ({"page": {"slug": "spring", "title": "T"}, "schema": {}, "extra": 1}, "invalid_request"),
        ([{"page": {}}], "invalid_request"),
    ],
    ids=[
        "schema-array",
        "schema-string",
        "schema-too-large",
        "page-too-large",
        "slug-with-space",
        "slug-with-dots",
        "slug-empty",
        "title-missing",
        "title-blank",
        "schema-missing",
        "page-missing",
        "unknown-key",
        "not-an-object",
    ],
)
async def test_invalid_bodies_are_400_and_store_nothing(client, tenant, settings, payload, code):
    await make_campaign(client, tenant)
    url, auth = page_url(tenant.handle), tenant.auth()
    response = await client.put(url, json=payload, headers=auth)
    assert (response.status_code, response.json()["error"]) == (400, code), response.text
    assert stored_files(settings) == []
    assert (await client.get(url, headers=auth)).status_code == 404


async def test_schema_just_under_the_limit_is_accepted(client, tenant):
    await make_campaign(client, tenant)
    filler = "x" * (pages.MAX_SCHEMA_BYTES - len('{"f":""}'))
    response = await client.put(page_url(tenant.handle), json=body(f=filler), headers=tenant.auth())
    assert response.status_code == 201, response.text[:200]


async def page_rows(session: AsyncSession, handle: str) -> tuple[list[int], list[int]]:
    heads = (await session.execute(select(SitePage).where(SitePage.handle == handle))).scalars()
    versions = (
        await session.execute(
            select(SitePageVersion.version).where(SitePageVersion.handle == handle)
        )
    ).scalars()
    return [h.latest_version for h in heads], sorted(versions)


async def test_failed_database_write_leaves_no_object(client, tenant, ctx, settings, monkeypatch):
    await make_campaign(client, tenant)
    ctx = await signed_in(ctx, tenant)
    await pages.upsert_page(ctx, tenant.handle, CAMPAIGN, body(n=1))
    assert len(stored_files(settings)) == 1

    async def failing_commit(self: AsyncSession) -> None:
        raise RuntimeError("database went away")

    with monkeypatch.context() as patched:
        patched.setattr(AsyncSession, "commit", failing_commit)
        with pytest.raises(RuntimeError, match="went away"):
            await pages.upsert_page(ctx, tenant.handle, CAMPAIGN, body(n=2))

    key = f"site-structure/{tenant.handle}/campaigns/{CAMPAIGN}"
    assert stored_files(settings) == [f"{key}/v1.json"]
    async with ctx.sessions() as session:
        assert await page_rows(session, tenant.handle) == ([1], [1])
    # The next write takes version 2 as if the failed one never happened.
    view = await pages.upsert_page(ctx, tenant.handle, CAMPAIGN, body(n=3))
    assert (view.version, view.schema) == (2, {"n": 3})
    assert stored_files(settings) == [f"{key}/v1.json", f"{key}/v2.json"]


async def test_failed_object_write_stores_no_rows(client, tenant, ctx, settings, monkeypatch):
    await make_campaign(client, tenant)
    ctx = await signed_in(ctx, tenant)

    async def failing_put(key: str, data: bytes, content_type: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(ctx.object_store, "put", failing_put)
    with pytest.raises(OSError, match="disk full"):
        await pages.upsert_page(ctx, tenant.handle, CAMPAIGN, body())
    async with ctx.sessions() as session:
        assert await page_rows(session, tenant.handle) == ([], [])
    assert stored_files(settings) == []


# --- access ----------------------------------------------------------------------------------

# Scopes of a PAT and the status each page route gives it; a page exists before each call.
PAT_MATRIX = [
    (("pages.read",), {"GET": 200, "PUT": 403, "POST": 403}),
    (("pages.write",), {"GET": 200, "PUT": 200, "POST": 200}),
    (("pages.read", "pages.write"), {"GET": 200, "PUT": 200, "POST": 200}),
    (("analytics.read",), {"GET": 403, "PUT": 403, "POST": 403}),
    (("campaigns.write", "campaigns.read"), {"GET": 403, "PUT": 403, "POST": 403}),
]


async def call(client: httpx.AsyncClient, method: str, url: str, headers: dict[str, str]):
    if method == "GET":
        return await client.get(url, headers=headers)
    if method == "PUT":
        return await client.put(url, json=body(), headers=headers)
    return await client.post(url + "/publish", headers=headers)


@pytest.mark.parametrize(
    ("scopes", "expected"), PAT_MATRIX, ids=["+".join(scopes) for scopes, _ in PAT_MATRIX]
)
async def test_pat_scopes_on_every_public_page_route(client, tenant, make_pat, scopes, expected):
    await make_campaign(client, tenant)
    await client.put(page_url(tenant.handle), json=body(), headers=tenant.auth())
    token = {"Authorization": f"Bearer {await make_pat(tenant.handle, *scopes)}"}
    url = page_url(tenant.handle, public=True)
    for method, status in expected.items():
        response = await call(client, method, url, token)
        assert response.status_code == status, (method, response.text)
        if status == 403:
            assert response.json()["error"] == "forbidden"


async def test_public_routes_refuse_other_handles_and_missing_tokens(client, tenant, make_pat):
    await make_campaign(client, tenant)
    await make_campaign(client, tenant, handle=tenant.other_handle)
    other_token = await make_pat(tenant.other_handle, "pages.read", "pages.write")
    bad = {"Authorization": "Bearer fgp_not-a-real-token"}
    for method in ("GET", "PUT", "POST"):
        url = page_url(tenant.handle, public=True)
        response = await call(client, method, url, {"Authorization": f"Bearer {other_token}"})
        assert (response.status_code, response.json()["error"]) == (403, "forbidden")
        for headers in ({}, bad):
            response = await call(client, method, url, headers)
            assert (response.status_code, response.json()["error"]) == (401, "unauthenticated")


@pytest.mark.parametrize(("role", "status"), [("VIEWER", 403), ("CREATOR", 200), ("ADMIN", 200)])
async def test_jwt_routes_need_creator_or_above(client, tenant, role, status):
    await make_campaign(client, tenant)
    await client.put(page_url(tenant.handle), json=body(), headers=tenant.auth())
    for method in ("GET", "PUT", "POST"):
        response = await call(client, method, page_url(tenant.handle), tenant.auth(role))
        assert response.status_code == status, (method, response.text)


# --- GraphQL ---------------------------------------------------------------------------------

FIELDS = """campaignId version latestVersion objectKey page schema status access
publishedVersion publishedAt createdAt"""
UPSERT = f"""mutation($h: String!, $c: String!, $page: JSON!, $schema: JSON!) {{
  upsertCampaignStructure(handle: $h, campaignId: $c, page: $page, schema: $schema) {{ {FIELDS} }}
}}"""
PUBLISH = f"""mutation($h: String!, $c: String!, $v: Int) {{
  publishCampaignStructure(handle: $h, campaignId: $c, version: $v) {{ {FIELDS} }}
}}"""
QUERY = f"""query($h: String!, $c: String!, $v: Int) {{
  campaignStructure(handle: $h, campaignId: $c, version: $v) {{ {FIELDS} }}
}}"""


def same_instant(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    first, second = (datetime.fromisoformat(x.replace("Z", "+00:00")) for x in (a, b))
    return abs(first - second) < timedelta(milliseconds=1)


def assert_same_view(graphql: dict[str, Any], rest: dict[str, Any]) -> None:
    assert graphql.keys() == rest.keys()
    for key, value in rest.items():
        if key in ("createdAt", "publishedAt"):
            assert same_instant(graphql[key], value), key
        else:
            assert graphql[key] == value, key


async def test_graphql_round_trip_equals_rest(client, tenant):
    await make_campaign(client, tenant)
    auth, url = tenant.auth(), page_url(tenant.handle)
    doc = body(slug="gql-page", blocks=[{"type": "hero", "n": 1.5}, None, True])
    stored = await gql(
        client, UPSERT, auth, h=tenant.handle, c=CAMPAIGN, page=doc["page"], schema=doc["schema"]
    )
    assert "errors" not in stored, stored
    view = stored["data"]["upsertCampaignStructure"]
    assert (view["version"], view["page"], view["schema"]) == (1, doc["page"], doc["schema"])
    assert_same_view(view, (await client.get(url, headers=auth)).json())

    published = await gql(client, PUBLISH, auth, h=tenant.handle, c=CAMPAIGN)
    view = published["data"]["publishCampaignStructure"]
    assert (view["status"], view["access"], view["publishedVersion"]) == (
        "PUBLISHED",
        "FREE_WITH_LOGIN",
        1,
    )
    await client.put(url, json=body(slug="gql-page", n=2), headers=auth)
    for version in (None, 1, 2):
        fetched = await gql(client, QUERY, auth, h=tenant.handle, c=CAMPAIGN, v=version)
        rest = await client.get(
            url, params={} if version is None else {"version": version}, headers=auth
        )
        assert_same_view(fetched["data"]["campaignStructure"], rest.json())

    by_slug = await gql(
        client,
        'query($h: String!) { campaignByPageSlug(handle: $h, slug: "gql-page") '
        "{ campaignId detailsPageSlug } }",
        auth,
        h=tenant.handle,
    )
    assert by_slug["data"]["campaignByPageSlug"] == {
        "campaignId": CAMPAIGN,
        "detailsPageSlug": "gql-page",
    }


async def test_graphql_errors_carry_the_resolver_codes(client, tenant):
    await make_campaign(client, tenant)
    await make_campaign(client, tenant, "summer-launch")
    auth = tenant.auth()
    await client.put(page_url(tenant.handle), json=body(slug="taken"), headers=auth)
    cases = [
        (
            UPSERT,
            auth,
            {"c": "summer-launch", "page": {"slug": "taken", "title": "T"}, "schema": {}},
            "page_slug_conflict",
        ),
        (
            UPSERT,
            auth,
            {"c": CAMPAIGN, "page": {"slug": "ok", "title": "T"}, "schema": [1]},
            "invalid_request",
        ),
        (QUERY, auth, {"c": "summer-launch"}, "page_not_found"),
        (QUERY, auth, {"c": CAMPAIGN, "v": 5}, "page_version_not_found"),
        (PUBLISH, tenant.auth("VIEWER"), {"c": CAMPAIGN}, "forbidden"),
        (QUERY, {}, {"c": CAMPAIGN}, "unauthenticated"),
    ]
    for document, headers, variables, code in cases:
        result = await gql(client, document, headers, h=tenant.handle, **variables)
        assert result["errors"][0]["extensions"]["code"] == code, (code, result)
