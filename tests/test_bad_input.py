"""Bad input gets a clear 4xx with a code and a message: never a 500, never a partial write."""

from __future__ import annotations

import json
import random
import string
from typing import Any

import pytest
from sqlalchemy import func, select

from db.tables import Conversion, OutboxEvent
from tests.factories import make_campaign_with_link

CAMPAIGN = "input-camp"


@pytest.fixture
async def prepared(client, tenant):
    """The tenant with one DRAFT campaign and one link."""
    await make_campaign_with_link(client, tenant, CAMPAIGN, "input-link")
    return tenant


def write_targets(handle: str) -> list[tuple[str, str]]:
    base = f"/v2/handles/{handle}"
    return [
        ("POST", f"{base}/campaigns"),
        ("PATCH", f"{base}/campaigns/{CAMPAIGN}"),
        ("PUT", f"{base}/links/new-slug"),
        ("PUT", f"{base}/links/input-link"),
        ("POST", f"{base}/campaigns/{CAMPAIGN}/test-conversion"),
    ]


async def state(client, tenant, ctx) -> dict[str, Any]:
    base = f"/v2/handles/{tenant.handle}"
    campaigns = (await client.get(f"{base}/campaigns", headers=tenant.auth())).json()
    links = (await client.get(f"{base}/links", headers=tenant.auth())).json()
    async with ctx.sessions() as session:
        conversions = (
            await session.execute(
                select(func.count())
                .select_from(Conversion)
                .where(Conversion.handle == tenant.handle)
            )
        ).scalar_one()
        events = (
            await session.execute(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.handle == tenant.handle)
            )
        ).scalar_one()
    return {"campaigns": campaigns, "links": links, "conversions": conversions, "events": events}


def assert_invalid(response, code: str = "invalid_request") -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"].strip()


# --- malformed bodies -----------------------------------------------------------------

MALFORMED = {
    "unclosed": b"{",
    "trailing-comma": b'{"goalType": "PRODUCT_SALE",}',
    "single-quotes": b"{'goalType': 'PRODUCT_SALE'}",
    "bare-word": b'{"goalType": PRODUCT_SALE}',
    "text": b"not json at all",
    "nan": b'{"a": NaN}',
    "invalid-utf8": b"\xff\xfe\xfd",
    "deeply-nested": b"[" * 5000 + b"]" * 5000,
}
NOT_OBJECTS = {
    "empty-array": [],
    "array-of-object": [{"goalType": "PRODUCT_SALE"}],
    "string": "PRODUCT_SALE",
    "number": 42,
    "null": None,
    "boolean": True,
}


async def send_raw(client, tenant, method: str, url: str, raw: bytes):
    return await client.request(
        method, url, content=raw, headers={**tenant.auth(), "Content-Type": "application/json"}
    )


async def test_malformed_json_is_invalid_request_and_writes_nothing(client, prepared, ctx):
    before = await state(client, prepared, ctx)
    for label, raw in MALFORMED.items():
        for method, url in write_targets(prepared.handle):
            response = await send_raw(client, prepared, method, url, raw)
            assert response.status_code == 400, (label, method, url, response.text)
            assert_invalid(response)
    assert await state(client, prepared, ctx) == before


async def test_body_that_is_not_an_object_is_invalid_request(client, prepared, ctx):
    before = await state(client, prepared, ctx)
    for label, body in NOT_OBJECTS.items():
        for method, url in write_targets(prepared.handle):
            response = await send_raw(client, prepared, method, url, json.dumps(body).encode())
            assert response.status_code == 400, (label, method, url, response.text)
            assert_invalid(response)
            assert "object" in response.json()["message"]
    assert await state(client, prepared, ctx) == before


async def test_empty_body_is_invalid_for_bodies_that_need_fields(client, prepared, ctx):
    before = await state(client, prepared, ctx)
    base = f"/v2/handles/{prepared.handle}"
    for method, url in [("POST", f"{base}/campaigns"), ("PUT", f"{base}/links/x-link")]:
        response = await client.request(method, url, headers=prepared.auth())
        assert_invalid(response)
    assert await state(client, prepared, ctx) == before


async def test_oversized_body_is_refused(client, prepared, ctx):
    before = await state(client, prepared, ctx)
    body = json.dumps({"goalType": "PRODUCT_SALE", "name": "x" * (3 * 1024 * 1024)})
    response = await send_raw(
        client, prepared, "POST", f"/v2/handles/{prepared.handle}/campaigns", body.encode()
    )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert await state(client, prepared, ctx) == before


# --- wrong types and unknown fields ----------------------------------------------------

# (body, name of the field the message must mention)
CAMPAIGN_BODIES: list[tuple[dict[str, Any], str]] = [
    ({"goalType": 5}, "goalType"),
    ({"goalType": "PRODUCT-SALE"}, "goalType"),
    ({}, "goalType"),
    ({"goalType": None}, "goalType"),
    ({"goalType": "PRODUCT_SALE", "status": "NOPE"}, "status"),
    ({"goalType": "PRODUCT_SALE", "status": 1}, "status"),
    ({"goalType": "PRODUCT_SALE", "campaignId": 123}, "campaignId"),
    ({"goalType": "PRODUCT_SALE", "name": ["x"]}, "name"),
    ({"goalType": "PRODUCT_SALE", "name": "x" * 201}, "name"),
    ({"goalType": "PRODUCT_SALE", "trackingPreset": ""}, "trackingPreset"),
    ({"goalType": "PRODUCT_SALE", "trackingPreset": {"x": 1}}, "trackingPreset"),
    ({"goalType": "PRODUCT_SALE", "conversionEventType": "e" * 65}, "conversionEventType"),
    ({"goalType": "PRODUCT_SALE", "colour": "red"}, "colour"),
    ({"goalType": "PRODUCT_SALE", "campaign_id": "abc"}, "campaign_id"),
    ({"goalType": "PRODUCT_SALE", "name": "a\x00b"}, "name"),
    ({"goalType": "PRODUCT_SALE", "trackingPreset": "x\x00"}, "trackingPreset"),
]


async def test_bad_campaign_bodies_are_invalid_and_write_nothing(client, prepared, ctx):
    before = await state(client, prepared, ctx)
    for body, field in CAMPAIGN_BODIES:
        response = await client.post(
            f"/v2/handles/{prepared.handle}/campaigns", json=body, headers=prepared.auth()
        )
        assert response.status_code == 400, (body, response.text)
        assert_invalid(response)
        assert field in response.json()["message"], (body, response.json())
    assert await state(client, prepared, ctx) == before


async def test_empty_campaign_id_is_invalid_rather_than_generated(client, prepared, ctx):
    before = await state(client, prepared, ctx)
    response = await client.post(
        f"/v2/handles/{prepared.handle}/campaigns",
        json={"goalType": "PRODUCT_SALE", "campaignId": ""},
        headers=prepared.auth(),
    )
    assert_invalid(response, "invalid_campaign_id")
    assert await state(client, prepared, ctx) == before


PATCH_BODIES: list[tuple[dict[str, Any], str]] = [
    ({"status": "NOPE"}, "status"),
    ({"status": True}, "status"),
    ({"goalType": "LEAD_CAPTURE"}, "goalType"),
    ({"campaignId": "renamed"}, "campaignId"),
    ({"name": "a\x00"}, "name"),
]


async def test_bad_campaign_patches_are_invalid_and_write_nothing(client, prepared, ctx):
    before = await state(client, prepared, ctx)
    for body, field in PATCH_BODIES:
        response = await client.patch(
            f"/v2/handles/{prepared.handle}/campaigns/{CAMPAIGN}",
            json=body,
            headers=prepared.auth(),
        )
        assert response.status_code == 400, (body, response.text)
        assert_invalid(response)
        assert field in response.json()["message"], (body, response.json())
    assert await state(client, prepared, ctx) == before


OK_URL = "https://ok.example.com/"
LINK_BODIES: list[tuple[dict[str, Any], str]] = [
    ({"destinationUrl": 5}, "destinationUrl"),
    ({"destinationUrl": None}, "destinationUrl"),
    ({}, "destinationUrl"),
    ({"destinationUrl": OK_URL, "trackingPolicy": "x"}, "trackingPolicy"),
    (
        {"destinationUrl": OK_URL, "trackingPolicy": {"appendContextParam": "maybe"}},
        "appendContextParam",
    ),
    ({"destinationUrl": OK_URL, "trackingPolicy": {"mode": "REDIRECT"}}, "mode"),
    ({"destinationUrl": OK_URL, "trackingPolicy": {"extra": 1}}, "extra"),
    ({"destinationUrl": OK_URL, "campaignId": 7}, "campaignId"),
    ({"destinationUrl": OK_URL, "slug": "other"}, "slug"),
    ({"destinationUrl": OK_URL + "a" * 2100}, "destinationUrl"),
    ({"destinationUrl": OK_URL + "\x00"}, "destinationUrl"),
    ({"destinationUrl": OK_URL, "campaignId": "x\x00yz"}, "campaignId"),
]


async def test_bad_link_bodies_are_invalid_and_write_nothing(client, prepared, ctx):
    before = await state(client, prepared, ctx)
    for slug in ("new-slug", "input-link"):  # a create and an update
        for body, field in LINK_BODIES:
            response = await client.put(
                f"/v2/handles/{prepared.handle}/links/{slug}", json=body, headers=prepared.auth()
            )
            assert response.status_code == 400, (slug, body, response.text)
            assert_invalid(response)
            assert field in response.json()["message"], (body, response.json())
    assert await state(client, prepared, ctx) == before


async def test_unusable_destination_urls_are_refused(client, prepared, ctx):
    before = await state(client, prepared, ctx)
    for destination in [
        OK_URL + "\x01",  # control character
        OK_URL + "a\tb",
        "https://ok.example.com:99999/",  # port out of range
        "http://[::1",  # broken IPv6 literal
    ]:
        response = await client.put(
            f"/v2/handles/{prepared.handle}/links/new-slug",
            json={"destinationUrl": destination},
            headers=prepared.auth(),
        )
        assert response.status_code == 400, (destination, response.text)
        assert_invalid(response, "invalid_destination_url")
    assert await state(client, prepared, ctx) == before


TEST_CONVERSION_BODIES: list[dict[str, Any]] = [
    {"eventType": "has spaces"},
    {"eventType": "x\x00"},
    {"currency": "12$"},
    {"currency": "EURO"},
    {"value": "ninety"},
    {"value": -0.01},
    {"metadata": [1, 2]},
    {"metadata": {"blob": "x" * 10_000}},
    {"eventId": ""},
    {"eventId": "e\x00"},
    {"test": False},
]


async def test_bad_test_conversions_are_invalid_and_write_nothing(client, prepared, ctx):
    before = await state(client, prepared, ctx)
    for body in TEST_CONVERSION_BODIES:
        response = await client.post(
            f"/v2/handles/{prepared.handle}/campaigns/{CAMPAIGN}/test-conversion",
            json=body,
            headers=prepared.auth(),
        )
        assert response.status_code == 400, (body, response.text)
        assert_invalid(response)
    assert await state(client, prepared, ctx) == before


# --- bad identifiers in paths and query strings -------------------------------------------

# (method, path under the handle, expected status, expected code); a NUL anywhere in the
# path or query string is refused before routing (app/middleware/request_text.py).
BAD_IDENTIFIERS = [
    ("GET", "/campaigns/x%00y", 400, "invalid_request"),
    ("PATCH", "/campaigns/x%00y", 400, "invalid_request"),
    ("GET", "/campaigns/x%00y/health", 400, "invalid_request"),
    ("POST", "/campaigns/x%00y/test-conversion", 400, "invalid_request"),
    ("GET", "/links/x%00y", 400, "invalid_request"),
    ("DELETE", "/links/x%00y", 400, "invalid_request"),
    ("PUT", "/links/x%00y", 400, "invalid_request"),
    ("PUT", "/links/x%0A", 400, "invalid_request"),
    ("PUT", "/links/x%20", 400, "invalid_slug"),
    ("GET", "/links?campaignId=x%00y", 400, "invalid_request"),
    ("GET", "/campaigns?status=nope", 400, "invalid_request"),
    ("GET", "/campaigns?limit=abc", 400, "invalid_request"),
    ("GET", "/campaigns?limit=99999999999999999999999", 400, "invalid_request"),
    ("GET", "/campaigns?cursor=%%%", 400, "invalid_request"),
    ("GET", "/campaigns?cursor=WyJ4Il0", 400, "invalid_request"),  # ["x"]
    ("GET", "/campaigns?cursor=WyJ4IiwieSJd", 400, "invalid_request"),  # ["x","y"]
    ("GET", "/campaigns?cursor=WzEsMl0", 400, "invalid_request"),  # [1,2]
    ("GET", "/campaigns?cursor=e30", 400, "invalid_request"),  # {}
    # ["2024-01-01","y\u0000"]
    ("GET", "/campaigns?cursor=WyIyMDI0LTAxLTAxIiwieVx1MDAwMCJd", 400, "invalid_request"),
    ("GET", "/links?cursor=WyJcdTAwMDAiXQ", 400, "invalid_request"),  # ["\u0000"]
    ("GET", "/links?cursor=WyJhIiwiYiJd", 400, "invalid_request"),  # ["a","b"]
]


async def test_bad_identifiers_are_clean_client_errors(client, prepared, ctx):
    before = await state(client, prepared, ctx)
    for method, path, status, code in BAD_IDENTIFIERS:
        body: dict[str, Any] | None = None
        if method == "PUT":
            body = {"destinationUrl": OK_URL}
        elif method == "PATCH":
            body = {"status": "ACTIVE"}
        response = await client.request(
            method, f"/v2/handles/{prepared.handle}{path}", json=body, headers=prepared.auth()
        )
        assert response.status_code == status, (method, path, response.text)
        assert response.json()["error"] == code, (method, path, response.json())
        assert response.json()["message"]
    assert await state(client, prepared, ctx) == before


async def test_unknown_handle_with_nul_is_a_clean_error(client, prepared):
    response = await client.get(
        "/v2/handles/x%00y/campaigns", headers=prepared.auth(handle="x\x00y")
    )
    assert_invalid(response)


# --- fuzz -----------------------------------------------------------------------------

FIELD_NAMES = [
    "campaignId",
    "goalType",
    "status",
    "name",
    "trackingPreset",
    "conversionEventType",
    "primarySlug",
    "destinationUrl",
    "trackingPolicy",
    "mode",
    "appendContextParam",
    "eventType",
    "eventId",
    "value",
    "currency",
    "metadata",
    "junk",
]
STRINGS = [
    "",
    " ",
    "PRODUCT_SALE",
    "ACTIVE",
    "PAUSED",
    "DIRECT",
    "https://ok.example.com/",
    "javascript:alert(1)",
    "\x00",
    "\ud7ff\ue000",
    "😀" * 10,
    "a" * 3000,
    "'; DROP TABLE campaigns; --",
    "../../etc/passwd",
    "%00",
    "USD",
]


def garbage_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 1, 2**63, -(2**70), 5])
    if kind == 3:
        return rng.choice([0.5, -1e308, 1e308, 99.99, -0.0])
    if kind == 4:
        return rng.choice(STRINGS)
    if kind == 5:
        return "".join(rng.choice(string.printable) for _ in range(rng.randrange(12)))
    if kind == 6:
        return [garbage_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return garbage_object(rng, depth + 1)


def garbage_object(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    return {rng.choice(FIELD_NAMES): garbage_value(rng, depth) for _ in range(rng.randrange(5))}


def garbage_bodies(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    bodies: list[bytes] = []
    for i in range(count):
        if i % 5 == 4:
            bodies.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))))
        elif i % 5 == 3:
            bodies.append(json.dumps(garbage_value(rng)).encode())
        else:
            bodies.append(json.dumps(garbage_object(rng)).encode())
    return bodies


async def test_garbage_bodies_never_cause_server_errors(client, prepared):
    allowed = {200, 201, 400, 404, 409, 413}
    for seed, (method, url) in enumerate(write_targets(prepared.handle)):
        for raw in garbage_bodies(seed=seed, count=40):
            response = await client.request(
                method,
                url,
                content=raw,
                headers={**prepared.auth(), "Content-Type": "application/json"},
            )
            assert response.status_code in allowed, (method, url, raw[:200], response.text)
            if response.status_code >= 400:
                body = response.json()
                assert set(body) == {"error", "message"}, body
                assert body["message"]


async def test_garbage_graphql_variables_never_cause_internal_errors(client, prepared):
    rng = random.Random(4)
    mutation = """
    mutation($h: String!, $input: CreateCampaignInput!) {
      createCampaign(handle: $h, input: $input) { campaign { campaignId } }
    }"""
    for i in range(30):
        if i % 2:
            input_: dict[str, Any] = garbage_object(rng)
        else:  # well-typed fields carrying hostile strings
            input_ = {"goalType": rng.choice(["PRODUCT_SALE", "APP_INSTALL"])}
            for key in ("campaignId", "name", "trackingPreset", "conversionEventType"):
                if rng.random() < 0.6:
                    input_[key] = rng.choice(STRINGS)
        variables = {"h": prepared.handle, "input": input_}
        response = await client.post(
            "/graphql", json={"query": mutation, "variables": variables}, headers=prepared.auth()
        )
        # Variables the databases cannot store may be refused before execution (400).
        assert response.status_code in (200, 400), response.text
        body = response.json()
        for error in body.get("errors") or []:
            assert (error.get("extensions") or {}).get("code") != "internal_error", body
