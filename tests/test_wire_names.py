"""Inputs are snake_case inside the gateway and camelCase on the wire: the camelCase names
are the only ones accepted, and refusals name the field as the client spelt it."""

from __future__ import annotations

from tests.conftest import gql
from tests.factories import make_campaign


async def test_rest_accepts_only_the_documented_camelcase_names(client, tenant):
    url = f"/v2/handles/{tenant.handle}/campaigns"
    snake = await client.post(
        url, json={"goal_type": "PRODUCT_SALE", "campaign_id": "snake-case"}, headers=tenant.auth()
    )
    assert snake.status_code == 400
    assert snake.json()["error"] == "invalid_request"
    assert "goal_type" in snake.json()["message"]
    created = await client.post(
        url,
        json={"goalType": "PRODUCT_SALE", "campaignId": "camel-case", "primarySlug": "spring"},
        headers=tenant.auth(),
    )
    assert created.status_code == 201, created.text
    assert created.json()["campaign"]["primarySlug"] == "spring"


async def test_refusals_name_the_wire_field_on_rest_and_graphql(client, tenant):
    bad_slug = "x" * 129
    rest = await client.post(
        f"/v2/handles/{tenant.handle}/campaigns",
        json={"goalType": "PRODUCT_SALE", "primarySlug": bad_slug},
        headers=tenant.auth(),
    )
    assert rest.status_code == 400
    assert rest.json()["message"].startswith("primarySlug:")
    body = await gql(
        client,
        """mutation($h: String!, $s: String!) {
            createCampaign(handle: $h, input: {goalType: PRODUCT_SALE, primarySlug: $s}) {
                campaign { campaignId }
            }
        }""",
        tenant.auth(),
        h=tenant.handle,
        s=bad_slug,
    )
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "invalid_request"
    assert error["message"].startswith("primarySlug:")


async def test_a_conversion_is_read_by_its_camelcase_fields(client, tenant):
    await make_campaign(client, tenant, "wired", status="ACTIVE")
    response = await client.post(
        f"/v2/handles/{tenant.handle}/conversions",
        json={
            "eventType": "purchase",
            "eventId": "wire-1",
            "campaignId": "wired",
            "value": 5,
            "currency": "EUR",
        },
        headers=tenant.auth(),
    )
    assert response.status_code in (200, 201), response.text
    assert response.json()["eventId"] == "wire-1"
    snake = await client.post(
        f"/v2/handles/{tenant.handle}/conversions",
        json={"event_type": "purchase", "event_id": "wire-2", "campaign_id": "wired"},
        headers=tenant.auth(),
    )
    assert snake.status_code == 400 and "event_type" in snake.json()["message"]
