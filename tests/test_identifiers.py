"""Identifiers are taken exactly as sent: never trimmed, and matched against their whole pattern
(``$`` alone would let a trailing newline through)."""

from __future__ import annotations

import pytest

from resolvers import campaigns, links, pages, personalization, tokens, webhooks
from resolvers.accounts import create_account, validate_handle
from resolvers.campaigns import validate_campaign_id, validate_slug
from resolvers.domain import Role
from resolvers.errors import InvalidInput, NotFound
from resolvers.personalization import validate_rule_id
from resolvers.principal import Principal
from resolvers.stages import validate_stages
from tests.conftest import gql
from tests.factories import make_campaign

SPACED = ["abcd\n", "abce ", " abcf", "abcg\t", "abch\r\n", "\nabci"]


def base(handle: str) -> str:
    return f"/v2/handles/{handle}"


def assert_refused(response, code: str = "invalid_request") -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == code, body
    assert body["message"]


async def campaign_ids(client, tenant) -> list[str]:
    response = await client.get(f"{base(tenant.handle)}/campaigns", headers=tenant.auth())
    return sorted(c["campaignId"] for c in response.json()["campaigns"])


# --- pure checks --------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["\n", " ", "\t", "\r\n"])
@pytest.mark.parametrize(
    "check",
    [
        validate_campaign_id,
        validate_slug,
        validate_handle,
        validate_rule_id,
        lambda value: validate_stages(
            [{"name": "clicks", "eventTypes": []}, {"name": value, "eventTypes": ["purchase"]}]
            + [{"name": "conversions", "eventTypes": []}]
        ),
        lambda value: validate_stages(
            [{"name": "clicks", "eventTypes": []}, {"name": "conversions", "eventTypes": [value]}]
        ),
    ],
    ids=["campaign_id", "slug", "handle", "rule_id", "stage_name", "stage_event_type"],
)
def test_no_identifier_pattern_takes_trailing_whitespace(check, suffix):
    check("abcd")  # the bare identifier is fine
    with pytest.raises(InvalidInput):
        check("abcd" + suffix)


# --- campaigns ------------------------------------------------------------------------------


async def test_campaign_ids_with_whitespace_are_refused_not_trimmed(client, tenant):
    for campaign_id in SPACED:
        response = await make_campaign(client, tenant, campaign_id, expect=None)
        assert_refused(response, "invalid_campaign_id")
    assert await campaign_ids(client, tenant) == []


async def test_graphql_campaign_id_with_a_newline_is_refused(client, tenant):
    body = await gql(
        client,
        """mutation($h: String!, $input: CreateCampaignInput!) {
          createCampaign(handle: $h, input: $input) { campaign { campaignId } }
        }""",
        tenant.auth(),
        h=tenant.handle,
        input={"campaignId": "abcd\n", "goalType": "PRODUCT_SALE"},
    )
    assert [e["extensions"]["code"] for e in body["errors"]] == ["invalid_campaign_id"], body
    assert await campaign_ids(client, tenant) == []


async def test_primary_slug_with_a_newline_is_refused(client, tenant):
    response = await make_campaign(client, tenant, "spring", primarySlug="promo\n", expect=None)
    assert_refused(response, "invalid_slug")
    await make_campaign(client, tenant, "spring", expect=None)
    response = await client.patch(
        f"{base(tenant.handle)}/campaigns/spring",
        json={"primarySlug": " promo"},
        headers=tenant.auth(),
    )
    assert_refused(response, "invalid_slug")


async def test_campaign_name_is_still_trimmed(client, tenant):
    """Free text keeps its old behaviour; only identifiers are exact."""
    response = await make_campaign(client, tenant, "named", name="  Spring sale \n", expect=None)
    assert response.status_code == 201, response.text
    assert response.json()["campaign"]["name"] == "Spring sale"


async def test_conversion_event_type_with_a_newline_is_refused_at_creation(client, tenant):
    response = await make_campaign(
        client, tenant, "evtype", conversionEventType="purchase\n", expect=None
    )
    assert_refused(response)
    assert "conversionEventType" in response.json()["message"]
    found = await client.get(f"{base(tenant.handle)}/campaigns/evtype", headers=tenant.auth())
    assert found.status_code == 404, found.text


# --- links ----------------------------------------------------------------------------------


async def test_slug_with_a_newline_in_the_path_creates_no_link(client, tenant):
    response = await client.put(
        f"{base(tenant.handle)}/links/x%0A",
        json={"destinationUrl": "https://shop.example.com/"},
        headers=tenant.auth(),
    )
    assert_refused(response)
    listed = await client.get(f"{base(tenant.handle)}/links", headers=tenant.auth())
    assert listed.json()["links"] == []


async def test_graphql_slug_with_a_newline_is_refused(client, tenant):
    body = await gql(
        client,
        """mutation($h: String!, $slug: String!, $input: LinkInput!) {
          upsertLink(handle: $h, slug: $slug, input: $input) { slug }
        }""",
        tenant.auth(),
        h=tenant.handle,
        slug="x\n",
        input={"destinationUrl": "https://shop.example.com/"},
    )
    assert [e["extensions"]["code"] for e in body["errors"]] == ["invalid_slug"], body


async def test_link_campaign_id_is_not_trimmed_into_another_campaign(client, tenant):
    await make_campaign(client, tenant, "spring", expect=None)
    response = await client.put(
        f"{base(tenant.handle)}/links/promo",
        json={"destinationUrl": "https://shop.example.com/", "campaignId": "spring "},
        headers=tenant.auth(),
    )
    assert response.status_code == 404, response.text
    assert response.json()["error"] == "campaign_not_found"


# --- conversions ----------------------------------------------------------------------------


async def test_event_type_with_a_newline_is_refused(client, tenant):
    await make_campaign(client, tenant, "spring", status="ACTIVE", expect=None)
    url = f"{base(tenant.handle)}/conversions"
    single = await client.post(
        url, json={"eventType": "purchase\n", "campaignId": "spring"}, headers=tenant.auth()
    )
    assert_refused(single)
    batch = await client.post(
        url,
        json={
            "events": [
                {"eventType": "purchase\n", "campaignId": "spring"},
                {"eventType": "purchase", "campaignId": "spring"},
            ]
        },
        headers=tenant.auth(),
    )
    assert batch.status_code == 200, batch.text
    results = batch.json()["results"]
    assert [r["status"] for r in results] == ["rejected", "created"], results
    assert results[0]["error"] == "invalid_request"


async def test_event_ids_are_kept_exactly(client, tenant):
    await make_campaign(client, tenant, "spring", expect=None)
    response = await client.post(
        f"{base(tenant.handle)}/campaigns/spring/test-conversion",
        json={"eventId": " evt-1 "},
        headers=tenant.auth(),
    )
    assert response.status_code == 201, response.text
    assert response.json()["conversion"]["eventId"] == " evt-1 "


# --- rules, stages, pages, webhooks, tokens -------------------------------------------------


async def test_rule_ids_and_variant_ids_are_not_trimmed(client, tenant):
    url = f"{base(tenant.handle)}/personalization/rules"
    variant = {"id": "mobile", "destinationUrl": "https://m.shop.example.com/"}
    response = await client.post(
        url, json={"ruleId": "rule-one\n", "variant": variant}, headers=tenant.auth()
    )
    assert_refused(response, "invalid_rule_id")
    response = await client.post(
        url, json={"variant": {**variant, "id": "mobile\n"}}, headers=tenant.auth()
    )
    assert_refused(response)
    assert (await client.get(url, headers=tenant.auth())).json()["rules"] == []


async def test_stage_names_and_event_types_with_a_newline_are_refused(client, tenant):
    url = f"{base(tenant.handle)}/funnel-stages"
    for stages in (
        [
            {"name": "clicks", "eventTypes": []},
            {"name": "checkout\n", "eventTypes": ["begin_checkout"]},
            {"name": "conversions", "eventTypes": []},
        ],
        [{"name": "clicks", "eventTypes": []}, {"name": "conversions", "eventTypes": ["buy\n"]}],
    ):
        response = await client.put(url, json={"stages": stages}, headers=tenant.auth("ADMIN"))
        assert_refused(response)


async def test_page_slug_is_not_trimmed(client, tenant):
    await make_campaign(client, tenant, "spring", expect=None)
    response = await client.put(
        f"{base(tenant.handle)}/site-structure/campaigns/spring",
        json={"page": {"slug": "about\n", "title": "About"}, "schema": {}},
        headers=tenant.auth(),
    )
    assert_refused(response)


async def test_webhook_event_names_and_token_scopes_are_exact(client, tenant):
    response = await client.post(
        f"{base(tenant.handle)}/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": [" conversion.created"]},
        headers=tenant.auth("ADMIN"),
    )
    assert_refused(response)
    response = await client.post(
        f"{base(tenant.handle)}/tokens",
        json={"scopes": ["analytics.read\n"]},
        headers=tenant.auth("ADMIN"),
    )
    assert_refused(response)


# --- lookups of ids no row can hold ---------------------------------------------------------


@pytest.mark.parametrize("bad", ["a\x00b", "a\ud800b"])
async def test_lookups_of_unstorable_ids_are_not_found(ctx, tenant, bad):
    """PostgreSQL cannot compare a NUL, nor asyncpg encode a lone surrogate: such an id (from a
    GraphQL variable, say) is simply not there."""
    ctx.principal = Principal("tester", "jwt", {tenant.handle: Role.ADMIN})
    h = tenant.handle
    lookups = [
        lambda: campaigns.get_campaign(ctx, h, bad),
        lambda: links.get_link(ctx, h, bad),
        lambda: personalization.get_rule(ctx, h, bad),
        lambda: personalization.delete_rule(ctx, h, bad),
        lambda: pages.get_page(ctx, h, bad),
        lambda: pages.find_campaign_by_page_slug(ctx, h, bad),
        lambda: tokens.revoke_pat(ctx, h, bad),
        lambda: webhooks.get_webhook(ctx, h, bad),
        lambda: webhooks.redeliver(ctx, h, bad),
    ]
    for lookup in lookups:
        with pytest.raises(NotFound):
            await lookup()


@pytest.mark.parametrize("bad", ["a\x00b", "a\ud800b"])
async def test_unstorable_token_and_account_names_are_invalid(ctx, tenant, bad):
    ctx.principal = Principal("tester", "jwt", {tenant.handle: Role.ADMIN})
    with pytest.raises(InvalidInput):
        await tokens.issue_pat(ctx, tenant.handle, ["analytics.read"], name=bad)
    with pytest.raises(InvalidInput):
        await create_account(ctx, "00000000000000000000beef", bad, ["beef-handle"])
