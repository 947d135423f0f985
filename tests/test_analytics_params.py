"""Analytics parameters, auth and compression: /v1/funnel, /v2 analytics, funnel stages."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from resolvers.accounts import create_account
from resolvers.auth import mint_jwt
from tests.conftest import JWT_SECRET, gql
from tests.factories import make_campaign, make_link

V1_ERROR_KEYS = {"status", "message"}
# A person's browser: httpx's own User-Agent counts as a bot.
BROWSER = {
    "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36"
}


def v1_url(**params: Any) -> str:
    return "/v1/funnel?" + "&".join(f"{k}={v}" for k, v in params.items() if v is not None)


def good_params(tenant, **overrides: Any) -> dict[str, Any]:
    return {
        "account_id": tenant.account_id,
        "report_type": "Source",
        "date_range": "last_30_days",
    } | overrides


# --- /v1/funnel: bad parameters --------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"account_id": None}, "account_id"),
        ({"account_id": ""}, "account_id"),
        ({"report_type": None}, "report_type"),
        ({"date_range": None}, "date_range"),
        ({"account_id": "xyz"}, "account_id"),
        ({"account_id": "000000000000000000001234X"}, "account_id"),
        ({"report_type": "Browser"}, "report_type"),
        ({"date_range": "2023-06-01,2023-06-30"}, "date_range"),
        ({"date_range": "20230631,20230701"}, "date_range"),
        ({"date_range": "20230630,20230601"}, "date_range"),
        ({"date_range": "20230601"}, "date_range"),
        ({"date_range": "last_90_days"}, "date_range"),
        ({"skip": -1}, "skip"),
        ({"skip": "x"}, "skip"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"limit": -5}, "limit"),
        ({"country": "zz"}, "country"),
        ({"country": "ESP"}, "country"),
        ({"country": "1"}, "country"),
    ],
)
async def test_v1_bad_parameter_is_400_naming_it(client, tenant, overrides, named):
    params = {k: v for k, v in good_params(tenant, **overrides).items() if v is not None}
    r = await client.get(v1_url(**params), headers=tenant.auth())
    assert r.status_code == 400, r.text
    body = r.json()
    assert set(body) == V1_ERROR_KEYS
    assert body["status"] == "error"
    assert named in body["message"], body


async def test_v1_missing_parameter_message_matches_the_seed(client, tenant):
    r = await client.get(v1_url(report_type="Source", date_range="today"), headers=tenant.auth())
    assert r.status_code == 400
    assert r.json() == {"status": "error", "message": "Missing required parameter: account_id"}


async def test_v1_good_parameters_at_the_bounds_are_accepted(client, tenant):
    for extra in ({"limit": 1}, {"limit": 100}, {"skip": 0}, {"skip": 10_000}, {"country": "es"}):
        r = await client.get(v1_url(**good_params(tenant, **extra)), headers=tenant.auth())
        assert r.status_code == 200, (extra, r.text)
        assert r.json() == {"status": "ok", "data": []}


async def test_v1_without_token_is_401_in_the_seed_shape(client, tenant):
    r = await client.get(v1_url(**good_params(tenant)))
    assert r.status_code == 401
    assert r.json() == {"status": "error", "message": "Unauthenticated"}
    r = await client.get(
        v1_url(**good_params(tenant)), headers={"Authorization": "Bearer not-a-token"}
    )
    assert r.status_code == 401
    assert r.json()["status"] == "error" and set(r.json()) == V1_ERROR_KEYS


async def test_v1_token_of_another_accounts_handle_is_403(client, tenant):
    r = await client.get(
        v1_url(**good_params(tenant)), headers=tenant.auth(handle=tenant.other_handle)
    )
    assert r.status_code == 403
    body = r.json()
    assert body["status"] == "error" and set(body) == V1_ERROR_KEYS
    # An account nobody may read looks the same as one that does not exist.
    r = await client.get(v1_url(**good_params(tenant, account_id="f" * 24)), headers=tenant.auth())
    assert r.status_code == 403
    assert r.json()["status"] == "error"


@pytest.mark.parametrize(
    ("scopes", "role", "allowed"),
    [
        (("analytics.read",), None, True),
        (("analytics.*",), None, True),
        (("campaigns.read",), None, False),
        (("campaigns.write", "conversions.write", "pages.read"), None, False),
        (None, "VIEWER", False),
        (None, "CREATOR", True),
        (None, "ADMIN", True),
    ],
)
async def test_who_may_read_analytics(client, tenant, make_pat, scopes, role, allowed):
    await make_campaign(client, tenant, status="ACTIVE")
    if scopes:
        headers = {"Authorization": f"Bearer {await make_pat(tenant.handle, *scopes)}"}
    else:
        headers = tenant.auth(role)
    h = tenant.handle
    urls = [
        f"/v2/handles/{h}/analytics?funnel=true",
        f"/v2/handles/{h}/analytics?funnel=true&campaignId=spring-launch",
        f"/v2/handles/{h}/analytics?groupBy=segment&campaignId=spring-launch",
        v1_url(**good_params(tenant)),
    ]
    for url in urls:
        r = await client.get(url, headers=headers)
        assert r.status_code == (200 if allowed else 403), (url, r.text)
        if not allowed:
            body = r.json()
            if url.startswith("/v1/"):
                assert body["status"] == "error"
            else:
                assert body["error"] == "forbidden"
    body = await gql(
        client,
        "query($h: String!){ analytics(handle: $h){ aggregate { clicks } } "
        'one: analytics(handle: $h, campaignId: "spring-launch"){ aggregate { clicks } } }',
        headers,
        h=h,
    )
    if allowed:
        assert "errors" not in body, body
    else:
        codes = {e["extensions"]["code"] for e in body["errors"]}
        assert codes == {"forbidden"}, body


async def test_pat_of_another_handle_cannot_read(client, tenant, make_pat):
    token = await make_pat(tenant.other_handle, "analytics.read")
    headers = {"Authorization": f"Bearer {token}"}
    r = await client.get(f"/v2/handles/{tenant.handle}/analytics?funnel=true", headers=headers)
    assert r.status_code == 403
    r = await client.get(v1_url(**good_params(tenant)), headers=headers)
    assert r.status_code == 403


# --- /v2 analytics: bad parameters -----------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("groupBy=foo", "groupBy"),
        ("groupBy=Segment", "groupBy"),
        ("funnel=true&includeTest=maybe", "includeTest"),
        ("groupBy=source&includeTest=2", "includeTest"),
        ("funnel=true&dateRange=2023-06-01,2023-06-30", "dateRange"),
        ("funnel=true&dateRange=20230631,20230701", "dateRange"),
        ("funnel=true&dateRange=20230630,20230601", "dateRange"),
        ("groupBy=day&dateRange=next_week", "dateRange"),
        ("funnel=true&campaignId=spring-launch&dateRange=x", "dateRange"),
        ("funnel=maybe", "funnel"),
        ("funnel=false", "funnel"),
    ],
)
async def test_v2_bad_parameter_is_400_invalid_request(client, tenant, query, named):
    await make_campaign(client, tenant, status="ACTIVE")
    r = await client.get(f"/v2/handles/{tenant.handle}/analytics?{query}", headers=tenant.auth())
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"] == "invalid_request"
    assert named in body["message"], body


async def test_v2_unknown_campaign_is_404(client, tenant):
    for query in ("funnel=true&campaignId=nope-nope", "groupBy=source&campaignId=nope-nope"):
        r = await client.get(
            f"/v2/handles/{tenant.handle}/analytics?{query}", headers=tenant.auth()
        )
        assert r.status_code == 404, r.text
        assert r.json()["error"] == "campaign_not_found"


async def test_v2_without_token_is_401(client, tenant):
    r = await client.get(f"/v2/handles/{tenant.handle}/analytics?funnel=true")
    assert r.status_code == 401
    assert r.json()["error"] == "unauthenticated"


async def test_graphql_bad_analytics_arguments_carry_the_code(client, tenant):
    body = await gql(
        client,
        'query($a: String!){ funnelReport(accountId: $a, reportType: "Browser", '
        'dateRange: "today") { total } }',
        tenant.auth(),
        a=tenant.account_id,
    )
    assert body["errors"][0]["extensions"]["code"] == "invalid_request"
    assert "report_type" in body["errors"][0]["message"]
    body = await gql(
        client,
        'query($h: String!){ analytics(handle: $h, dateRange: "2023-06-01,2023-06-30")'
        "{ aggregate { clicks } } }",
        tenant.auth(),
        h=tenant.handle,
    )
    assert body["errors"][0]["extensions"]["code"] == "invalid_request"


# --- compression -----------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gzip", "br"])
async def test_v1_report_is_compressed_when_asked(client, tenant, encoding):
    await make_campaign(client, tenant, status="ACTIVE")
    await make_link(client, tenant, "promo", campaign_id="spring-launch")
    for i in range(40):
        r = await client.get(f"/{tenant.handle}/promo?utm_source=partner-{i:02d}", headers=BROWSER)
        assert r.status_code == 302
    params = good_params(tenant, date_range="today")
    plain = await client.get(
        v1_url(**params), headers=tenant.auth() | {"Accept-Encoding": "identity"}
    )
    assert plain.status_code == 200
    assert "content-encoding" not in plain.headers
    assert len(plain.content) > 1000
    assert len(plain.json()["data"]) == 40
    r = await client.get(
        v1_url(**params),
        headers=tenant.auth() | {"Accept-Encoding": f"{encoding}", "Accept": "application/json"},
    )
    assert r.status_code == 200
    assert r.headers["content-encoding"] == encoding
    assert "accept-encoding" in r.headers.get("vary", "").lower()
    assert int(r.headers["content-length"]) < len(plain.content)
    assert r.json() == plain.json()  # httpx decodes gzip and br
    # The seed's own header asks for all three; the response picks one of them.
    r = await client.get(
        v1_url(**params), headers=tenant.auth() | {"Accept-Encoding": "gzip, deflate, br"}
    )
    assert r.headers["content-encoding"] in ("gzip", "br")
    assert r.json() == plain.json()


async def test_v2_analytics_is_compressed_too(client, tenant):
    await make_campaign(client, tenant, status="ACTIVE")
    r = await client.get(
        f"/v2/handles/{tenant.handle}/analytics?funnel=true",
        headers=tenant.auth() | {"Accept-Encoding": "gzip"},
    )
    assert r.status_code == 200
    # Small bodies are not worth compressing; a funnel with stages is not small.
    if len(r.content) >= 500:
        assert r.headers.get("content-encoding") == "gzip"


# --- funnel stages ---------------------------------------------------------------------------

DEFAULT_STAGES = [
    {"name": "clicks", "eventTypes": []},
    {"name": "microconversions", "eventTypes": ["microconversion", "view_item"]},
    {"name": "add-to-cart", "eventTypes": ["add_to_cart"]},
    {"name": "checkout", "eventTypes": ["begin_checkout", "checkout"]},
    {"name": "conversions", "eventTypes": []},
]


async def test_default_stages(client, tenant):
    r = await client.get(f"/v2/handles/{tenant.handle}/funnel-stages", headers=tenant.auth())
    assert r.status_code == 200
    assert r.json() == {"stages": DEFAULT_STAGES}


@pytest.mark.parametrize(
    "stages",
    [
        [],
        "clicks",
        [{"name": "microconversions", "eventTypes": ["view_item"]}, {"name": "clicks"}],
        [{"name": "clicks", "eventTypes": ["view_item"]}, {"name": "conversions"}],
        [{"name": "clicks"}, {"name": "conversions"}, {"name": "conversions"}],
        [
            {"name": "clicks"},
            {"name": "views", "eventTypes": ["view_item"]},
            {"name": "views", "eventTypes": ["page_view"]},
            {"name": "conversions"},
        ],
        [{"name": "clicks"}, {"name": "views", "eventTypes": ["view_item"]}],
        [{"name": "clicks"}, {"name": "views", "eventTypes": []}, {"name": "conversions"}],
        [
            {"name": "clicks"},
            {"name": "a", "eventTypes": ["view_item"]},
            {"name": "b", "eventTypes": ["view_item"]},
            {"name": "conversions"},
        ],
        [{"name": "clicks"}, {"name": "Add To Cart", "eventTypes": ["x"]}, {"name": "conversions"}],
        [{"name": "clicks"}, {"name": "x", "eventTypes": ["bad type"]}, {"name": "conversions"}],
        [{"name": "clicks"}, {"name": "conversions", "extra": 1}],
        [{"name": "clicks"}]
        + [{"name": f"s{i}", "eventTypes": [f"e{i}"]} for i in range(11)]
        + [{"name": "conversions"}],
    ],
)
async def test_put_stages_validation(client, tenant, stages):
    url = f"/v2/handles/{tenant.handle}/funnel-stages"
    r = await client.put(url, json={"stages": stages}, headers=tenant.auth("ADMIN"))
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_request"
    assert r.json()["message"]
    r = await client.get(url, headers=tenant.auth())
    assert r.json() == {"stages": DEFAULT_STAGES}  # nothing written


async def test_put_stages_body_must_hold_stages(client, tenant):
    url = f"/v2/handles/{tenant.handle}/funnel-stages"
    for body in ({}, {"stage": []}, []):
        r = await client.put(url, json=body, headers=tenant.auth("ADMIN"))
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "invalid_request"


@pytest.mark.parametrize("role", ["VIEWER", "CREATOR"])
async def test_put_stages_needs_admin(client, tenant, make_pat, role):
    url = f"/v2/handles/{tenant.handle}/funnel-stages"
    body = {"stages": [{"name": "clicks"}, {"name": "conversions"}]}
    r = await client.put(url, json=body, headers=tenant.auth(role))
    assert r.status_code == 403
    assert r.json()["error"] == "forbidden"
    token = await make_pat(tenant.handle, "campaigns.write", "analytics.*")
    r = await client.put(url, json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403
    r = await client.put(url, json=body, headers=tenant.auth("ADMIN", tenant.other_handle))
    assert r.status_code == 403
    r = await client.get(url, headers=tenant.auth())
    assert r.json() == {"stages": DEFAULT_STAGES}


async def test_custom_stages_change_the_report_and_graphql(client, tenant, make_pat):
    h = tenant.handle
    await make_campaign(client, tenant, status="ACTIVE")
    await make_link(client, tenant, "promo", campaign_id="spring-launch")
    stages = [
        {"name": "clicks"},
        {"name": "signups", "eventTypes": ["sign_up"]},
        {"name": "carts", "eventTypes": ["add_to_cart", "add_to_wishlist"]},
        {"name": "conversions"},
    ]
    r = await client.put(
        f"/v2/handles/{h}/funnel-stages", json={"stages": stages}, headers=tenant.auth("ADMIN")
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "stages": [
            {"name": "clicks", "eventTypes": []},
            {"name": "signups", "eventTypes": ["sign_up"]},
            {"name": "carts", "eventTypes": ["add_to_cart", "add_to_wishlist"]},
            {"name": "conversions", "eventTypes": []},
        ]
    }
    for _ in range(3):
        r = await client.get(f"/{h}/promo?utm_source=mail", headers=BROWSER)
        assert r.status_code == 302
    token = await make_pat(h, "conversions.write")
    events = [
        {"eventType": t, "campaignId": "spring-launch"}
        for t in ("sign_up", "sign_up", "add_to_cart", "add_to_wishlist", "view_item", "purchase")
    ]
    r = await client.post(
        f"/v2/handles/{h}/conversions",
        json={"events": events},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.json()["created"] == 6
    expected_counts = {"clicks": 0, "signups": 2, "carts": 2, "conversions": 1}
    r = await client.get(v1_url(**good_params(tenant, date_range="today")), headers=tenant.auth())
    assert r.status_code == 200
    rows = r.json()["data"]
    # Clicks came with utm_source=mail; the events had no click: direct.
    assert rows == [
        {"Source": "mail", "clicks": 3, "signups": 0, "carts": 0, "conversions": 0},
        {"Source": "direct", **expected_counts},
    ]
    body = await gql(
        client,
        """query($h: String!, $a: String!) {
          funnelStages(handle: $h) { name eventTypes }
          campaign(handle: $h, campaignId: "spring-launch") {
            funnel { stages { name count rate dropOff } conversions qualifiedClicks }
          }
          funnelReport(accountId: $a, reportType: "Source", dateRange: "today") {
            rows { value stages { name count } }
          }
        }""",
        tenant.auth(),
        h=h,
        a=tenant.account_id,
    )
    assert "errors" not in body, body
    data = body["data"]
    assert [s["name"] for s in data["funnelStages"]] == [
        "clicks",
        "signups",
        "carts",
        "conversions",
    ]
    assert data["campaign"]["funnel"]["stages"] == [
        {"name": "clicks", "count": 3, "rate": None, "dropOff": 0},
        {"name": "signups", "count": 2, "rate": round(2 / 3, 4), "dropOff": 1},
        {"name": "carts", "count": 2, "rate": 1.0, "dropOff": 0},
        {"name": "conversions", "count": 1, "rate": 0.5, "dropOff": 1},
    ]
    assert data["campaign"]["funnel"]["conversions"] == 1
    assert data["funnelReport"]["rows"][1] == {
        "value": "direct",
        "stages": [{"name": k, "count": v} for k, v in expected_counts.items()],
    }
    # Back to the defaults through GraphQL (ADMIN).
    body = await gql(
        client,
        """mutation($h: String!, $s: [FunnelStageInput!]!) {
          setFunnelStages(handle: $h, stagesInput: $s) { name eventTypes } }""",
        tenant.auth("ADMIN"),
        h=h,
        s=DEFAULT_STAGES,
    )
    assert "errors" not in body, body
    r = await client.get(v1_url(**good_params(tenant, date_range="today")), headers=tenant.auth())
    assert set(r.json()["data"][0]) == {
        "Source",
        "clicks",
        "microconversions",
        "add-to-cart",
        "checkout",
        "conversions",
    }


# --- account timezone and reporting currency -------------------------------------------------


async def test_days_are_local_to_the_account_and_revenue_is_in_its_currency(client, ctx):
    tz = ZoneInfo("Pacific/Kiritimati")  # UTC+14: usually already tomorrow
    now = datetime.now(tz)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    if (midnight - now).total_seconds() < 10:
        await asyncio.sleep((midnight - now).total_seconds() + 1)
    account_id, handle = uuid.uuid4().hex[:24], f"kiri-{uuid.uuid4().hex[:8]}"
    await create_account(ctx, account_id, "Kiri", [handle], timezone=tz.key, currency="EUR")
    jwt = {"Authorization": f"Bearer {mint_jwt(JWT_SECRET, 't', {handle: 'CREATOR'}, 600)}"}
    r = await client.post(
        f"/v2/handles/{handle}/campaigns",
        json={"campaignId": "pacific", "goalType": "PRODUCT_SALE", "status": "ACTIVE"},
        headers=jwt,
    )
    assert r.status_code == 201, r.text
    r = await client.put(
        f"/v2/handles/{handle}/links/go",
        json={"destinationUrl": "https://shop.example.com/", "campaignId": "pacific"},
        headers=jwt,
    )
    assert r.status_code == 201, r.text
    assert (await client.get(f"/{handle}/go", headers=BROWSER)).status_code == 302
    events = [
        {"eventType": "purchase", "campaignId": "pacific", "value": 10, "currency": "EUR"},
        {"eventType": "purchase", "campaignId": "pacific", "value": 5, "currency": "USD"},
        {"eventType": "purchase", "campaignId": "pacific", "value": 7},  # account currency
    ]
    r = await client.post(f"/v2/handles/{handle}/conversions", json={"events": events}, headers=jwt)
    assert r.json()["created"] == 3
    local = datetime.now(tz).date()

    r = await client.get(
        f"/v2/handles/{handle}/analytics?funnel=true&campaignId=pacific", headers=jwt
    )
    f = r.json()["funnel"][0]
    assert (f["currency"], f["revenue"]) == ("EUR", 17.0)
    assert f["revenueByCurrency"] == {"EUR": 17.0, "USD": 5.0}
    r = await client.get(f"/v2/handles/{handle}/analytics?groupBy=day", headers=jwt)
    assert [g["day"] for g in r.json()["groups"]] == [local.isoformat()]
    assert r.json()["groups"][0]["revenue"] == 17.0

    def report(date_range: str) -> str:
        return v1_url(account_id=account_id, report_type="Campaign", date_range=date_range)

    expected = [
        {
            "Campaign": "pacific",
            "clicks": 1,
            "microconversions": 0,
            "add-to-cart": 0,
            "checkout": 0,
            "conversions": 3,
        }
    ]
    for date_range in ("today", f"{local:%Y%m%d},{local:%Y%m%d}", "this_month", "last_7_days"):
        r = await client.get(report(date_range), headers=jwt)
        assert r.json()["data"] == expected, date_range
    yesterday = local - timedelta(days=1)
    for date_range in ("yesterday", f"{yesterday:%Y%m%d},{yesterday:%Y%m%d}"):
        r = await client.get(report(date_range), headers=jwt)
        assert r.json()["data"] == [], date_range
    r = await client.get(
        f"/v2/handles/{handle}/analytics?funnel=true&dateRange=yesterday", headers=jwt
    )
    assert r.json()["aggregate"]["clicks"] == 0
    r = await client.get(f"/v2/handles/{handle}/analytics?funnel=true&dateRange=today", headers=jwt)
    assert r.json()["aggregate"]["clicks"] == 1
