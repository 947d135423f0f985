"""campaignFunnel subscription over graphql-transport-ws against a running server."""

import asyncio
import json

import httpx
import websockets

from tests.factories import make_campaign_with_link
from tests.graphql_ws import connect, next_message, subscribe
from tests.live_server import running_gateway

SUBSCRIPTION = """subscription($h: String!, $c: String!) {
  campaignFunnel(handle: $h, campaignId: $c) { campaignId clicks qualifiedClicks conversions }
}"""


async def _subscribe(base: str, token: str, handle: str):
    ws = await connect(base, token)
    await subscribe(ws, SUBSCRIPTION, {"h": handle, "c": "live"})
    return ws


async def _next(ws) -> dict:
    return await next_message(ws, 10)


async def test_subscription_pushes_the_funnel_when_clicks_land(settings, tenant):
    with running_gateway(settings) as base:
        async with httpx.AsyncClient(base_url=base) as http:
            await make_campaign_with_link(http, tenant, "live", role="ADMIN", status="ACTIVE")
        ws = await _subscribe(base, tenant.jwt("CREATOR"), tenant.handle)
        try:
            first = await _next(ws)
            assert first["type"] == "next"
            assert first["payload"]["data"]["campaignFunnel"]["clicks"] == 0
            async with httpx.AsyncClient(base_url=base) as http:
                for _ in range(3):
                    r = await http.get(
                        f"/{tenant.handle}/live",
                        headers={"user-agent": "Mozilla/5.0 (X11; Linux) Firefox"},
                    )
                    assert r.status_code == 302
            # Three clicks within a second are coalesced: pushes only ever grow, and the
            # last one seen within a few seconds carries all three.
            seen = []
            while not seen or seen[-1] < 3:
                message = await _next(ws)
                assert message["type"] == "next", message
                seen.append(message["payload"]["data"]["campaignFunnel"]["clicks"])
            assert seen == sorted(seen) and seen[-1] == 3 and len(seen) <= 3
        finally:
            await ws.close()


async def test_another_tenants_token_cannot_subscribe(settings, tenant):
    with running_gateway(settings) as base:
        async with httpx.AsyncClient(base_url=base) as http:
            await make_campaign_with_link(http, tenant, "live", role="ADMIN", status="ACTIVE")
        foreign = tenant.jwt("ADMIN", handle=tenant.other_handle)
        ws = await _subscribe(base, foreign, tenant.handle)
        try:
            message = await _next(ws)
            body = json.dumps(message)
            assert message["type"] in ("next", "error")
            assert "forbidden" in body and "clicks" not in body.replace('"clicks"', "")
        finally:
            await ws.close()


async def test_a_bad_token_is_refused_at_connection(settings, tenant):
    with running_gateway(settings) as base:
        ws = await websockets.connect(
            base.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"]
        )
        await ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"Authorization": "Bearer not-a-token"}}
            )
        )
        try:
            await asyncio.wait_for(ws.recv(), 5)
            raise AssertionError("connection was not closed")
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 4403
