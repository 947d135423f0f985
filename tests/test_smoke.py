from tests.conftest import gql


async def test_create_campaign_then_read_it_through_graphql(client, tenant):
    response = await client.post(
        f"/v2/handles/{tenant.handle}/campaigns",
        json={"campaignId": "spring-launch", "goalType": "PRODUCT_SALE"},
        headers=tenant.auth(),
    )
    assert response.status_code == 201, response.text
    body = await gql(
        client,
        'query($h: String!){ campaign(handle: $h, campaignId: "spring-launch")'
        "{ campaignId status trackingPreset } }",
        tenant.auth("VIEWER"),
        h=tenant.handle,
    )
    assert body["data"]["campaign"] == {
        "campaignId": "spring-launch",
        "status": "DRAFT",
        "trackingPreset": "ga4_purchase",
    }
