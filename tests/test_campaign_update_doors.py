"""Changing a campaign (name, primary slug, status): GraphQL ``updateCampaign`` and REST
``PATCH /v2/handles/{handle}/campaigns/{campaignId}`` are the same operation, each door's
change reads back through the other, and both refuse the same input with the same code."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import gql
from tests.factories import make_campaign

FIELDS = "campaignId name status primarySlug createdAt updatedAt"
UPDATE = f"""
mutation($h: String!, $id: String!, $input: UpdateCampaignInput!) {{
  updateCampaign(handle: $h, campaignId: $id, input: $input) {{ {FIELDS} }}
}}"""
GET = f"""
query($h: String!, $id: String!) {{ campaign(handle: $h, campaignId: $id) {{ {FIELDS} }} }}
"""


def campaign_url(handle: str, campaign_id: str) -> str:
    return f"/v2/handles/{handle}/campaigns/{campaign_id}"


async def rest_get(client, tenant, campaign_id: str) -> dict[str, Any]:
    response = await client.get(campaign_url(tenant.handle, campaign_id), headers=tenant.auth())
    assert response.status_code == 200, response.text
    return response.json()["campaign"]


async def gql_update(client, headers, handle: str, campaign_id: str, **input_: Any) -> dict:
    """The decoded body; a value refused before execution (a NUL) is answered with 400."""
    variables = {"h": handle, "id": campaign_id, "input": input_}
    response = await client.post(
        "/graphql", json={"query": UPDATE, "variables": variables}, headers=headers
    )
    assert response.status_code in (200, 400), response.text
    return response.json()


async def test_graphql_rename_and_primary_slug_change_reads_back_over_rest(client, tenant):
    created = await make_campaign(
        client, tenant, "spring-sale", name="Spring", primarySlug="spring"
    )
    before = created.json()["campaign"]
    body = await gql_update(
        client, tenant.auth(), tenant.handle, "spring-sale", name="Spring 2026", primarySlug="s26"
    )
    assert "errors" not in body, body
    changed = body["data"]["updateCampaign"]
    assert (changed["name"], changed["primarySlug"], changed["status"]) == (
        "Spring 2026",
        "s26",
        "DRAFT",
    )

    after = await rest_get(client, tenant, "spring-sale")
    assert (after["name"], after["primarySlug"], after["status"]) == ("Spring 2026", "s26", "DRAFT")
    assert after["createdAt"] == before["createdAt"]
    assert after["updatedAt"] >= before["updatedAt"]


async def test_rest_rename_and_primary_slug_change_reads_back_over_graphql(client, tenant):
    await make_campaign(client, tenant, "autumn-sale", name="Autumn", primarySlug="autumn")
    response = await client.patch(
        campaign_url(tenant.handle, "autumn-sale"),
        json={"name": "Autumn 2026", "primarySlug": "a26"},
        headers=tenant.auth(),
    )
    assert response.status_code == 200, response.text

    body = await gql(client, GET, tenant.auth(), h=tenant.handle, id="autumn-sale")
    assert "errors" not in body, body
    read = body["data"]["campaign"]
    assert (read["name"], read["primarySlug"], read["status"]) == ("Autumn 2026", "a26", "DRAFT")


async def test_graphql_update_moves_status_like_patch(client, tenant):
    await make_campaign(client, tenant, "lifecycle")
    body = await gql_update(client, tenant.auth(), tenant.handle, "lifecycle", status="ACTIVE")
    assert body["data"]["updateCampaign"]["status"] == "ACTIVE", body
    response = await client.patch(
        campaign_url(tenant.handle, "lifecycle"), json={"status": "PAUSED"}, headers=tenant.auth()
    )
    assert response.json()["campaign"]["status"] == "PAUSED", response.text
    body = await gql_update(client, tenant.auth(), tenant.handle, "lifecycle", status="ACTIVE")
    assert body["data"]["updateCampaign"]["status"] == "ACTIVE", body
    assert (await rest_get(client, tenant, "lifecycle"))["status"] == "ACTIVE"


async def test_omitted_fields_stay_on_both_doors(client, tenant):
    await make_campaign(client, tenant, "partial", name="Kept", primarySlug="kept")
    body = await gql_update(client, tenant.auth(), tenant.handle, "partial", name="Renamed")
    assert body["data"]["updateCampaign"]["primarySlug"] == "kept", body
    response = await client.patch(
        campaign_url(tenant.handle, "partial"), json={"primarySlug": "moved"}, headers=tenant.auth()
    )
    assert response.json()["campaign"]["name"] == "Renamed", response.text
    assert (await rest_get(client, tenant, "partial"))["primarySlug"] == "moved"


# --- the same refusals on both doors --------------------------------------------------------

# (case, campaign id, input, REST status, code); the campaign "target" is DRAFT, named
# "Original", primary slug "original".
REFUSALS = [
    ("bad-slug", "target", {"primarySlug": "bad slug!"}, 400, "invalid_slug"),
    ("slug-with-newline", "target", {"primarySlug": "ok\n"}, 400, "invalid_slug"),
    ("name-too-long", "target", {"name": "n" * 201}, 400, "invalid_request"),
    ("nul-in-name", "target", {"name": "a\x00b"}, 400, "invalid_request"),
    ("draft-to-paused", "target", {"status": "PAUSED"}, 409, "invalid_status_transition"),
    ("unknown-campaign", "no-such-campaign", {"name": "x"}, 404, "campaign_not_found"),
]


@pytest.mark.parametrize(
    ("campaign_id", "input_", "status", "code"),
    [pytest.param(*case[1:], id=case[0]) for case in REFUSALS],
)
async def test_both_doors_refuse_the_same_update_with_the_same_code(
    client, tenant, campaign_id, input_, status, code
):
    await make_campaign(client, tenant, "target", name="Original", primarySlug="original")

    response = await client.patch(
        campaign_url(tenant.handle, campaign_id), json=input_, headers=tenant.auth()
    )
    assert (response.status_code, response.json()["error"]) == (status, code), response.text

    body = await gql_update(client, tenant.auth(), tenant.handle, campaign_id, **input_)
    assert body.get("data") is None, body
    assert body["errors"][0]["extensions"]["code"] == code, body

    unchanged = await rest_get(client, tenant, "target")
    assert (unchanged["name"], unchanged["primarySlug"], unchanged["status"]) == (
        "Original",
        "original",
        "DRAFT",
    )


async def test_read_only_tokens_are_forbidden_on_both_doors(client, tenant, make_pat):
    await make_campaign(client, tenant, "guarded", name="Guarded")
    read_only = [
        tenant.auth("VIEWER"),
        {"Authorization": f"Bearer {await make_pat(tenant.handle, 'campaigns.read')}"},
        tenant.auth("ADMIN", handle=tenant.other_handle),
    ]
    for headers in read_only:
        response = await client.patch(
            campaign_url(tenant.handle, "guarded"), json={"name": "Taken"}, headers=headers
        )
        assert (response.status_code, response.json()["error"]) == (403, "forbidden")
        body = await gql_update(client, headers, tenant.handle, "guarded", name="Taken")
        assert body["errors"][0]["extensions"]["code"] == "forbidden", body
    assert (await rest_get(client, tenant, "guarded"))["name"] == "Guarded"


async def test_update_campaign_sits_beside_set_campaign_status(client, tenant):
    body = await gql(client, '{ __type(name: "Mutation") { fields { name } } }')
    names = {f["name"] for f in body["data"]["__type"]["fields"]}
    assert {"updateCampaign", "setCampaignStatus"} <= names
    body = await gql(
        client, '{ __type(name: "UpdateCampaignInput") { inputFields { name type { kind } } } }'
    )
    fields = {f["name"]: f["type"]["kind"] for f in body["data"]["__type"]["inputFields"]}
    assert fields == {"name": "SCALAR", "primarySlug": "SCALAR", "status": "ENUM"}
