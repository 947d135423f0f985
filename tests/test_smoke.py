from tests.conftest import gql
from tests.factories import make_campaign


async def test_create_campaign_then_read_it_through_graphql(client, tenant):
    await make_campaign(client, tenant, "spring-launch")
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
