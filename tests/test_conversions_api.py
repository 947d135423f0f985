"""POST /v2/handles/{h}/conversions: validation, attribution errors, scopes, idempotency."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.factories import post_campaign_with_link

CAMPAIGN = "spring-launch"
BROWSER = {
    "User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
}


def url(handle: str) -> str:
    return f"/v2/handles/{handle}/conversions"


async def setup_campaign(client, handle: str, headers, cid: str = CAMPAIGN) -> None:
    """An ACTIVE campaign and its link ``<cid>-link``, which appends the click id."""
    await post_campaign_with_link(
        client,
        handle,
        headers,
        cid,
        f"{cid}-link",
        append=True,
        status="ACTIVE",
        link_expect=(200, 201),
    )


async def click(client, handle: str, cid: str = CAMPAIGN, **headers: str) -> str:
    r = await client.get(f"/{handle}/{cid}-link", headers=BROWSER | headers)
    assert r.status_code == 302
    return parse_qs(urlsplit(r.headers["location"]).query)["fg_click"][0]


async def funnel(client, tenant, cid: str = CAMPAIGN, **params: str) -> dict[str, Any]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    r = await client.get(
        f"/v2/handles/{tenant.handle}/analytics?funnel=true&campaignId={cid}&{query}",
        headers=tenant.auth(),
    )
    assert r.status_code == 200, r.text
    return r.json()["funnel"][0]


def empty_figures(f: dict[str, Any]) -> bool:
    return (
        f["conversions"] == 0
        and f["revenue"] == 0
        and f["revenueByCurrency"] == {}
        and all(s["count"] == 0 for s in f["stages"][1:])
    )


@pytest.fixture
async def writer(client, tenant, make_pat) -> dict[str, str]:
    await setup_campaign(client, tenant.handle, tenant.auth())
    return {"Authorization": f"Bearer {await make_pat(tenant.handle, 'conversions.write')}"}


# --- bad bodies ------------------------------------------------------------------------------

GOOD = {"eventType": "purchase", "campaignId": CAMPAIGN, "value": 10, "currency": "USD"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({k: v for k, v in GOOD.items() if k != "eventType"}, "eventType"),
        (GOOD | {"eventType": ""}, "eventType"),
        (GOOD | {"eventType": "add to cart"}, "eventType"),
        (GOOD | {"eventType": "x" * 65}, "eventType"),
        (GOOD | {"eventType": 7}, "eventType"),
        (GOOD | {"value": -1}, "value"),
        (GOOD | {"value": -0.01}, "value"),
        (GOOD | {"value": "x"}, "value"),
        (GOOD | {"value": "NaN"}, "value"),
        (GOOD | {"value": "Infinity"}, "value"),
        (GOOD | {"value": 1e13}, "value"),
        (GOOD | {"value": [1]}, "value"),
        (GOOD | {"currency": "US"}, "currency"),
        (GOOD | {"currency": "USDX"}, "currency"),
        (GOOD | {"currency": "U$D"}, "currency"),
        (GOOD | {"currency": 840}, "currency"),
        (GOOD | {"metadata": {"blob": "x" * (8 * 1024 + 1)}}, "metadata"),
        (GOOD | {"metadata": "not an object"}, "metadata"),
        (GOOD | {"coupon": "SPRING"}, "coupon"),
        (GOOD | {"eventId": ""}, "eventId"),
        (GOOD | {"eventId": "e" * 129}, "eventId"),
        (GOOD | {"clickId": "c" * 33}, "clickId"),
        (GOOD | {"occurredAt": "yesterday"}, "occurredAt"),
    ],
)
async def test_bad_event_is_400_with_code_and_message_and_writes_nothing(
    client, tenant, writer, body, field
):
    r = await client.post(url(tenant.handle), json=body, headers=writer)
    assert r.status_code == 400, r.text
    error = r.json()
    assert error["error"] == "invalid_request"
    assert field in error["message"], error
    # The same event inside a batch is rejected on its own, with the same code.
    r = await client.post(url(tenant.handle), json={"events": [body]}, headers=writer)
    assert r.status_code == 200, r.text
    (result,) = r.json()["results"]
    assert result["status"] == "rejected"
    assert result["error"] == "invalid_request" and field in result["message"]
    assert r.json()["rejected"] == 1 and r.json()["created"] == 0
    assert empty_figures(await funnel(client, tenant, includeTest="true"))


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b'{"eventType": "purchase", "campaignId": "spring-launch", "value": NaN}', 400, None),
        (b'{"eventType": "purchase", "value": Infinity}', 400, None),
        (b"{not json", 400, None),
        (b"", 400, None),
        (b"[]", 400, None),
        (b'"purchase"', 400, None),
        (b"null", 400, None),
        (b'{"events": []}', 400, None),
        (b'{"events": {"eventType": "purchase"}}', 400, None),
        (b'{"events": "purchase"}', 400, None),
        (b'{"events": null}', 400, None),
        (
            b'{"events": [{"eventType": "purchase", "campaignId": "spring-launch"}], "x": 1}',
            400,
            None,
        ),
    ],
)
async def test_bad_bodies(client, tenant, writer, content, status, code):
    r = await client.post(
        url(tenant.handle),
        content=content,
        headers=writer | {"Content-Type": "application/json"},
    )
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == (code or "invalid_request")
    assert body["message"]
    assert empty_figures(await funnel(client, tenant))


async def test_batch_over_1000_is_413_and_writes_nothing(client, tenant, writer):
    events = [{"eventType": "purchase", "campaignId": CAMPAIGN, "value": 1} for _ in range(1001)]
    r = await client.post(url(tenant.handle), json={"events": events}, headers=writer)
    assert r.status_code == 413, r.text
    assert r.json()["error"] == "payload_too_large"
    assert "1000" in r.json()["message"]
    assert empty_figures(await funnel(client, tenant))
    # Exactly 1000 is fine.
    r = await client.post(url(tenant.handle), json={"events": events[:1000]}, headers=writer)
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 1000
    f = await funnel(client, tenant)
    assert f["conversions"] == 1000 and f["revenue"] == 1000


async def test_oversized_body_is_413(client, tenant, writer):
    blob = "x" * (2 * 1024 * 1024 + 10)
    r = await client.post(
        url(tenant.handle),
        content=json.dumps({"eventType": "purchase", "campaignId": CAMPAIGN, "m": blob}),
        headers=writer | {"Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["error"] == "payload_too_large"


async def test_metadata_at_the_limit_is_accepted(client, tenant, writer):
    # {"blob": "..."} serialises to 12 bytes + the string.
    body = GOOD | {"metadata": {"blob": "x" * (8 * 1024 - 12)}}
    r = await client.post(url(tenant.handle), json=body, headers=writer)
    assert r.status_code == 201, r.text


async def test_a_bad_event_does_not_spoil_its_batch(client, tenant, writer):
    events = [
        GOOD | {"eventId": "ok-1"},
        GOOD | {"value": -3, "eventId": "bad-1"},
        "not an object",
        GOOD | {"eventId": "ok-2", "currency": "eur"},
    ]
    r = await client.post(url(tenant.handle), json={"events": events}, headers=writer)
    assert r.status_code == 200
    body = r.json()
    assert [x["status"] for x in body["results"]] == ["created", "rejected", "rejected", "created"]
    assert (body["created"], body["rejected"], body["duplicate"], body["ignored"]) == (2, 2, 0, 0)
    f = await funnel(client, tenant)
    assert f["conversions"] == 2
    assert f["revenueByCurrency"] == {"EUR": 10.0, "USD": 10.0}
    assert f["revenue"] == 10.0


# --- attribution errors ----------------------------------------------------------------------


async def test_click_of_another_handle_is_click_not_found(client, tenant, writer):
    other = tenant.auth(handle=tenant.other_handle)
    await setup_campaign(client, tenant.other_handle, other)
    foreign = await click(client, tenant.other_handle)
    r = await client.post(
        url(tenant.handle), json={"eventType": "purchase", "clickId": foreign}, headers=writer
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "click_not_found"
    r = await client.post(
        url(tenant.handle),
        json={"events": [{"eventType": "purchase", "clickId": foreign}]},
        headers=writer,
    )
    (result,) = r.json()["results"]
    assert (result["status"], result["error"]) == ("rejected", "click_not_found")
    assert empty_figures(await funnel(client, tenant))
    # The other handle's funnel is untouched too.
    r = await client.get(
        f"/v2/handles/{tenant.other_handle}/analytics?funnel=true&campaignId={CAMPAIGN}",
        headers=other,
    )
    assert r.json()["funnel"][0]["conversions"] == 0


async def test_click_of_another_campaign_is_campaign_mismatch(client, tenant, writer):
    await setup_campaign(client, tenant.handle, tenant.auth(), "autumn-sale")
    autumn_click = await click(client, tenant.handle, "autumn-sale")
    body = {"eventType": "purchase", "clickId": autumn_click, "campaignId": CAMPAIGN}
    r = await client.post(url(tenant.handle), json=body, headers=writer)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "campaign_mismatch"
    assert "autumn-sale" in r.json()["message"]
    assert empty_figures(await funnel(client, tenant))
    assert empty_figures(await funnel(client, tenant, "autumn-sale"))


async def test_attribution_copies_the_click(client, tenant, writer):
    cid = await click(
        client,
        tenant.handle,
        **{"CF-IPCountry": "de", "Referer": "https://t.co/x"},
    )
    r = await client.post(
        url(tenant.handle),
        json={"eventType": "purchase", "clickId": cid, "value": 5, "eventId": "a-1"},
        headers=writer,
    )
    assert r.status_code == 201, r.text
    assert r.json()["attributed"] is True and r.json()["campaignId"] == CAMPAIGN
    for group_by, value in (("source", "social"), ("country", "DE"), ("device", "mobile")):
        r = await client.get(
            f"/v2/handles/{tenant.handle}/analytics?groupBy={group_by}", headers=tenant.auth()
        )
        assert r.json()["groups"] == [
            {
                group_by: value,
                "clicks": 1,
                "conversions": 1,
                "revenue": 5.0,
                "revenueByCurrency": {"USD": 5.0},
            }
        ]
    assert (await funnel(client, tenant))["confidence"] == 100


async def test_unknown_click_with_a_campaign_is_recorded_unattributed(client, tenant, writer):
    body = {"eventType": "purchase", "clickId": "0" * 24, "campaignId": CAMPAIGN}
    r = await client.post(url(tenant.handle), json=body, headers=writer)
    assert r.status_code == 201, r.text
    assert r.json()["attributed"] is False
    f = await funnel(client, tenant)
    assert (f["conversions"], f["confidence"]) == (1, 0)


async def test_confidence_rounds_half_up(client, tenant, writer):
    # 1 of 8 conversions attributed: 12.5 % → 13.
    cid = await click(client, tenant.handle)
    events = [{"eventType": "purchase", "clickId": cid}] + [
        {"eventType": "purchase", "campaignId": CAMPAIGN} for _ in range(7)
    ]
    r = await client.post(url(tenant.handle), json={"events": events}, headers=writer)
    assert r.json()["created"] == 8
    assert (await funnel(client, tenant))["confidence"] == 13
    # 5 of 8: 62.5 % → 63.
    more = [
        {"eventType": "purchase", "clickId": await click(client, tenant.handle)} for _ in range(4)
    ]
    r = await client.post(url(tenant.handle), json={"events": more}, headers=writer)
    assert (await funnel(client, tenant))["confidence"] == round(100 * 5 / 12)


async def test_inactive_campaigns_ignore_events(client, tenant, writer):
    h, jwt = tenant.handle, tenant.auth()
    r = await client.post(
        f"/v2/handles/{h}/campaigns",
        json={"campaignId": "later", "goalType": "LEAD_CAPTURE"},
        headers=jwt,
    )
    assert r.status_code == 201
    r = await client.post(
        url(h), json={"eventType": "lead", "campaignId": "later", "eventId": "l-1"}, headers=writer
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ignored"
    assert r.json()["error"] == "campaign_not_active"
    # Ignored events are not remembered: once ACTIVE, the same eventId is created.
    r = await client.patch(
        f"/v2/handles/{h}/campaigns/later", json={"status": "ACTIVE"}, headers=jwt
    )
    assert r.status_code == 200
    r = await client.post(
        url(h), json={"eventType": "lead", "campaignId": "later", "eventId": "l-1"}, headers=writer
    )
    assert r.status_code == 201, r.text
    assert (await funnel(client, tenant, "later"))["conversions"] == 1


# --- who may post ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scopes", "role", "allowed"),
    [
        (("conversions.write",), None, True),
        (("analytics.read",), None, False),
        (("analytics.*", "campaigns.write", "campaigns.read", "pages.write"), None, False),
        (None, "VIEWER", False),
        (None, "CREATOR", True),
    ],
)
async def test_who_may_post_conversions(client, tenant, make_pat, scopes, role, allowed):
    await setup_campaign(client, tenant.handle, tenant.auth())
    if scopes:
        headers = {"Authorization": f"Bearer {await make_pat(tenant.handle, *scopes)}"}
    else:
        headers = tenant.auth(role)
    r = await client.post(url(tenant.handle), json=GOOD, headers=headers)
    assert r.status_code == (201 if allowed else 403), r.text
    if not allowed:
        assert r.json()["error"] == "forbidden"
    assert (await funnel(client, tenant))["conversions"] == (1 if allowed else 0)


async def test_token_of_another_handle_cannot_post(client, tenant, make_pat):
    await setup_campaign(client, tenant.handle, tenant.auth())
    token = await make_pat(tenant.other_handle, "conversions.write")
    r = await client.post(
        url(tenant.handle), json=GOOD, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 403
    r = await client.post(url(tenant.handle), json=GOOD)
    assert r.status_code == 401
    assert r.json()["error"] == "unauthenticated"


# --- idempotency -----------------------------------------------------------------------------


async def test_repeated_event_id_in_concurrent_requests_counts_once(client, tenant, writer):
    h = tenant.handle
    cid = await click(client, h)

    def event(i: int) -> dict[str, Any]:
        return {"eventType": "purchase", "eventId": f"order-{i}", "clickId": cid, "value": 7.5}

    for i in range(5):
        responses = await asyncio.gather(
            *(client.post(url(h), json=event(i), headers=writer) for _ in range(2))
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 201], [r.text for r in responses]
        assert sorted(r.json()["status"] for r in responses) == ["created", "duplicate"]
    # Overlapping batches, concurrently: every eventId is created exactly once.
    batches = [{"events": [event(i) for i in range(start, start + 20)]} for start in (5, 15, 10)]
    responses = await asyncio.gather(
        *(client.post(url(h), json=b, headers=writer) for b in batches)
    )
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    assert sum(r.json()["created"] for r in responses) == 30  # order-5 .. order-34
    assert sum(r.json()["duplicate"] for r in responses) == 30
    f = await funnel(client, tenant)
    assert f["conversions"] == 35
    assert f["revenue"] == 35 * 7.5
    assert f["confidence"] == 100
    # A later repeat with other values is acknowledged and changes nothing.
    r = await client.post(url(h), json=event(0) | {"value": 1000}, headers=writer)
    assert r.status_code == 200 and r.json()["status"] == "duplicate"
    r = await client.post(url(h), json={"events": [event(1), event(1), event(99)]}, headers=writer)
    assert [x["status"] for x in r.json()["results"]] == ["duplicate", "duplicate", "created"]
    f = await funnel(client, tenant)
    assert f["conversions"] == 36 and f["revenue"] == 36 * 7.5
