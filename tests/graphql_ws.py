"""A graphql-transport-ws client of a gateway served on a socket (tests/live_server.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets


async def connect(base: str, token: str) -> Any:
    """A websocket to ``base``/graphql, initialised with ``token`` and acknowledged."""
    ws = await websockets.connect(
        base.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"]
    )
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
    )
    ack = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert ack["type"] == "connection_ack", ack
    return ws


async def subscribe(ws: Any, query: str, variables: dict[str, Any], op_id: str = "1") -> None:
    """Start operation ``op_id`` (a subscription, or a query answered once)."""
    payload = {"query": query, "variables": variables}
    await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))


async def next_message(ws: Any, timeout: float = 15) -> dict[str, Any]:
    """The next message from the server, decoded; fails after ``timeout`` seconds."""
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))
