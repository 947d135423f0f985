"""An open campaignFunnel subscription ends when its token is revoked or expires.

Over graphql-transport-ws against the gateway served by uvicorn (tests/live_server.py), on
both databases.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import jwt
import websockets

from tests.factories import make_campaign_with_link
from tests.graphql_ws import connect, next_message, subscribe
from tests.live_server import running_gateway

SUBSCRIPTION = """subscription($h: String!, $c: String!) {
  campaignFunnel(handle: $h, campaignId: $c) { campaignId clicks }
}"""
BROWSER = {"user-agent": "Mozilla/5.0 (X11; Linux) Firefox"}


async def _create_pat(http: httpx.AsyncClient, tenant, scope: str) -> dict:
    created = await http.post(
        f"/v2/handles/{tenant.handle}/tokens",
        json={"scopes": [scope]},
        headers=tenant.auth("ADMIN"),
    )
    assert created.status_code == 201, created.text
    return created.json()


async def _revoke(http: httpx.AsyncClient, tenant, token_id: str) -> None:
    revoked = await http.delete(
        f"/v2/handles/{tenant.handle}/tokens/{token_id}", headers=tenant.auth("ADMIN")
    )
    assert revoked.status_code == 204, revoked.text


async def _click(http: httpx.AsyncClient, handle: str) -> None:
    r = await http.get(f"/{handle}/live", headers=BROWSER)
    assert r.status_code == 302, r.text


async def _assert_ends_unauthenticated(ws) -> None:
    """The next message is an error with code unauthenticated and no funnel, then the
    subscription completes (or the connection closes)."""
    message = await next_message(ws)
    assert message["type"] in ("next", "error"), message
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["unauthenticated"], message
    if message["type"] == "next":
        assert message["payload"]["data"] is None, message
    try:
        after = await next_message(ws)
    except websockets.ConnectionClosed:
        return
    assert after == {"id": "1", "type": "complete"}, after


async def _first_push(ws) -> None:
    first = await next_message(ws)
    assert first["type"] == "next", first
    assert first["payload"]["data"]["campaignFunnel"]["clicks"] == 0, first


async def test_a_revoked_pat_stops_receiving_pushes(settings, tenant):
    with running_gateway(settings) as base:
        async with httpx.AsyncClient(base_url=base) as http:
            await make_campaign_with_link(http, tenant, "live", role="ADMIN", status="ACTIVE")
            created = await _create_pat(http, tenant, "analytics.read")
            ws = await connect(base, created["token"])
            try:
                await subscribe(ws, SUBSCRIPTION, {"h": tenant.handle, "c": "live"})
                await _first_push(ws)
                await _revoke(http, tenant, created["id"])
                await _click(http, tenant.handle)
                await _assert_ends_unauthenticated(ws)
            finally:
                await ws.close()


async def test_an_expired_jwt_stops_receiving_pushes(settings, tenant):
    with running_gateway(settings) as base:
        async with httpx.AsyncClient(base_url=base) as http:
            await make_campaign_with_link(http, tenant, "live", role="ADMIN", status="ACTIVE")
            token = tenant.jwt("CREATOR", ttl=2)
            expires = jwt.decode(token, options={"verify_signature": False})["exp"]
            ws = await connect(base, token)
            try:
                await subscribe(ws, SUBSCRIPTION, {"h": tenant.handle, "c": "live"})
                await _first_push(ws)
                await asyncio.sleep(max(0.0, expires - time.time()) + 0.2)
                await _click(http, tenant.handle)
                await _assert_ends_unauthenticated(ws)
            finally:
                await ws.close()


async def test_a_subscription_on_a_connection_whose_jwt_expired_is_refused(settings, tenant):
    with running_gateway(settings) as base:
        async with httpx.AsyncClient(base_url=base) as http:
            await make_campaign_with_link(http, tenant, "live", role="ADMIN", status="ACTIVE")
            token = tenant.jwt("CREATOR", ttl=1)
            expires = jwt.decode(token, options={"verify_signature": False})["exp"]
            ws = await connect(base, token)
            try:
                await asyncio.sleep(max(0.0, expires - time.time()) + 0.2)
                await subscribe(ws, SUBSCRIPTION, {"h": tenant.handle, "c": "live"})
                await _assert_ends_unauthenticated(ws)
            finally:
                await ws.close()


async def test_a_valid_pat_keeps_receiving_pushes(settings, tenant):
    """The control: re-checking the token does not end a subscription that still holds."""
    with running_gateway(settings) as base:
        async with httpx.AsyncClient(base_url=base) as http:
            await make_campaign_with_link(http, tenant, "live", role="ADMIN", status="ACTIVE")
            created = await _create_pat(http, tenant, "analytics.read")
            ws = await connect(base, created["token"])
            try:
                await subscribe(ws, SUBSCRIPTION, {"h": tenant.handle, "c": "live"})
                await _first_push(ws)
                await _click(http, tenant.handle)
                message = await next_message(ws)
                assert message["type"] == "next", message
                assert message["payload"]["data"]["campaignFunnel"]["clicks"] == 1, message
            finally:
                await ws.close()


async def test_queries_on_a_websocket_stop_once_its_pat_is_revoked(settings, tenant):
    """Not only subscriptions: every operation on an open connection re-checks its token."""
    query = {
        "query": 'query($h: String!) { campaign(handle: $h, campaignId: "live") { campaignId } }',
        "variables": {"h": tenant.handle},
    }
    with running_gateway(settings) as base:
        async with httpx.AsyncClient(base_url=base) as http:
            await make_campaign_with_link(http, tenant, "live", role="ADMIN", status="ACTIVE")
            created = await _create_pat(http, tenant, "campaigns.read")
            ws = await connect(base, created["token"])
            try:
                await ws.send(json.dumps({"id": "q1", "type": "subscribe", "payload": query}))
                answer = await next_message(ws)
                assert answer["payload"]["data"]["campaign"]["campaignId"] == "live", answer
                assert await next_message(ws) == {"id": "q1", "type": "complete"}
                await _revoke(http, tenant, created["id"])
                await ws.send(json.dumps({"id": "q2", "type": "subscribe", "payload": query}))
                answer = await next_message(ws)
                errors = answer["payload"].get("errors") or []
                assert [e["extensions"]["code"] for e in errors] == ["unauthenticated"], answer
                assert (answer["payload"].get("data") or {}).get("campaign") is None, answer
            finally:
                await ws.close()
