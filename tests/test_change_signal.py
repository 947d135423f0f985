"""One change signal: a write through any door (REST under /v2/handles and /v2/public, MCP,
GraphQL mutations, click and conversion ingest) reaches the response cache, in this process
and (with Redis) in every other, before the write's answer; and what sessions report."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, insert, select, text, update

from app.runtime.changes import ChangeHub
from db.changes import ANY_HANDLE
from db.engine import make_session_factory
from db.tables import AccessToken, Account, Campaign, Link, PersonalizationRule
from resolvers.auth import mint_jwt
from tests.conftest import JWT_SECRET, Tenant
from tests.factories import make_campaign_with_link
from tests.test_response_cache import REDIS_URL, response_cache, serving

CAMPAIGN = """query($h: String!) {
  campaign(handle: $h, campaignId: "spring") { name status detailsPageSlug }
}"""
PAGE = """query($h: String!) {
  campaignStructure(handle: $h, campaignId: "spring") { latestVersion schema }
}"""
FUNNEL = """query($h: String!) {
  campaign(handle: $h, campaignId: "spring") { funnel(includeTest: true) { clicks conversions } }
}"""
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"}


async def make_page(client: httpx.AsyncClient, tenant: Tenant, **schema: Any) -> None:
    r = await client.put(
        f"/v2/handles/{tenant.handle}/site-structure/campaigns/spring",
        json={"page": {"slug": "spring-page", "title": "Spring"}, "schema": schema},
        headers=tenant.auth("ADMIN"),
    )
    assert r.status_code in (200, 201), r.text


async def read(app: Any, client: httpx.AsyncClient, tenant: Tenant, query: str) -> Any:
    r = await client.post(
        "/graphql",
        json={"query": query, "variables": {"h": tenant.handle}},
        headers=tenant.auth("ADMIN"),
    )
    assert r.status_code == 200 and "errors" not in r.json(), r.text
    return next(iter(r.json()["data"].values()))


async def warm(app: Any, client: httpx.AsyncClient, tenant: Tenant, query: str) -> Any:
    """The answer, once it is served from the cache (else a fresh read proves nothing)."""
    cache = response_cache(app)
    first = await read(app, client, tenant, query)
    hits = cache.hits
    assert await read(app, client, tenant, query) == first
    assert cache.hits == hits + 1, "the second read was not a cache hit"
    return first


async def mcp_call(
    client: httpx.AsyncClient, token: str, tool: str, arguments: dict[str, Any]
) -> dict[str, Any]:
    """One tools/call over the streamable-HTTP transport (stateless, JSON responses)."""
    r = await client.post(
        "/mcp",
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments},
        },
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-06-18",
        },
    )
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    assert not result.get("isError"), result
    return result


# --------------------------------------------------------------------------- every door


async def test_a_rest_write_under_v2_handles_is_read_at_once(settings, tenant):
    async with serving(settings, graphql_response_cache_ttl_s=1.0) as (app, client):
        await make_campaign_with_link(client, tenant, "spring", role="ADMIN", status="ACTIVE")
        assert (await warm(app, client, tenant, CAMPAIGN))["name"] is None
        r = await client.patch(
            f"/v2/handles/{tenant.handle}/campaigns/spring",
            json={"name": "Renamed"},
            headers=tenant.auth("ADMIN"),
        )
        assert r.status_code == 200, r.text
        assert (await read(app, client, tenant, CAMPAIGN))["name"] == "Renamed"


async def test_a_pat_write_under_v2_public_is_read_at_once(settings, tenant, make_pat):
    async with serving(settings, graphql_response_cache_ttl_s=1.0) as (app, client):
        await make_campaign_with_link(client, tenant, "spring", role="ADMIN", status="ACTIVE")
        await make_page(client, tenant, v=1)
        pat = {"Authorization": f"Bearer {await make_pat(tenant.handle, 'pages.write')}"}
        # A first PAT use writes the token's last use: let that pass before warming.
        url = f"/v2/public/handles/{tenant.handle}/site-structure/campaigns/spring"
        assert (await client.get(url, headers=pat)).status_code == 200
        assert (await warm(app, client, tenant, PAGE)) == {"latestVersion": 1, "schema": {"v": 1}}
        r = await client.put(
            url,
            json={"page": {"slug": "spring-page", "title": "S"}, "schema": {"v": 2}},
            headers=pat,
        )
        assert r.status_code == 200, r.text
        assert await read(app, client, tenant, PAGE) == {"latestVersion": 2, "schema": {"v": 2}}
        # Publishing sets the campaign's detailsPageSlug (an UPDATE statement, not a row).
        assert (await warm(app, client, tenant, CAMPAIGN))["detailsPageSlug"] is None
        r = await client.post(url + "/publish", headers=pat)
        assert r.status_code == 200, r.text
        assert (await read(app, client, tenant, CAMPAIGN))["detailsPageSlug"] == "spring-page"


async def test_an_mcp_tool_write_is_read_at_once(settings, tenant, make_pat):
    async with serving(settings, graphql_response_cache_ttl_s=1.0) as (app, client):
        await make_campaign_with_link(client, tenant, "spring", role="ADMIN", status="ACTIVE")
        await make_page(client, tenant, v=1)
        token = await make_pat(tenant.handle, "pages.write")
        args = {"handle": tenant.handle, "campaign_id": "spring"}
        await mcp_call(client, token, "campaign_structure_get", args)  # the token's first use
        assert (await warm(app, client, tenant, PAGE))["latestVersion"] == 1
        page = {"slug": "spring-page", "title": "S"}
        await mcp_call(
            client, token, "campaign_structure_upsert", {**args, "page": page, "schema": {"v": 2}}
        )
        assert await read(app, client, tenant, PAGE) == {"latestVersion": 2, "schema": {"v": 2}}
        assert (await warm(app, client, tenant, CAMPAIGN))["detailsPageSlug"] is None
        await mcp_call(client, token, "campaign_structure_publish", args)
        assert (await read(app, client, tenant, CAMPAIGN))["detailsPageSlug"] == "spring-page"


async def test_a_graphql_mutation_by_another_caller_is_read_at_once(settings, tenant):
    async with serving(settings, graphql_response_cache_ttl_s=1.0) as (app, client):
        await make_campaign_with_link(client, tenant, "spring", role="ADMIN", status="ACTIVE")
        assert (await warm(app, client, tenant, CAMPAIGN))["status"] == "ACTIVE"
        someone = mint_jwt(JWT_SECRET, "someone-else", {tenant.handle: "ADMIN"}, 600)
        r = await client.post(
            "/graphql",
            json={
                "query": """mutation($h: String!) { setCampaignStatus(
                  handle: $h, campaignId: "spring", status: PAUSED) { status } }""",
                "variables": {"h": tenant.handle},
            },
            headers={"Authorization": f"Bearer {someone}"},
        )
        assert r.json()["data"]["setCampaignStatus"]["status"] == "PAUSED", r.text
        assert (await read(app, client, tenant, CAMPAIGN))["status"] == "PAUSED"


async def test_ingested_clicks_and_conversions_are_read_at_once(settings, tenant, make_pat):
    async with serving(settings, graphql_response_cache_ttl_s=1.0) as (app, client):
        await make_campaign_with_link(client, tenant, "spring", role="ADMIN", status="ACTIVE")
        assert await warm(app, client, tenant, FUNNEL) == {
            "funnel": {"clicks": 0, "conversions": 0}
        }
        r = await client.get(f"/{tenant.handle}/spring", headers=BROWSER)
        assert r.status_code == 302
        assert (await read(app, client, tenant, FUNNEL))["funnel"]["clicks"] == 1
        await warm(app, client, tenant, FUNNEL)
        pat = {"Authorization": f"Bearer {await make_pat(tenant.handle, 'conversions.write')}"}
        r = await client.post(
            f"/v2/handles/{tenant.handle}/conversions",
            json={"eventType": "purchase", "campaignId": "spring", "value": 10, "currency": "USD"},
            headers=pat,
        )
        assert r.status_code in (200, 201, 202), r.text
        assert await read(app, client, tenant, FUNNEL) == {
            "funnel": {"clicks": 1, "conversions": 1}
        }


async def test_a_write_from_another_process_is_read_at_once_through_redis(
    settings, tenant, make_pat, redis_conn
):
    shared = {
        "redis_url": REDIS_URL,
        "redis_key_prefix": f"fgtest-{uuid.uuid4().hex[:8]}",
        "graphql_response_cache_ttl_s": 1.0,
    }
    async with serving(settings, **shared) as (one, a), serving(settings, **shared) as (_, b):
        await make_campaign_with_link(a, tenant, "spring", role="ADMIN", status="ACTIVE")
        await make_page(a, tenant, v=1)
        token = await make_pat(tenant.handle, "pages.write")
        args = {"handle": tenant.handle, "campaign_id": "spring"}
        await mcp_call(b, token, "campaign_structure_get", args)
        assert (await warm(one, a, tenant, PAGE))["latestVersion"] == 1
        page = {"slug": "spring-page", "title": "S"}
        await mcp_call(
            b, token, "campaign_structure_upsert", {**args, "page": page, "schema": {"v": 2}}
        )
        assert (await read(one, a, tenant, PAGE))["latestVersion"] == 2
        await warm(one, a, tenant, PAGE)
        r = await b.put(
            f"/v2/public/handles/{tenant.handle}/site-structure/campaigns/spring",
            json={"page": page, "schema": {"v": 3}},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200, r.text
        assert (await read(one, a, tenant, PAGE))["latestVersion"] == 3


async def test_writes_of_one_handle_leave_other_handles_entries_alone(settings, tenant, make_pat):
    """No bump of every handle on common paths: a PAT's first use (its last-use time), a
    REST write, a test conversion."""
    neighbour = Tenant(tenant.account_id, tenant.other_handle, tenant.handle)
    async with serving(settings, graphql_response_cache_ttl_s=1.0) as (app, client):
        await make_campaign_with_link(client, tenant, "spring", role="ADMIN", status="ACTIVE")
        r = await client.post(
            f"/v2/handles/{neighbour.handle}/campaigns",
            json={"campaignId": "spring", "goalType": "PRODUCT_SALE", "status": "ACTIVE"},
            headers=neighbour.auth("ADMIN"),
        )
        assert r.status_code == 201, r.text
        await warm(app, client, neighbour, CAMPAIGN)
        pat = {"Authorization": f"Bearer {await make_pat(tenant.handle, 'campaigns.write')}"}
        r = await client.patch(
            f"/v2/handles/{tenant.handle}/campaigns/spring", json={"name": "Mine"}, headers=pat
        )
        assert r.status_code == 200, r.text
        # A test conversion: rows, then the rollups (one unnest statement on PostgreSQL).
        assert (await warm(app, client, tenant, FUNNEL))["funnel"]["conversions"] == 0
        r = await client.post(
            f"/v2/handles/{tenant.handle}/campaigns/spring/test-conversion",
            json={"value": 5, "currency": "USD"},
            headers=tenant.auth("ADMIN"),
        )
        assert r.status_code in (200, 201), r.text
        assert (await read(app, client, tenant, FUNNEL))["funnel"]["conversions"] == 1
        hits = response_cache(app).hits
        await read(app, client, neighbour, CAMPAIGN)
        assert response_cache(app).hits == hits + 1


# --------------------------------------------------------------------------- what sessions tell


class Heard:
    """A ChangeSink that records every report; returns what a shared cache would await."""

    def __init__(self) -> None:
        self.handles: list[str] = []
        self.settled = 0

    def __call__(self, handle: str) -> Any:
        self.handles.append(handle)
        return self._settle()

    async def _settle(self) -> None:
        await asyncio.sleep(0)
        self.settled += 1


@pytest.fixture
def heard(app: Any) -> tuple[Heard, Any]:
    sink = Heard()
    return sink, make_session_factory(app.state.services.engine, on_change=sink)


NOW = datetime.now(UTC)


def campaign_row(session: Any, tenant: Tenant, campaign_id: str) -> None:
    session.add(
        Campaign(
            account_id=tenant.account_id,
            handle=tenant.handle,
            campaign_id=campaign_id,
            goal_type="PRODUCT_SALE",
            tracking_preset="ecommerce",
            conversion_event_type="purchase",
            created_at=NOW,
            updated_at=NOW,
        )
    )


async def test_sessions_report_the_handles_of_rows_and_statements_once_per_commit(heard, tenant):
    sink, sessions = heard
    async with sessions() as session:
        campaign_row(session, tenant, "one")
        await session.flush()
        await session.execute(
            update(Campaign)
            .where(Campaign.handle == tenant.handle, Campaign.campaign_id == "one")
            .values(name="x")
        )
        await session.commit()
        assert (sink.handles, sink.settled) == ([tenant.handle], 1)  # commit waited for it
    sink.handles.clear()
    async with sessions() as session:  # reads only
        await session.execute(select(Campaign).where(Campaign.handle == tenant.handle))
        await session.execute(text("SELECT 1"))
        await session.commit()
    assert sink.handles == []
    async with sessions() as session:  # account settings: each handle of the account
        account = await session.get(Account, tenant.account_id)
        account.funnel_stages = [{"name": "Clicked"}]
        await session.commit()
    assert sink.handles == [tenant.handle]
    sink.handles.clear()
    async with sessions() as session:  # rolled back: nothing changed
        campaign_row(session, tenant, "two")
        await session.flush()
        await session.rollback()
    assert sink.handles == []


async def test_statements_name_their_handles_by_parameters_values_where_or_returning(heard, tenant):
    sink, sessions = heard
    other, rule = tenant.other_handle, f"r-{tenant.handle}"

    async def reported(*statement: Any) -> list[str]:
        sink.handles.clear()
        async with sessions() as session:
            await session.execute(*statement)
            await session.commit()
        return sink.handles

    assert await reported(
        insert(Link),
        [
            {
                "account_id": tenant.account_id,
                "handle": tenant.handle,
                "slug": "p",
                "destination_url": "https://x.example/",
                "created_at": NOW,
                "updated_at": NOW,
            }
        ],
    ) == [tenant.handle]
    assert await reported(
        insert(PersonalizationRule).values(
            account_id=tenant.account_id, handle=tenant.handle, rule_id=rule, **_rule()
        )
    ) == [tenant.handle]
    assert await reported(
        delete(Link).where(Link.handle.in_([tenant.handle, other]), Link.slug == "p")
    ) == sorted([tenant.handle, other])
    # Only the RETURNING rows tell; the caller still gets them.
    sink.handles.clear()
    async with sessions() as session:
        result = await session.execute(
            update(PersonalizationRule)
            .where(PersonalizationRule.rule_id == rule)
            .values(priority=2)
            .returning(PersonalizationRule.handle, PersonalizationRule.priority)
        )
        assert result.all() == [(tenant.handle, 2)]
        await session.commit()
    assert sink.handles == [tenant.handle]
    # Neither parameters, values, WHERE nor RETURNING tell: every handle.
    assert await reported(
        update(PersonalizationRule).where(PersonalizationRule.rule_id == rule).values(priority=3)
    ) == [ANY_HANDLE]
    assert await reported(
        update(AccessToken).where(AccessToken.id == "none").values(scopes=[])
    ) == [ANY_HANDLE]
    assert await reported(text("UPDATE campaigns SET name = name WHERE 1 = 0")) == [ANY_HANDLE]


def _rule() -> dict[str, Any]:
    return {
        "when": {},
        "variant_id": "v",
        "variant_destination_url": "https://v.example/",
        "created_at": NOW,
        "updated_at": NOW,
    }


async def test_the_hub_wakes_live_funnels_for_a_campaign_a_handle_or_every_handle():
    hub = ChangeHub()
    heard: list[tuple[str, Any]] = []
    hub.listen(lambda handle, campaign_ids: heard.append((handle, campaign_ids)))

    async def woken(*touch: Any) -> bool:
        waiter = asyncio.create_task(hub.wait("a", "c1", 0.2))
        await asyncio.sleep(0)
        assert hub.touch(*touch) is None  # no listener has work beyond this process
        return await waiter

    assert await woken("a", {"c1"})
    assert await woken("a", None)  # a whole-handle change
    assert await woken(ANY_HANDLE)
    assert not await woken("a", {"c2"})
    assert not await woken("b", None)
    assert heard == [("a", {"c1"}), ("a", None), (ANY_HANDLE, None), ("a", {"c2"}), ("b", None)]
