"""Response cache: hits run no SQL, callers never share answers, writes and clicks invalidate,
entries expire; ETag and Cache-Control on GET persisted queries; Redis shared by processes."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
from sqlalchemy import event, update

from app.settings import Settings
from db.engine import make_session_factory
from db.tables import Campaign
from tests.conftest import Tenant
from tests.factories import make_campaign_with_link
from tests.inprocess import app_client, running_app

REDIS_URL = "redis://127.0.0.1:6379/15"
FUNNEL = """query Funnel($h: String!, $c: String!) {
  campaign(handle: $h, campaignId: $c) { campaignId name status
    funnel { clicks qualifiedClicks stages { name count }
      breakdown(dimension: DEVICE) { value count } } }
}"""
IPHONE = {
    "User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
}


@contextlib.contextmanager
def sql_statements(app: Any) -> Iterator[list[str]]:
    """The statements the app's engine runs meanwhile."""
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = app.state.services.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def response_cache(app: Any) -> Any:
    return next(r.app for r in app.routes if getattr(r, "path", "") == "/graphql").response_cache


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, **overrides: Any
) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    overrides = {"rate_limit_enabled": False, **overrides}
    async with running_app(settings, **overrides) as app, app_client(app) as c:
        yield app, c


async def ask(
    client: httpx.AsyncClient, tenant: Tenant, role: str = "ADMIN", **variables: Any
) -> httpx.Response:
    body = {"query": FUNNEL, "variables": {"h": tenant.handle, "c": "cached"} | variables}
    response = await client.post("/graphql", json=body, headers=tenant.auth(role))
    assert response.status_code == 200, response.text
    return response


def data(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["campaign"]


async def test_a_repeated_query_is_answered_from_the_cache_without_sql(settings, tenant):
    async with serving(settings) as (app, client):
        await make_campaign_with_link(
            client, tenant, "cached", role="ADMIN", status="ACTIVE", name="One"
        )
        cache = response_cache(app)
        with sql_statements(app) as first:
            miss = await ask(client, tenant)
        with sql_statements(app) as second:
            hit = await ask(client, tenant)
        assert first and not second
        assert hit.content == miss.content
        assert (cache.hits, cache.misses, cache.stored) == (1, 1, 1)
        # Same query, other variables: another entry.
        with sql_statements(app) as other:
            await ask(client, tenant, c="nope")
        assert other


async def test_another_caller_never_gets_someone_elses_entry(settings, tenant, make_pat):
    async with serving(settings) as (app, client):
        await make_campaign_with_link(
            client, tenant, "cached", role="ADMIN", status="ACTIVE", name="One"
        )
        mine = data(await ask(client, tenant))
        assert mine["name"] == "One"
        # Another tenant asks the very same query and variables: forbidden, not our data.
        stranger = tenant.jwt("ADMIN", handle=tenant.other_handle)
        body = {"query": FUNNEL, "variables": {"h": tenant.handle, "c": "cached"}}
        response = await client.post(
            "/graphql", json=body, headers={"Authorization": f"Bearer {stranger}"}
        )
        assert response.json()["errors"][0]["extensions"]["code"] == "forbidden"
        # Another role on the same handle: its own entry (VIEWER may read campaigns,
        # not funnels).
        viewer = (await ask(client, tenant, role="VIEWER")).json()
        assert viewer["errors"][0]["extensions"]["code"] == "forbidden"
        # A PAT of the same handle with a scope that reads it: its own entry again.
        pat = await make_pat(tenant.handle, "campaigns.read", "analytics.read")
        with sql_statements(app) as statements:
            response = await client.post(
                "/graphql", json=body, headers={"Authorization": f"Bearer {pat}"}
            )
        assert statements and data(response) == mine
        cache = response_cache(app)
        assert cache.hits == 0


async def test_a_click_through_the_redirect_shows_up_on_the_next_query(settings, tenant):
    async with serving(settings) as (app, client):
        await make_campaign_with_link(
            client, tenant, "cached", role="ADMIN", status="ACTIVE", name="One"
        )
        before = data(await ask(client, tenant))["funnel"]["clicks"]
        assert data(await ask(client, tenant))["funnel"]["clicks"] == before  # a hit
        assert response_cache(app).hits == 1
        r = await client.get(f"/{tenant.handle}/cached", headers=IPHONE)
        assert r.status_code == 302
        after = data(await ask(client, tenant))["funnel"]
        assert after["clicks"] == before + 1
        assert after["breakdown"] == [{"value": "mobile", "count": 1}]


async def test_writes_through_the_api_invalidate(settings, tenant):
    async with serving(settings) as (app, client):
        await make_campaign_with_link(
            client, tenant, "cached", role="ADMIN", status="ACTIVE", name="One"
        )
        assert data(await ask(client, tenant))["status"] == "ACTIVE"
        mutation = """mutation($h: String!) {
          setCampaignStatus(handle: $h, campaignId: "cached", status: PAUSED) { status } }"""
        r = await client.post(
            "/graphql",
            json={"query": mutation, "variables": {"h": tenant.handle}},
            headers=tenant.auth("ADMIN"),
        )
        assert r.json()["data"]["setCampaignStatus"]["status"] == "PAUSED"
        assert data(await ask(client, tenant))["status"] == "PAUSED"
        # A REST write to the handle, too.
        r = await client.patch(
            f"/v2/handles/{tenant.handle}/campaigns/cached",
            json={"name": "Renamed"},
            headers=tenant.auth("ADMIN"),
        )
        assert r.status_code == 200, r.text
        assert data(await ask(client, tenant))["name"] == "Renamed"
        cache = response_cache(app)
        assert cache.hits == 0 and cache.stored == 3  # mutations are never stored


async def test_entries_expire_after_the_ttl(settings, tenant):
    async with serving(settings, graphql_response_cache_ttl_s=0.3) as (app, client):
        await make_campaign_with_link(
            client, tenant, "cached", role="ADMIN", status="ACTIVE", name="One"
        )
        assert data(await ask(client, tenant))["name"] == "One"
        # A write the gateway does not hear of (another program, a migration script).
        async with make_session_factory(app.state.services.engine)() as session:
            await session.execute(
                update(Campaign)
                .where(Campaign.handle == tenant.handle, Campaign.campaign_id == "cached")
                .values(name="Elsewhere")
            )
            await session.commit()
        assert data(await ask(client, tenant))["name"] == "One"  # within the TTL
        await asyncio.sleep(0.35)
        assert data(await ask(client, tenant))["name"] == "Elsewhere"


async def test_errors_are_not_cached_and_the_cache_can_be_turned_off(settings, tenant):
    async with serving(settings) as (app, client):
        await make_campaign_with_link(
            client, tenant, "cached", role="ADMIN", status="ACTIVE", name="One"
        )
        for _ in range(2):
            with sql_statements(app) as statements:
                r = await ask(client, tenant, c="missing")
            assert r.json()["errors"] and statements
        assert response_cache(app).stored == 0
    async with serving(settings, graphql_response_cache=False) as (app, client):
        assert response_cache(app) is None
        for _ in range(2):
            with sql_statements(app) as statements:
                data(await ask(client, tenant))
            assert statements


def _persisted(query: str) -> str:
    digest = hashlib.sha256(query.encode()).hexdigest()
    return json.dumps({"persistedQuery": {"version": 1, "sha256Hash": digest}})


async def test_get_persisted_queries_carry_an_etag_and_answer_304(settings, tenant):
    async with serving(settings) as (_, client):
        await make_campaign_with_link(
            client, tenant, "cached", role="ADMIN", status="ACTIVE", name="One"
        )
        variables = json.dumps({"h": tenant.handle, "c": "cached"})
        auth = tenant.auth("ADMIN")
        r = await client.post(
            "/graphql",
            json={
                "query": FUNNEL,
                "variables": json.loads(variables),
                "extensions": json.loads(_persisted(FUNNEL)),
            },
            headers=auth,
        )
        assert "ETag" not in r.headers  # POST: no HTTP caching
        params = {"extensions": _persisted(FUNNEL), "variables": variables}
        first = await client.get("/graphql", params=params, headers=auth)
        assert first.status_code == 200 and first.json()["data"]["campaign"]["name"] == "One"
        etag = first.headers["ETag"]
        assert first.headers["Cache-Control"] == "private, max-age=1"
        again = await client.get("/graphql", params=params, headers=auth | {"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["ETag"] == etag
        # Changed data: a new body and a new tag.
        await client.patch(
            f"/v2/handles/{tenant.handle}/campaigns/cached", json={"name": "Two"}, headers=auth
        )
        changed = await client.get(
            "/graphql", params=params, headers=auth | {"If-None-Match": etag}
        )
        assert changed.status_code == 200 and changed.headers["ETag"] != etag


async def test_redis_shares_entries_and_invalidations_between_processes(
    settings, tenant, redis_conn
):
    shared = {"redis_url": REDIS_URL, "redis_key_prefix": f"fgtest-{uuid.uuid4().hex[:8]}"}
    async with serving(settings, **shared) as (one, a), serving(settings, **shared) as (two, b):
        await make_campaign_with_link(
            a, tenant, "cached", role="ADMIN", status="ACTIVE", name="One"
        )
        first = await ask(a, tenant)
        with sql_statements(two) as statements:
            hit = await ask(b, tenant)
        assert not statements and hit.content == first.content
        r = await b.patch(
            f"/v2/handles/{tenant.handle}/campaigns/cached",
            json={"name": "From two"},
            headers=tenant.auth("ADMIN"),
        )
        assert r.status_code == 200, r.text
        assert data(await ask(a, tenant))["name"] == "From two"
        assert response_cache(one).hits == 0 and response_cache(two).hits == 1
