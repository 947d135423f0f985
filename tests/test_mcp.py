"""MCP tools at /mcp, called with the SDK's own client over HTTP against a real uvicorn server."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from app.settings import Settings
from tests.conftest import JWT_SECRET
from tests.factories import make_campaign
from tests.live_server import running_gateway
from tests.test_pages import body, page_url

TOOLS = {
    "campaign_structure_get",
    "campaign_structure_upsert",
    "campaign_structure_publish",
    "campaign_list",
    "campaign_health",
    "funnel_query",
}


@pytest.fixture(scope="module")
def server_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The gateway served by uvicorn on 127.0.0.1 (a free port) from a background thread."""
    settings = Settings(
        database_url=database_url,
        jwt_secret=JWT_SECRET,
        storage_url=str(tmp_path_factory.mktemp("mcp-objects")),
    )
    with running_gateway(settings, timeout=20, loop="asyncio", ws="auto") as url:
        yield url


@pytest.fixture
async def http(server_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """REST calls to the same server, so that both sides share one object store."""
    async with httpx.AsyncClient(base_url=server_url) as c:
        yield c


@contextlib.asynccontextmanager
async def mcp_session(url: str, token: str | None) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(f"{url}/mcp", http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def result_json(result: CallToolResult) -> Any:
    assert not result.isError, result.content
    return json.loads(result.content[0].text)


def error_text(result: CallToolResult) -> str:
    assert result.isError, result.content
    return result.content[0].text


async def test_tools_are_listed_with_their_arguments(server_url, tenant, make_pat):
    token = await make_pat(tenant.handle, "pages.read")
    async with mcp_session(server_url, token) as session:
        listed = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(listed) == TOOLS
    upsert = listed["campaign_structure_upsert"].inputSchema
    assert set(upsert["required"]) == {"handle", "campaign_id", "page", "schema"}
    assert "ctx" not in upsert["properties"]
    assert "pages.write" in (listed["campaign_structure_upsert"].description or "")


async def test_page_tools_store_fetch_and_publish_like_the_rest_routes(
    server_url, http, tenant, make_pat, backend
):
    await make_campaign(http, tenant)
    token = await make_pat(tenant.handle, "pages.write")
    doc = body(slug="mcp-page", blocks=[{"type": "hero"}])
    args = {"handle": tenant.handle, "campaign_id": "spring-launch"}
    async with mcp_session(server_url, token) as session:
        stored = result_json(
            await session.call_tool(
                "campaign_structure_upsert", {**args, "page": doc["page"], "schema": doc["schema"]}
            )
        )
        second = result_json(
            await session.call_tool(
                "campaign_structure_upsert", {**args, "page": doc["page"], "schema": {"v": 2}}
            )
        )
        latest = result_json(await session.call_tool("campaign_structure_get", args))
        first = await session.call_tool("campaign_structure_get", {**args, "version": 1})
        published = result_json(await session.call_tool("campaign_structure_publish", args))

    key = f"site-structure/{tenant.handle}/campaigns/spring-launch"
    assert (stored["version"], stored["objectKey"]) == (1, f"{key}/v1.json")
    assert (stored["page"], stored["schema"]) == (doc["page"], doc["schema"])
    assert (second["version"], latest["version"], latest["schema"]) == (2, 2, {"v": 2})
    assert result_json(first)["schema"] == doc["schema"]
    assert first.structuredContent == result_json(first)
    assert (published["status"], published["access"]) == ("PUBLISHED", "FREE_WITH_LOGIN")
    rest = await http.get(page_url(tenant.handle), headers=tenant.auth())
    assert rest.json() == published
    campaign = await http.get(
        f"/v2/handles/{tenant.handle}/campaigns/spring-launch", headers=tenant.auth()
    )
    assert campaign.json()["campaign"]["detailsPageSlug"] == "mcp-page"


async def test_campaign_and_funnel_tools_return_the_rest_json(server_url, http, tenant, make_pat):
    await make_campaign(http, tenant)
    auth = tenant.auth()
    conversion = await http.post(
        f"/v2/handles/{tenant.handle}/campaigns/spring-launch/test-conversion",
        json={"value": 12.5, "currency": "USD"},
        headers=auth,
    )
    assert conversion.status_code in (200, 201), conversion.text
    token = await make_pat(tenant.handle, "campaigns.read", "analytics.read")
    h = tenant.handle
    async with mcp_session(server_url, token) as session:
        listed = result_json(await session.call_tool("campaign_list", {"handle": h, "limit": 10}))
        health = result_json(
            await session.call_tool(
                "campaign_health", {"handle": h, "campaign_id": "spring-launch"}
            )
        )
        one = result_json(
            await session.call_tool(
                "funnel_query",
                {"handle": h, "campaign_id": "spring-launch", "include_test": True},
            )
        )
        every = result_json(await session.call_tool("funnel_query", {"handle": h}))

    base = f"/v2/handles/{h}"
    assert listed == (await http.get(f"{base}/campaigns?limit=10", headers=auth)).json()
    assert [c["campaignId"] for c in listed["campaigns"]] == ["spring-launch"]
    rest_health = await http.get(f"{base}/campaigns/spring-launch/health", headers=auth)
    assert health == rest_health.json()
    rest_one = await http.get(
        f"{base}/analytics",
        params={"funnel": "true", "campaignId": "spring-launch", "includeTest": "true"},
        headers=auth,
    )
    assert one == rest_one.json()
    assert one["funnel"][0]["conversions"] == 1
    assert every == (await http.get(f"{base}/analytics?funnel=true", headers=auth)).json()
    assert every["aggregate"]["conversions"] == 0  # test conversions are left out by default


async def test_tools_enforce_the_pat_scopes(server_url, http, tenant, make_pat):
    await make_campaign(http, tenant)
    await http.put(page_url(tenant.handle), json=body(), headers=tenant.auth())
    await make_campaign(http, tenant, handle=tenant.other_handle)
    args = {"handle": tenant.handle, "campaign_id": "spring-launch"}
    upsert = {**args, "page": {"slug": "x", "title": "X"}, "schema": {}}

    async with mcp_session(server_url, await make_pat(tenant.handle, "pages.read")) as session:
        assert result_json(await session.call_tool("campaign_structure_get", args))["version"] == 1
        for name, arguments in (
            ("campaign_structure_upsert", upsert),
            ("campaign_structure_publish", args),
            ("campaign_list", {"handle": tenant.handle}),
            ("campaign_health", args),
            ("funnel_query", {"handle": tenant.handle}),
        ):
            assert "forbidden:" in error_text(await session.call_tool(name, arguments)), name

    async with mcp_session(server_url, await make_pat(tenant.handle, "analytics.read")) as session:
        for name, arguments in (
            ("campaign_structure_get", args),
            ("campaign_structure_upsert", upsert),
            ("campaign_structure_publish", args),
        ):
            assert "forbidden:" in error_text(await session.call_tool(name, arguments)), name

    other = await make_pat(tenant.other_handle, "pages.write", "campaigns.read", "analytics.read")
    async with mcp_session(server_url, other) as session:
        for name in ("campaign_structure_get", "campaign_health"):
            text = error_text(await session.call_tool(name, args))
            assert "forbidden:" in text and tenant.handle in text


async def test_domain_errors_become_tool_errors_with_their_code(server_url, http, tenant, make_pat):
    await make_campaign(http, tenant)
    token = await make_pat(tenant.handle, "pages.write")
    h = tenant.handle
    async with mcp_session(server_url, token) as session:
        missing = await session.call_tool(
            "campaign_structure_get", {"handle": h, "campaign_id": "nope-nope"}
        )
        no_page = await session.call_tool(
            "campaign_structure_get", {"handle": h, "campaign_id": "spring-launch"}
        )
        bad = await session.call_tool(
            "campaign_structure_upsert",
            {"handle": h, "campaign_id": "spring-launch", "page": {"slug": "a b"}, "schema": {}},
        )
    assert "campaign_not_found:" in error_text(missing)
    assert "page_not_found:" in error_text(no_page)
    assert "invalid_request:" in error_text(bad)


async def test_requests_without_a_valid_token_are_401(server_url):
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(base_url=server_url) as http:
        for auth in ({}, {"Authorization": "Bearer fgp_not-a-token"}, {"Authorization": "Basic x"}):
            response = await http.post("/mcp", json=request, headers={**headers, **auth})
            assert response.status_code == 401
            assert response.json()["error"] == "unauthenticated"
            assert response.headers["www-authenticate"] == "Bearer"

    # The SDK's client raises the HTTP error from its task group.
    with pytest.raises(ExceptionGroup) as raised:
        async with mcp_session(server_url, None):
            pass
    statuses = [
        e.response.status_code
        for e in raised.value.exceptions
        if isinstance(e, httpx.HTTPStatusError)
    ]
    assert statuses == [401]
