"""Path parameters in /openapi.json are named as the API is documented ({campaignId},
{ruleId}, {tokenId}, {webhookId}, {deliveryId}: camelCase like the JSON fields), each one
listed under ``parameters`` matches its template, and the URLs themselves are unchanged."""

from __future__ import annotations

import re
from typing import Any

import pytest

TEMPLATE_PARAM = re.compile(r"{([^}]*)}")
CAMEL = re.compile(r"^[a-z][A-Za-z0-9]*$")
METHODS = {"get", "put", "post", "patch", "delete", "head", "options"}
H = "/v2/handles/{handle}"
DOCUMENTED = [
    H + "/campaigns/{campaignId}",
    H + "/campaigns/{campaignId}/health",
    H + "/campaigns/{campaignId}/test-conversion",
    H + "/links/{slug}",
    H + "/tokens/{tokenId}",
    H + "/personalization/rules/{ruleId}",
    H + "/site-structure/campaigns/{campaignId}",
    H + "/site-structure/campaigns/{campaignId}/publish",
    "/v2/public/handles/{handle}/site-structure/campaigns/{campaignId}",
    H + "/webhooks/{webhookId}",
    H + "/webhooks/{webhookId}/deliveries",
    H + "/webhooks/deliveries/{deliveryId}/redeliver",
]


@pytest.fixture
async def doc(client) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200, response.text
    return response.json()


async def test_no_path_template_has_an_underscore_parameter(doc):
    snake = {
        path: names
        for path in doc["paths"]
        if (names := [n for n in TEMPLATE_PARAM.findall(path) if not CAMEL.fullmatch(n)])
    }
    assert snake == {}


async def test_the_documented_templates_are_served(doc):
    assert [p for p in DOCUMENTED if p not in doc["paths"]] == []


async def test_each_listed_path_parameter_matches_its_template(doc):
    problems = []
    for path, item in doc["paths"].items():
        in_template = TEMPLATE_PARAM.findall(path)
        for method, op in item.items():
            if method not in METHODS:
                continue
            listed = [p for p in op.get("parameters", []) if p["in"] == "path"]
            if sorted(p["name"] for p in listed) != sorted(in_template):
                problems.append(f"{method.upper()} {path}: {[p['name'] for p in listed]}")
            problems += [
                f"{method.upper()} {path}: {p['name']} not required"
                for p in listed
                if p.get("required") is not True
            ]
    assert problems == []


async def test_campaign_id_is_described_by_its_pattern(doc):
    op = doc["paths"][H + "/campaigns/{campaignId}"]["get"]
    param = next(p for p in op["parameters"] if p["name"] == "campaignId")
    assert param["schema"]["pattern"] == "^[a-z0-9][a-z0-9_-]{2,63}$"


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("GET", "/campaigns/no-such-campaign", "campaign_not_found"),
        ("PATCH", "/campaigns/no-such-campaign", "campaign_not_found"),
        ("GET", "/campaigns/no-such-campaign/health", "campaign_not_found"),
        ("POST", "/campaigns/no-such-campaign/test-conversion", "campaign_not_found"),
        ("GET", "/site-structure/campaigns/no-such-campaign", "campaign_not_found"),
        ("DELETE", "/tokens/tok_nope", "token_not_found"),
        ("GET", "/personalization/rules/no-such-rule", "rule_not_found"),
        ("DELETE", "/personalization/rules/no-such-rule", "rule_not_found"),
        ("GET", "/webhooks/wh_nope", "webhook_not_found"),
        ("DELETE", "/webhooks/wh_nope", "webhook_not_found"),
        ("GET", "/webhooks/wh_nope/deliveries", "webhook_not_found"),
        ("POST", "/webhooks/deliveries/dlv_nope/redeliver", "delivery_not_found"),
    ],
)
async def test_the_same_urls_reach_their_handlers(client, tenant, method, path, code):
    """Each handler reads its renamed parameter: the id it was given is not found (no 500)."""
    response = await client.request(
        method,
        f"/v2/handles/{tenant.handle}{path}",
        json={} if method in ("PATCH", "POST") else None,
        headers=tenant.auth("ADMIN"),
    )
    assert (response.status_code, response.json()["error"]) == (404, code), response.text
