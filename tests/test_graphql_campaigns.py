"""The campaign flow through GraphQL, and its agreement with the REST shim."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from db.tables import Conversion, OutboxEvent
from tests.conftest import gql
from tests.factories import make_campaign
from tests.inprocess import serving

QUICK_START = [
    "Share the short URL in your campaign channel.",
    "Click once to validate click/context tracking.",
    "Post one conversion event to complete activation.",
]

CAMPAIGN_FIELDS = """
  campaignId handle name goalType trackingPreset conversionEventType status
  primarySlug detailsPageSlug createdAt updatedAt
"""
LINK_FIELDS = """
  slug handle destinationUrl campaignId trackingPolicy { mode appendContextParam }
  shortPath createdAt updatedAt
"""

CREATE = f"""
mutation($h: String!, $input: CreateCampaignInput!) {{
  createCampaign(handle: $h, input: $input) {{ campaign {{ {CAMPAIGN_FIELDS} }} quickStart }}
}}"""
SET_STATUS = f"""
mutation($h: String!, $id: String!, $s: CampaignStatus!) {{
  setCampaignStatus(handle: $h, campaignId: $id, status: $s) {{ {CAMPAIGN_FIELDS} }}
}}"""
GET_CAMPAIGN = f"""
query($h: String!, $id: String!) {{ campaign(handle: $h, campaignId: $id) {{ {CAMPAIGN_FIELDS} }} }}
"""
LIST_CAMPAIGNS = f"""
query($h: String!, $status: CampaignStatus, $first: Int, $after: String) {{
  campaigns(handle: $h, status: $status, first: $first, after: $after) {{
    edges {{ cursor node {{ {CAMPAIGN_FIELDS} }} }}
    pageInfo {{ hasNextPage endCursor }}
    totalCount
  }}
}}"""
UPSERT_LINK = f"""
mutation($h: String!, $slug: String!, $input: LinkInput!) {{
  upsertLink(handle: $h, slug: $slug, input: $input) {{ {LINK_FIELDS} }}
}}"""
DELETE_LINK = """
mutation($h: String!, $slug: String!) { deleteLink(handle: $h, slug: $slug) }
"""
GET_LINK = f"""
query($h: String!, $slug: String!) {{ link(handle: $h, slug: $slug) {{ {LINK_FIELDS} }} }}
"""
LIST_LINKS = f"""
query($h: String!, $c: String, $first: Int, $after: String) {{
  links(handle: $h, campaignId: $c, first: $first, after: $after) {{
    edges {{ cursor node {{ {LINK_FIELDS} }} }}
    pageInfo {{ hasNextPage endCursor }}
    totalCount
  }}
}}"""
HEALTH = """
query($h: String!, $id: String!) {
  campaignHealth(handle: $h, campaignId: $id) { campaignId checks { name status detail } readiness }
}"""
TEST_CONVERSION = """
mutation($h: String!, $id: String!, $input: TestConversionInput) {
  testConversion(handle: $h, campaignId: $id, input: $input) {
    status webhookEventId
    conversion { conversionId eventId eventType campaignId value currency metadata test }
  }
}"""


def error_code(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    return body["errors"][0]["extensions"]["code"]


def instant(value: str) -> datetime:
    """A timestamp from either adapter, as an aware UTC datetime at millisecond precision."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, value
    parsed = parsed.astimezone(UTC)
    return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)


def normalized(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        k: instant(v) if k in ("createdAt", "updatedAt") and v is not None else v
        for k, v in obj.items()
    }


async def rest_campaign(client, tenant, campaign_id: str) -> dict[str, Any]:
    response = await client.get(
        f"/v2/handles/{tenant.handle}/campaigns/{campaign_id}", headers=tenant.auth()
    )
    assert response.status_code == 200, response.text
    return response.json()["campaign"]


async def gql_create(client, tenant, **input_: Any) -> dict[str, Any]:
    input_.setdefault("goalType", "PRODUCT_SALE")
    return await gql(client, CREATE, tenant.auth(), h=tenant.handle, input=input_)


# --- campaigns ------------------------------------------------------------------------


async def test_create_campaign_mutation_returns_campaign_and_quick_start(client, tenant):
    body = await gql_create(
        client, tenant, campaignId="spring-launch", status="ACTIVE", primarySlug="spring-promo"
    )
    assert "errors" not in body, body
    payload = body["data"]["createCampaign"]
    assert payload["quickStart"] == QUICK_START
    campaign = payload["campaign"]
    assert campaign["campaignId"] == "spring-launch"
    assert campaign["handle"] == tenant.handle
    assert campaign["goalType"] == "PRODUCT_SALE"
    assert campaign["trackingPreset"] == "ga4_purchase"
    assert campaign["conversionEventType"] == "purchase"
    assert campaign["status"] == "ACTIVE"
    assert campaign["primarySlug"] == "spring-promo"


async def test_create_campaign_mutation_applies_goal_defaults(client, tenant):
    for goal, preset, event_type in [
        ("PRODUCT_SALE", "ga4_purchase", "purchase"),
        ("LEAD_CAPTURE", "ga4_lead", "lead"),
        ("NEWSLETTER", "ga4_sign_up", "newsletter_signup"),
        ("AFFILIATE_CLICKOUT", "custom_webhook", "affiliate_click"),
        ("APP_INSTALL", "ga4_app_install", "app_install"),
    ]:
        body = await gql_create(client, tenant, goalType=goal)
        assert "errors" not in body, body
        campaign = body["data"]["createCampaign"]["campaign"]
        assert re.fullmatch(r"cmp_[0-9a-f]+", campaign["campaignId"])
        assert campaign["status"] == "DRAFT"
        assert (campaign["trackingPreset"], campaign["conversionEventType"]) == (
            preset,
            event_type,
        ), goal


async def test_create_campaign_mutation_accepts_overrides(client, tenant):
    body = await gql_create(
        client, tenant, goalType="NEWSLETTER", trackingPreset="tag_x", conversionEventType="join"
    )
    campaign = body["data"]["createCampaign"]["campaign"]
    assert (campaign["trackingPreset"], campaign["conversionEventType"]) == ("tag_x", "join")


async def test_campaign_created_over_rest_reads_identically_over_graphql(client, tenant):
    await make_campaign(
        client,
        tenant,
        "same-everywhere",
        goal_type="LEAD_CAPTURE",
        name="Same everywhere",
        conversionEventType="demo_request",
        primarySlug="demo",
    )
    rest = await rest_campaign(client, tenant, "same-everywhere")
    graph = (await gql(client, GET_CAMPAIGN, tenant.auth(), h=tenant.handle, id="same-everywhere"))[
        "data"
    ]["campaign"]
    assert set(graph) == set(rest)
    assert normalized(graph) == normalized(rest)
    assert graph["name"] == "Same everywhere"


async def test_campaign_created_over_graphql_reads_identically_over_rest(client, tenant):
    body = await gql_create(client, tenant, campaignId="made-in-graphql", goalType="APP_INSTALL")
    graph = body["data"]["createCampaign"]["campaign"]
    rest = await rest_campaign(client, tenant, "made-in-graphql")
    assert normalized(graph) == normalized(rest)


async def test_campaign_list_agrees_between_rest_and_graphql(client, tenant):
    for cid in ("list-a", "list-b", "list-c"):
        await gql_create(client, tenant, campaignId=cid)
    await gql(client, SET_STATUS, tenant.auth(), h=tenant.handle, id="list-b", s="ACTIVE")
    rest = (
        await client.get(f"/v2/handles/{tenant.handle}/campaigns", headers=tenant.auth())
    ).json()
    graph = (await gql(client, LIST_CAMPAIGNS, tenant.auth(), h=tenant.handle))["data"]["campaigns"]
    assert graph["totalCount"] == rest["total"] == 3
    assert graph["pageInfo"]["hasNextPage"] is rest["hasMore"] is False
    assert [normalized(e["node"]) for e in graph["edges"]] == [
        normalized(c) for c in rest["campaigns"]
    ]

    active = (await gql(client, LIST_CAMPAIGNS, tenant.auth(), h=tenant.handle, status="ACTIVE"))[
        "data"
    ]["campaigns"]
    assert [e["node"]["campaignId"] for e in active["edges"]] == ["list-b"]
    assert active["totalCount"] == 1


async def test_campaigns_connection_paginates_without_gaps(client, tenant):
    expected = {f"gql-page-{i}" for i in range(5)}
    for cid in expected:
        await gql_create(client, tenant, campaignId=cid)
    seen: list[str] = []
    after = None
    while True:
        conn = (
            await gql(client, LIST_CAMPAIGNS, tenant.auth(), h=tenant.handle, first=2, after=after)
        )["data"]["campaigns"]
        assert conn["totalCount"] == 5
        assert len(conn["edges"]) <= 2
        seen += [e["node"]["campaignId"] for e in conn["edges"]]
        if conn["edges"]:
            assert conn["pageInfo"]["endCursor"] == conn["edges"][-1]["cursor"]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert len(seen) == 5 and set(seen) == expected


async def test_campaigns_connection_rejects_bad_page_size(client, tenant):
    for first in (0, 101, -5):
        body = await gql(client, LIST_CAMPAIGNS, tenant.auth(), h=tenant.handle, first=first)
        assert body["data"] is None, first
        assert error_code(body) == "invalid_request"


async def test_set_campaign_status_walks_the_lifecycle(client, tenant, ctx):
    await gql_create(client, tenant, campaignId="gql-cycle")
    for target in ("ACTIVE", "PAUSED", "ACTIVE"):
        body = await gql(
            client, SET_STATUS, tenant.auth(), h=tenant.handle, id="gql-cycle", s=target
        )
        assert body["data"]["setCampaignStatus"]["status"] == target
        assert (await rest_campaign(client, tenant, "gql-cycle"))["status"] == target
    async with ctx.sessions() as session:
        count = (
            await session.execute(
                select(func.count())
                .select_from(OutboxEvent)
                .where(
                    OutboxEvent.handle == tenant.handle,
                    OutboxEvent.type == "campaign.status_changed",
                )
            )
        ).scalar_one()
    assert count == 3


async def test_set_campaign_status_rejects_disallowed_moves(client, tenant):
    disallowed = [
        ([], "PAUSED"),
        (["ACTIVE"], "DRAFT"),
        (["ACTIVE"], "ACTIVE"),
        (["ACTIVE", "PAUSED"], "DRAFT"),
    ]
    auth = tenant.auth()
    for n, (path, target) in enumerate(disallowed):
        cid = f"gql-strict-{n}"
        await gql_create(client, tenant, campaignId=cid)
        for step in path:
            await gql(client, SET_STATUS, auth, h=tenant.handle, id=cid, s=step)
        body = await gql(client, SET_STATUS, auth, h=tenant.handle, id=cid, s=target)
        assert body["data"] is None, (path, target)
        assert error_code(body) == "invalid_status_transition"
        assert body["errors"][0]["message"]
        expected = path[-1] if path else "DRAFT"
        assert (await rest_campaign(client, tenant, cid))["status"] == expected


async def test_create_campaign_cannot_start_paused(client, tenant):
    body = await gql_create(client, tenant, campaignId="gql-paused", status="PAUSED")
    assert body["data"] is None
    assert error_code(body) == "invalid_status_transition"


async def test_create_campaign_rejects_invalid_id(client, tenant):
    for bad_id in ["UPPER-case", "ab", "x" * 65, "-dash", ""]:
        body = await gql_create(client, tenant, campaignId=bad_id)
        assert body["data"] is None, bad_id
        assert error_code(body) == "invalid_campaign_id", bad_id
    listed = (await gql(client, LIST_CAMPAIGNS, tenant.auth(), h=tenant.handle))["data"]
    assert listed["campaigns"]["totalCount"] == 0


async def test_create_campaign_conflict_on_duplicate_id(client, tenant):
    assert "errors" not in await gql_create(client, tenant, campaignId="gql-twice")
    body = await gql_create(client, tenant, campaignId="gql-twice")
    assert body["data"] is None
    assert error_code(body) == "campaign_conflict"


async def test_unknown_campaign_is_not_found(client, tenant):
    for query in (GET_CAMPAIGN, HEALTH):
        body = await gql(client, query, tenant.auth(), h=tenant.handle, id="gql-ghost")
        assert body["data"] is None
        assert error_code(body) == "campaign_not_found"
    body = await gql(client, SET_STATUS, tenant.auth(), h=tenant.handle, id="gql-ghost", s="ACTIVE")
    assert error_code(body) == "campaign_not_found"
    body = await gql(client, TEST_CONVERSION, tenant.auth(), h=tenant.handle, id="gql-ghost")
    assert error_code(body) == "campaign_not_found"


# --- links ----------------------------------------------------------------------------


async def test_link_flow_and_agreement_with_rest(client, tenant):
    await gql_create(client, tenant, campaignId="link-camp")
    created = await gql(
        client,
        UPSERT_LINK,
        tenant.auth(),
        h=tenant.handle,
        slug="gql-link",
        input={
            "destinationUrl": "https://shop.example.com/a",
            "campaignId": "link-camp",
            "trackingPolicy": {"mode": "DIRECT", "appendContextParam": True},
        },
    )
    assert "errors" not in created, created
    link = created["data"]["upsertLink"]
    assert link["slug"] == "gql-link"
    assert link["campaignId"] == "link-camp"
    assert link["trackingPolicy"] == {"mode": "DIRECT", "appendContextParam": True}
    assert link["shortPath"] == f"/{tenant.handle}/gql-link"

    rest = (
        await client.get(f"/v2/handles/{tenant.handle}/links/gql-link", headers=tenant.auth())
    ).json()["link"]
    fetched = (await gql(client, GET_LINK, tenant.auth(), h=tenant.handle, slug="gql-link"))[
        "data"
    ]["link"]
    assert normalized(fetched) == normalized(rest) == normalized(link)

    updated = await gql(
        client,
        UPSERT_LINK,
        tenant.auth(),
        h=tenant.handle,
        slug="gql-link",
        input={"destinationUrl": "http://shop.example.com/b"},
    )
    assert updated["data"]["upsertLink"]["destinationUrl"] == "http://shop.example.com/b"
    assert updated["data"]["upsertLink"]["campaignId"] is None

    deleted = await gql(client, DELETE_LINK, tenant.auth(), h=tenant.handle, slug="gql-link")
    assert deleted["data"] == {"deleteLink": True}
    gone = await gql(client, GET_LINK, tenant.auth(), h=tenant.handle, slug="gql-link")
    assert gone["data"] is None
    assert error_code(gone) == "link_not_found"
    again = await gql(client, DELETE_LINK, tenant.auth(), h=tenant.handle, slug="gql-link")
    assert error_code(again) == "link_not_found"


async def test_links_connection_filters_by_campaign(client, tenant):
    await gql_create(client, tenant, campaignId="filter-camp")
    for slug, campaign in (("l-1", "filter-camp"), ("l-2", None), ("l-3", "filter-camp")):
        body = await gql(
            client,
            UPSERT_LINK,
            tenant.auth(),
            h=tenant.handle,
            slug=slug,
            input={"destinationUrl": "https://example.com/", "campaignId": campaign},
        )
        assert "errors" not in body, body
    everything = (await gql(client, LIST_LINKS, tenant.auth(), h=tenant.handle))["data"]["links"]
    assert [e["node"]["slug"] for e in everything["edges"]] == ["l-1", "l-2", "l-3"]
    assert everything["totalCount"] == 3
    filtered = (await gql(client, LIST_LINKS, tenant.auth(), h=tenant.handle, c="filter-camp"))[
        "data"
    ]["links"]
    assert [e["node"]["slug"] for e in filtered["edges"]] == ["l-1", "l-3"]
    page = (await gql(client, LIST_LINKS, tenant.auth(), h=tenant.handle, first=2))["data"]["links"]
    rest = await gql(
        client,
        LIST_LINKS,
        tenant.auth(),
        h=tenant.handle,
        first=2,
        after=page["pageInfo"]["endCursor"],
    )
    assert [e["node"]["slug"] for e in page["edges"]] == ["l-1", "l-2"]
    assert page["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["slug"] for e in rest["data"]["links"]["edges"]] == ["l-3"]


async def test_upsert_link_rejects_non_http_destination(client, tenant):
    for destination in ["ftp://x.example.com/", "javascript:alert(1)", "/rel"]:
        body = await gql(
            client,
            UPSERT_LINK,
            tenant.auth(),
            h=tenant.handle,
            slug="bad",
            input={"destinationUrl": destination},
        )
        assert body["data"] is None, destination
        assert error_code(body) in ("invalid_request", "invalid_destination_url")


async def test_upsert_link_with_unknown_campaign_is_not_found(client, tenant):
    body = await gql(
        client,
        UPSERT_LINK,
        tenant.auth(),
        h=tenant.handle,
        slug="orphan",
        input={"destinationUrl": "https://example.com/", "campaignId": "nope-nope"},
    )
    assert error_code(body) == "campaign_not_found"


# --- health and test conversions -------------------------------------------------------


async def test_campaign_health_agrees_with_rest(client, tenant):
    await gql_create(client, tenant, campaignId="healthy", primarySlug="healthy-link")
    await gql(
        client,
        UPSERT_LINK,
        tenant.auth(),
        h=tenant.handle,
        slug="healthy-link",
        input={"destinationUrl": "https://example.com/", "campaignId": "healthy"},
    )
    graph = (await gql(client, HEALTH, tenant.auth("VIEWER"), h=tenant.handle, id="healthy"))[
        "data"
    ]["campaignHealth"]
    rest = (
        await client.get(
            f"/v2/handles/{tenant.handle}/campaigns/healthy/health", headers=tenant.auth()
        )
    ).json()
    assert graph == rest
    assert graph["readiness"] == "READY"
    by_name = {c["name"]: c for c in graph["checks"]}
    assert by_name["primary_link"]["status"] == "PASS"


async def test_test_conversion_mutation_is_idempotent(client, tenant, ctx):
    await gql_create(client, tenant, campaignId="gql-conv")
    variables = {
        "h": tenant.handle,
        "id": "gql-conv",
        "input": {
            "eventType": "purchase",
            "value": 99.99,
            "currency": "usd",
            "metadata": {"orderId": "12345", "items": 3},
            "eventId": "gql-order-1",
        },
    }
    first = await gql(client, TEST_CONVERSION, tenant.auth(), **variables)
    assert "errors" not in first, first
    payload = first["data"]["testConversion"]
    assert payload["status"] == "created"
    assert payload["webhookEventId"]
    conversion = payload["conversion"]
    assert conversion["eventId"] == "gql-order-1"
    assert conversion["campaignId"] == "gql-conv"
    assert conversion["value"] == pytest.approx(99.99)
    assert conversion["currency"] == "USD"
    assert conversion["metadata"] == {"orderId": "12345", "items": 3, "test": True}
    assert conversion["test"] is True

    second = await gql(client, TEST_CONVERSION, tenant.auth(), **variables)
    assert second["data"]["testConversion"]["status"] == "duplicate"
    assert (
        second["data"]["testConversion"]["conversion"]["conversionId"]
        == (conversion["conversionId"])
    )
    async with ctx.sessions() as session:
        stored = (
            await session.execute(
                select(func.count())
                .select_from(Conversion)
                .where(Conversion.handle == tenant.handle, Conversion.campaign_id == "gql-conv")
            )
        ).scalar_one()
        event = await session.get(OutboxEvent, payload["webhookEventId"])
    assert stored == 1
    assert event is not None and event.type == "conversion.tested"

    health = (await gql(client, HEALTH, tenant.auth(), h=tenant.handle, id="gql-conv"))["data"]
    checks = {c["name"]: c["status"] for c in health["campaignHealth"]["checks"]}
    assert checks["first_conversion"] == "PASS"


async def test_test_conversion_mutation_without_input_uses_campaign_event_type(client, tenant):
    await gql_create(client, tenant, campaignId="gql-noinput", goalType="NEWSLETTER")
    body = await gql(client, TEST_CONVERSION, tenant.auth(), h=tenant.handle, id="gql-noinput")
    conversion = body["data"]["testConversion"]["conversion"]
    assert conversion["eventType"] == "newsletter_signup"
    assert conversion["metadata"] == {"test": True}


# --- auth codes -----------------------------------------------------------------------


async def test_graphql_without_token_is_unauthenticated(client, tenant):
    body = await gql(client, GET_CAMPAIGN, None, h=tenant.handle, id="anything")
    assert body["data"] is None
    assert error_code(body) == "unauthenticated"
    body = await gql(client, CREATE, None, h=tenant.handle, input={"goalType": "PRODUCT_SALE"})
    assert error_code(body) == "unauthenticated"


async def test_graphql_with_bad_token_is_unauthenticated(client, tenant):
    body = await gql(client, LIST_CAMPAIGNS, {"Authorization": "Bearer not.a.jwt"}, h=tenant.handle)
    assert body["data"] is None
    assert error_code(body) == "unauthenticated"


async def test_graphql_token_of_other_handle_is_forbidden(client, tenant):
    await gql_create(client, tenant, campaignId="private-camp")
    outsider = tenant.auth("ADMIN", handle=tenant.other_handle)
    body = await gql(client, GET_CAMPAIGN, outsider, h=tenant.handle, id="private-camp")
    assert body["data"] is None
    assert error_code(body) == "forbidden"
    assert "private-camp" not in str(body)
    body = await gql(client, LIST_CAMPAIGNS, outsider, h=tenant.handle)
    assert error_code(body) == "forbidden"


async def test_graphql_viewer_cannot_create(client, tenant):
    body = await gql(
        client, CREATE, tenant.auth("VIEWER"), h=tenant.handle, input={"goalType": "PRODUCT_SALE"}
    )
    assert body["data"] is None
    assert error_code(body) == "forbidden"
    listed = (await gql(client, LIST_CAMPAIGNS, tenant.auth("VIEWER"), h=tenant.handle))["data"]
    assert listed["campaigns"]["totalCount"] == 0


# --- schema-level protections ---------------------------------------------------------


async def test_introspection_is_available(client, tenant):
    body = await gql(
        client,
        """{ __schema { queryType { name } mutationType { name } }
             __type(name: "Campaign") { fields { name } } }""",
        tenant.auth(),
    )
    assert "errors" not in body, body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"
    assert body["data"]["__schema"]["mutationType"]["name"] == "Mutation"
    fields = {f["name"] for f in body["data"]["__type"]["fields"]}
    assert {"campaignId", "goalType", "trackingPreset", "conversionEventType", "status"} <= fields


async def test_query_deeper_than_default_limit_is_rejected(client, tenant):
    # Thirteen levels: the schema has no recursive type that deep, so the depth limiter must
    # speak before (and independently of) field resolution.
    deep = "x " + "".join("{ x " for _ in range(13)) + "}" * 13
    body = await gql(client, "query Deep { " + deep + " }", tenant.auth())
    assert body.get("data") is None
    messages = " ".join(e["message"] for e in body["errors"])
    assert "depth" in messages and "12" in messages


@pytest.fixture
async def shallow_client(settings):
    """An app with a depth limit of 2, to test the limiter on real fields."""
    async with serving(settings, graphql_max_depth=2) as c:
        yield c


async def test_depth_limit_applies_to_real_queries(shallow_client, tenant):
    # campaigns → edges → node → campaignId is three levels deep.
    too_deep = "query($h: String!) { campaigns(handle: $h) { edges { node { campaignId } } } }"
    body = await gql(shallow_client, too_deep, tenant.auth(), h=tenant.handle)
    assert body.get("data") is None
    assert "depth" in body["errors"][0]["message"]
    shallow = "query($h: String!) { campaigns(handle: $h) { totalCount pageInfo { hasNextPage } } }"
    body = await gql(shallow_client, shallow, tenant.auth(), h=tenant.handle)
    assert "errors" not in body, body
    assert body["data"]["campaigns"]["totalCount"] == 0


async def test_more_than_thirty_aliases_are_rejected(client, tenant):
    def aliased(n: int) -> str:
        return "query { " + " ".join(f"a{i}: __typename" for i in range(n)) + " }"

    allowed = await gql(client, aliased(30), tenant.auth())
    assert "errors" not in allowed, allowed
    assert len(allowed["data"]) == 30

    body = await gql(client, aliased(31), tenant.auth())
    assert body.get("data") is None
    assert body["errors"]
    assert "alias" in body["errors"][0]["message"].lower()


async def test_aliased_campaign_fetches_over_the_limit_touch_nothing(client, tenant):
    fields = " ".join(
        f'c{i}: createCampaign(handle: $h, input: {{goalType: PRODUCT_SALE, campaignId: "al-{i}"}})'
        " { campaign { campaignId } }"
        for i in range(31)
    )
    body = await gql(
        client, f"mutation($h: String!) {{ {fields} }}", tenant.auth(), h=tenant.handle
    )
    assert body.get("data") is None
    listed = (await gql(client, LIST_CAMPAIGNS, tenant.auth(), h=tenant.handle))["data"]
    assert listed["campaigns"]["totalCount"] == 0


async def test_syntax_error_is_reported_without_data(client, tenant):
    response = await client.post("/graphql", json={"query": "{ campaigns( "}, headers=tenant.auth())
    body = response.json()
    assert body.get("data") is None
    assert body["errors"]
