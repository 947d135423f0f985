"""Grouped analytics carry revenue per currency on both doors: REST ``groups[].revenueByCurrency``
(an object) and GraphQL ``analyticsGroups { revenueByCurrency { currency amount } }`` hold the
same amounts, which this test sums itself from the conversions it posts."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import gql
from tests.factories import make_campaign, make_link

CAMPAIGN = "world-tour"
BROWSER = {
    "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36"
}
# Clicks per utm_source; "social-ads" converts nothing.
CLICKS = {"newsletter": 3, "partner": 2, "social-ads": 1}
# (source of the click, event type, value, currency). Only "purchase" (the campaign's
# conversion event type) is revenue; the add_to_cart value must count nowhere.
EVENTS = [
    ("newsletter", "purchase", "19.99", "USD"),
    ("newsletter", "purchase", "5", "EUR"),
    ("newsletter", "purchase", "7.25", "EUR"),
    ("newsletter", "add_to_cart", "50", "USD"),
    ("partner", "purchase", "100", "GBP"),
    ("partner", "purchase", "3.5", "USD"),
    ("partner", "purchase", "0.1", "JPY"),
]
GROUPS = """
query($h: String!, $g: GroupBy!) {
  analyticsGroups(handle: $h, groupBy: $g) {
    value clicks conversions revenue revenueByCurrency { currency amount }
  }
}"""


def expected_groups(group_of: dict[str, str]) -> dict[str, dict[str, Any]]:
    """{group value: {clicks, conversions, revenue, revenueByCurrency}} from CLICKS and EVENTS
    alone (USD is the account's currency)."""
    sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    clicks: dict[str, int] = defaultdict(int)
    conversions: dict[str, int] = defaultdict(int)
    for source, n in CLICKS.items():
        clicks[group_of[source]] += n
        sums[group_of[source]]  # a group with clicks and no revenue has an empty map
    for source, event_type, value, currency in EVENTS:
        if event_type == "purchase":
            sums[group_of[source]][currency] += Decimal(value)
            conversions[group_of[source]] += 1
    return {
        group: {
            "clicks": clicks[group],
            "conversions": conversions[group],
            "revenue": float(amounts.get("USD", Decimal(0))),
            "revenueByCurrency": {c: float(a) for c, a in sorted(amounts.items())},
        }
        for group, amounts in sums.items()
    }


async def post_traffic(client, tenant, make_pat) -> None:
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    await make_link(client, tenant, "tour", campaign_id=CAMPAIGN, append=True)
    click_of: dict[str, str] = {}
    for source, n in CLICKS.items():
        for _ in range(n):
            r = await client.get(f"/{tenant.handle}/tour?utm_source={source}", headers=BROWSER)
            assert r.status_code == 302, r.text
            click_of[source] = parse_qs(urlsplit(r.headers["location"]).query)["fg_click"][0]
    writer = {"Authorization": f"Bearer {await make_pat(tenant.handle, 'conversions.write')}"}
    events = [
        {"eventType": t, "clickId": click_of[s], "value": float(v), "currency": c}
        for s, t, v, c in EVENTS
    ]
    r = await client.post(
        f"/v2/handles/{tenant.handle}/conversions", json={"events": events}, headers=writer
    )
    assert r.status_code in (200, 201, 207), r.text
    assert [e["status"] for e in r.json()["results"]] == ["created"] * len(EVENTS), r.text


@pytest.mark.parametrize(
    ("group_by", "group_of"),
    [
        ("source", {s: s for s in CLICKS}),
        ("segment", dict.fromkeys(CLICKS, "default")),
    ],
)
async def test_revenue_by_currency_of_groups_is_the_same_on_rest_and_graphql(
    client, tenant, make_pat, group_by, group_of
):
    await post_traffic(client, tenant, make_pat)
    expected = expected_groups(group_of)

    r = await client.get(
        f"/v2/handles/{tenant.handle}/analytics?groupBy={group_by}", headers=tenant.auth()
    )
    assert r.status_code == 200, r.text
    rest = {g[group_by]: g for g in r.json()["groups"]}
    assert set(rest) == set(expected)
    for value, want in expected.items():
        assert (rest[value]["clicks"], rest[value]["conversions"]) == (
            want["clicks"],
            want["conversions"],
        )
        assert rest[value]["revenueByCurrency"] == pytest.approx(want["revenueByCurrency"])
        assert list(rest[value]["revenueByCurrency"]) == list(want["revenueByCurrency"])
        assert rest[value]["revenue"] == pytest.approx(want["revenue"])

    body = await gql(client, GROUPS, tenant.auth(), h=tenant.handle, g=group_by.upper())
    assert "errors" not in body, body
    graphql = {g["value"]: g for g in body["data"]["analyticsGroups"]}
    assert set(graphql) == set(expected)
    for value, want in expected.items():
        pairs = [(p["currency"], p["amount"]) for p in graphql[value]["revenueByCurrency"]]
        assert [c for c, _ in pairs] == list(want["revenueByCurrency"])  # ordered by code
        assert dict(pairs) == pytest.approx(want["revenueByCurrency"])
        # The very numbers REST gives, not just close ones.
        assert dict(pairs) == rest[value]["revenueByCurrency"]
        for key in ("clicks", "conversions", "revenue"):
            assert graphql[value][key] == rest[value][key], key
