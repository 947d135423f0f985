"""Hostile /mcp bodies get a 400 JSON-RPC error, never a 500, and reach no tool."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
TOOLS_SCOPES = ("pages.read", "pages.write", "campaigns.read")


@pytest.fixture(autouse=True)
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.ERROR)
    yield
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.fixture
async def post(client, tenant, make_pat):
    token = await make_pat(tenant.handle, *TOOLS_SCOPES)
    headers = {**HEADERS, "authorization": f"Bearer {token}"}

    async def send(body: bytes) -> Any:
        return await client.post("/mcp", content=body, headers=headers)

    return send


def call(tool: str, arguments: str) -> bytes:
    """A tools/call message with ``arguments`` as raw JSON text."""
    params = f'{{"name": "{tool}", "arguments": {arguments}}}'
    return f'{{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {params}}}'.encode()


def error_code(response: Any) -> int:
    assert response.status_code == 400, response.text
    return response.json()["error"]["code"]


async def test_a_body_that_is_not_utf8_is_a_parse_error(post):
    inside_a_string = b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "x": "\xff"}'
    for body in (b"\xff\xfe{}", inside_a_string):
        assert error_code(await post(body)) == -32700


async def test_tool_arguments_nested_too_deep_are_invalid_params(post, tenant):
    deep = '{"a":' * 1000 + "1" + "}" * 1000
    arguments = (
        f'{{"handle": "{tenant.handle}", "campaign_id": "c1", "page": {{"slug": "s"}}, '
        f'"schema": {deep}}}'
    )
    response = await post(call("campaign_structure_upsert", arguments))
    assert error_code(response) == -32602
    assert response.json()["id"] == 7
    assert "nested deeper" in response.json()["error"]["message"]
    # Past what the decoder nests: a parse error.
    deeper = arguments.replace(deep, "[" * 5000 + "]" * 5000)
    assert error_code(await post(call("campaign_structure_upsert", deeper))) == -32700


async def test_unstorable_text_in_tool_arguments_never_reaches_a_tool(post, tenant):
    for value in ("a\x00", "\x00"):
        arguments = json.dumps({"handle": tenant.handle, "campaign_id": value})
        response = await post(call("campaign_health", arguments))
        assert error_code(response) == -32602
        assert "campaign_id: must not contain NUL" in response.json()["error"]["message"]
    for arguments in (
        f'{{"handle": "{tenant.handle}", "campaign_id": "a\\ud800"}}',
        f'{{"handle": "{tenant.handle}\\udc00", "campaign_id": "a"}}',
    ):
        assert error_code(await post(call("campaign_health", arguments))) == -32700
    # The tool name and the message id are checked too.
    assert error_code(await post(call("campaign_health\\ud800", "{}"))) == -32700
    assert error_code(await post(call("campaign_health\\u0000", "{}"))) == -32602


async def test_a_good_message_still_reaches_the_server_after_the_checks(post, tenant):
    response = await post(b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}')
    assert response.status_code == 200
    assert "campaign_health" in {tool["name"] for tool in response.json()["result"]["tools"]}
    arguments = json.dumps({"handle": tenant.handle, "campaign_id": "missing"})
    response = await post(call("campaign_health", arguments))
    assert response.status_code == 200
    result = response.json()["result"]
    assert result["isError"] and "campaign_not_found:" in result["content"][0]["text"]
