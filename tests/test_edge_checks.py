"""Values are checked at the REST edge: what a database cannot hold (NUL, bad UTF-8, integers
past their column, dates past the calendar, documents nested too deep) is a 400 in the route
family's shape, never a 500 and never a write."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from app.logs import REQUEST_ID_HEADER
from db.tables import Click, Conversion
from tests.conftest import gql
from tests.factories import SHOP, make_campaign, make_link

IPHONE = {
    "User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
}
CAMPAIGN = "spring"
BAD_TEXT = ["%00", "a%00b", "%01", "%0B", "%1F", "%FF", "%C3", "%ED%A0%80", "%F4%90%80%80"]


def base(handle: str) -> str:
    return f"/v2/handles/{handle}"


def nested(depth: int) -> Any:
    """A JSON value ``depth`` levels deep: {"a": {"a": ... {} }}."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def deep_json(depth: int, template: str = "DEEP") -> bytes:
    """A body holding ``nested(depth)`` at ``DEEP``, written out (json.dumps would recurse)."""
    return template.replace("DEEP", '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)).encode()


async def send_json(client, method: str, url: str, body: Any, headers: dict[str, str]):
    if isinstance(body, bytes):
        headers = {**headers, "content-type": "application/json"}
        return await client.request(method, url, content=body, headers=headers)
    return await client.request(method, url, json=body, headers=headers)


def assert_v2_refused(response, code: str = "invalid_request") -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == code, body
    assert body["message"], body


async def count(app, table, handle: str) -> int:
    async with app.state.services.sessions() as session:
        return (
            await session.execute(
                select(func.count()).select_from(table).where(table.handle == handle)
            )
        ).scalar_one()


@pytest.fixture
async def live(client, tenant):
    """The tenant with an ACTIVE campaign and a short link ``promo`` to it."""
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    await make_link(client, tenant, "promo", SHOP, campaign_id=CAMPAIGN, append=False)
    return tenant


# --- path and query text (app/middleware/request_text.py) --------------------------------------


@pytest.mark.parametrize("bad", BAD_TEXT)
async def test_v2_path_and_query_with_bad_text_are_400(client, live, bad):
    h = base(live.handle)
    for method, url in [
        ("GET", f"{h}/campaigns/{CAMPAIGN}{bad}"),
        ("PATCH", f"{h}/campaigns/abc{bad}"),
        ("PUT", f"{h}/site-structure/campaigns/abc{bad}"),
        ("PUT", f"{h}/links/x{bad}"),
        ("GET", f"/v2/handles/ac{bad}me/campaigns"),
        ("GET", f"{h}/campaigns?cursor={bad}"),
        ("GET", f"{h}/links?campaignId=x{bad}"),
        ("GET", f"{h}/analytics?campaignId={bad}"),
    ]:
        response = await client.request(method, url, json={}, headers=live.auth())
        assert_v2_refused(response)
        assert response.headers.get(REQUEST_ID_HEADER), response.headers  # refused, yet traced


async def test_v1_query_with_nul_is_400_in_the_v1_shape(client, live):
    response = await client.get(
        f"/v1/funnel?account_id={live.account_id}&report_type=Source&date_range=last_7_days%00",
        headers=live.auth(),
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["status"] == "error" and "NUL" in body["message"], body


async def test_graphql_get_with_nul_is_400_and_newlines_still_pass(client, live):
    response = await client.get("/graphql?query=%7B__typename%7D%00", headers=live.auth())
    assert response.status_code == 400, response.text
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["invalid_request"]
    # A multi-line document on GET is ordinary.
    response = await client.get("/graphql?query=%7B%0A%09__typename%0D%0A%7D", headers=live.auth())
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"__typename": "Query"}


@pytest.mark.parametrize("bad", BAD_TEXT)
async def test_redirect_with_bad_text_is_400_and_records_no_click(client, app, live, bad):
    for url in [
        f"/{live.handle}/promo?utm_source={bad}",
        f"/{live.handle}/promo?utm_medium=email&x={bad}",
        f"/{live.handle}/pro{bad}mo",
        f"/ac{bad}me/promo",
    ]:
        response = await client.get(url, headers=IPHONE)
        assert response.status_code == 400, (url, response.text)
        assert response.headers["content-type"].startswith("text/plain")
        assert "location" not in response.headers
    assert await count(app, Click, live.handle) == 0
    # The same visitor's clean click goes through and is the only one recorded.
    response = await client.get(f"/{live.handle}/promo?utm_source=news", headers=IPHONE)
    assert response.status_code == 302, response.text
    assert await count(app, Click, live.handle) == 1


# --- integers past their column -------------------------------------------------------------


@pytest.mark.parametrize("version", ["2147483648", "99999999999999999999999", "-1", "0", "x"])
async def test_page_version_out_of_int4_is_400(client, live, version):
    h = base(live.handle)
    url = f"{h}/site-structure/campaigns/{CAMPAIGN}"
    page = {"page": {"slug": "spring", "title": "Spring"}, "schema": {}}
    assert (await client.put(url, json=page, headers=live.auth())).status_code == 201
    response = await client.get(f"{url}?version={version}", headers=live.auth())
    assert_v2_refused(response)
    if version.lstrip("-").isdigit():
        response = await client.post(
            f"{url}/publish", json={"version": int(version)}, headers=live.auth()
        )
        assert_v2_refused(response)


async def test_largest_int4_page_version_is_simply_not_found(client, live):
    url = f"{base(live.handle)}/site-structure/campaigns/{CAMPAIGN}"
    page = {"page": {"slug": "spring", "title": "Spring"}, "schema": {}}
    assert (await client.put(url, json=page, headers=live.auth())).status_code == 201
    response = await client.get(f"{url}?version=2147483647", headers=live.auth())
    assert response.status_code == 404, response.text
    assert response.json()["error"] == "page_version_not_found"


# --- date ranges ----------------------------------------------------------------------------

OUT_OF_RANGE_DAYS = ["99991231,99991231", "00010101,00010101", "19691231,19700101"]


@pytest.mark.parametrize("days", OUT_OF_RANGE_DAYS)
async def test_date_ranges_past_the_storable_days_are_400(client, live, days):
    h = base(live.handle)
    for url in [
        f"{h}/analytics?dateRange={days}",
        f"{h}/analytics?campaignId={CAMPAIGN}&dateRange={days}",
        f"{h}/analytics?groupBy=source&dateRange={days}",
    ]:
        response = await client.get(url, headers=live.auth())
        assert_v2_refused(response)
        assert "dateRange" in response.json()["message"]
    response = await client.get(
        f"/v1/funnel?account_id={live.account_id}&report_type=Source&date_range={days}",
        headers=live.auth(),
    )
    assert response.status_code == 400, response.text
    assert response.json()["status"] == "error"
    assert "date_range" in response.json()["message"]
    body = await gql(
        client,
        "query($h: String!, $d: String!) { analytics(handle: $h, dateRange: $d) "
        "{ aggregate { clicks } } }",
        live.auth(),
        h=live.handle,
        d=days,
    )
    assert [e["extensions"]["code"] for e in body["errors"]] == ["invalid_request"], body


@pytest.mark.parametrize("days", ["19700101,19700101", "89991231,89991231", "89991201,89991231"])
async def test_the_first_and_last_storable_days_answer(client, live, days):
    h = base(live.handle)
    for url in [
        f"{h}/analytics?dateRange={days}",
        f"{h}/analytics?groupBy=source&dateRange={days}",
    ]:
        response = await client.get(url, headers=live.auth())
        assert response.status_code == 200, (url, response.text)
    response = await client.get(
        f"/v1/funnel?account_id={live.account_id}&report_type=Source&date_range={days}",
        headers=live.auth(),
    )
    assert response.status_code == 200, response.text


# --- JSON bodies: depth and text ------------------------------------------------------------


async def test_deeply_nested_conversion_metadata_is_400_and_writes_nothing(client, app, live):
    url = f"{base(live.handle)}/conversions"
    event = {"eventType": "purchase", "campaignId": CAMPAIGN}
    single = '{"eventType": "purchase", "campaignId": "spring", "metadata": DEEP}'
    batch = f'{{"events": [{{"eventType": "purchase", "campaignId": "spring"}}, {single}]}}'
    for depth in (33, 200, 1000):
        response = await send_json(client, "POST", url, deep_json(depth, single), live.auth())
        assert_v2_refused(response)
        assert "nested deeper" in response.json()["message"]
        response = await send_json(client, "POST", url, deep_json(depth, batch), live.auth())
        assert_v2_refused(response)
    assert await count(app, Conversion, live.handle) == 0
    response = await client.post(url, json={**event, "metadata": nested(32)}, headers=live.auth())
    assert response.status_code == 201, response.text


async def test_deep_or_unstorable_rest_bodies_are_400(client, live):
    h = base(live.handle)
    page_url = f"{h}/site-structure/campaigns/{CAMPAIGN}"
    page = {"slug": "spring", "title": "Spring"}
    rule = {"variant": {"id": "m", "destinationUrl": "https://m.shop.example.com/"}}
    for method, url, body in [
        ("PUT", page_url, {"page": page, "schema": nested(40)}),
        ("PUT", page_url, {"page": page, "schema": {"blocks": [{"text": "a\x00b"}]}}),
        ("PUT", page_url, {"page": {**page, "extra": {"k\x00": 1}}, "schema": {}}),
        ("PUT", page_url, {"page": {**page, "deep": nested(33)}, "schema": {}}),
        ("POST", f"{h}/personalization/rules", {**rule, "when": {"sourceIn": ["x\x00"]}}),
        ("POST", f"{h}/campaigns/{CAMPAIGN}/test-conversion", {"metadata": nested(33)}),
        ("POST", f"{h}/campaigns/{CAMPAIGN}/test-conversion", {"metadata": {"a": ["\x00"]}}),
        ("POST", f"{h}/campaigns", deep_json(1000, '{"goalType": "PRODUCT_SALE", "name": DEEP}')),
        (
            "PUT",
            f"{h}/links/x",
            deep_json(1000, '{"destinationUrl": "https://a.example/", "x": DEEP}'),
        ),
        ("PUT", f"{h}/funnel-stages", deep_json(1000, '{"stages": [DEEP]}')),
    ]:
        response = await send_json(client, method, url, body, live.auth("ADMIN"))
        assert_v2_refused(response)
    assert (await client.get(page_url, headers=live.auth())).status_code == 404
    rules = await client.get(f"{h}/personalization/rules", headers=live.auth())
    assert rules.json()["rules"] == []


async def test_lone_surrogates_in_a_body_are_400(client, live):
    response = await client.post(
        f"{base(live.handle)}/campaigns",
        content=b'{"goalType": "PRODUCT_SALE", "name": "a\\ud800b"}',
        headers={**live.auth(), "content-type": "application/json"},
    )
    assert_v2_refused(response)


# --- conversion timestamps ------------------------------------------------------------------

UNSTORABLE_TIMES = [
    "0001-01-01T00:00:00+14:00",  # before year 1 in UTC
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-14:00",  # past year 9999 in UTC
    "1969-12-31T23:59:59Z",
]


@pytest.mark.parametrize("occurred_at", UNSTORABLE_TIMES)
async def test_unstorable_occurred_at_is_400_alone_and_rejected_in_a_batch(
    client, app, live, occurred_at
):
    url = f"{base(live.handle)}/conversions"
    event = {"eventType": "purchase", "campaignId": CAMPAIGN}
    response = await client.post(
        url, json={**event, "occurredAt": occurred_at}, headers=live.auth()
    )
    assert_v2_refused(response)
    assert "occurredAt" in response.json()["message"]
    assert await count(app, Conversion, live.handle) == 0
    response = await client.post(
        url,
        json={"events": [{**event, "occurredAt": occurred_at}, {**event, "eventId": "good"}]},
        headers=live.auth(),
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["rejected", "created"], results
    assert results[0]["error"] == "invalid_request" and "occurredAt" in results[0]["message"]
    assert await count(app, Conversion, live.handle) == 1


async def test_graphql_conversion_with_unstorable_occurred_at_is_rejected(client, app, live):
    body = await gql(
        client,
        """mutation($h: String!, $events: [ConversionInput!]!) {
          recordConversions(handle: $h, events: $events) { status code }
        }""",
        live.auth(),
        h=live.handle,
        events=[
            {"eventType": "purchase", "campaignId": CAMPAIGN, "occurredAt": t}
            for t in ("1969-12-31T23:59:59Z", "2024-01-01T00:00:00Z")
        ],
    )
    assert body["data"]["recordConversions"] == [
        {"status": "rejected", "code": "invalid_request"},
        {"status": "created", "code": None},
    ], body


@pytest.mark.parametrize(
    "bad",
    [
        {"eventType": "purchase", "campaignId": CAMPAIGN, "metadata": {"note": "a\x00b"}},
        {"eventType": "purchase", "campaignId": CAMPAIGN, "eventId": "x\x00"},
        {"eventType": "purchase", "campaignId": CAMPAIGN, "metadata": {"k\x00": 1}},
    ],
)
async def test_a_nul_in_one_event_rejects_that_event_alone(client, app, live, bad):
    """Each event of a batch is answered on its own: a NUL spoils only its own event; sent
    alone, the same event is a 400."""
    url = f"{base(live.handle)}/conversions"
    good = {"eventType": "purchase", "campaignId": CAMPAIGN, "eventId": "good-one"}
    response = await client.post(url, json={"events": [bad, good]}, headers=live.auth())
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["rejected", "created"], results
    assert results[0]["error"] == "invalid_request" and "NUL" in results[0]["message"]
    assert await count(app, Conversion, live.handle) == 1
    assert_v2_refused(await client.post(url, json=bad, headers=live.auth()))
    assert await count(app, Conversion, live.handle) == 1


async def test_a_lone_surrogate_in_one_event_rejects_that_event_alone(client, app, live):
    url = f"{base(live.handle)}/conversions"
    event = {"eventType": "purchase", "campaignId": CAMPAIGN}
    # json.dumps escapes the lone surrogate (\\ud800), as a client's encoder would.
    body = json.dumps({"events": [{**event, "eventId": "x\ud800"}, {**event, "eventId": "fine"}]})
    response = await send_json(client, "POST", url, body.encode(), live.auth())
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["rejected", "created"], results
    assert results[0]["error"] == "invalid_request" and "eventId" in results[0]["message"]
    assert await count(app, Conversion, live.handle) == 1


async def test_nan_and_infinity_are_not_json(client, live):
    url = f"{base(live.handle)}/conversions"
    for constant in ("NaN", "Infinity", "-Infinity"):
        body = f'{{"eventType": "purchase", "campaignId": "{CAMPAIGN}", "value": {constant}}}'
        assert_v2_refused(await send_json(client, "POST", url, body.encode(), live.auth()))
