"""GET|HEAD /{handle}/{slug}: redirects, click recording, link changes, personalization,
concurrency, freshness, and the constant SQL cost of a page of campaign funnels."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy import event, select

from db.tables import Click
from resolvers.errors import Overloaded
from tests.conftest import gql
from tests.factories import SPRING, make_campaign, make_link

IPHONE = {
    "User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
}
DESKTOP = {
    "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36"
}
CAMPAIGN = "spring-launch"


async def funnel(client, tenant, cid: str = CAMPAIGN) -> dict[str, Any]:
    r = await client.get(
        f"/v2/handles/{tenant.handle}/analytics?funnel=true&campaignId={cid}",
        headers=tenant.auth(),
    )
    assert r.status_code == 200, r.text
    return r.json()["funnel"][0]


def query_of(location: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(location).query, keep_blank_values=True)


async def stored_click(app, click_id: str) -> Click | None:
    async with app.state.services.sessions() as session:
        return (
            await session.execute(select(Click).where(Click.id == click_id))
        ).scalar_one_or_none()


async def count_clicks(app, handle: str) -> int:
    async with app.state.services.sessions() as session:
        return len((await session.execute(select(Click.id).where(Click.handle == handle))).all())


# --- the redirect itself ---------------------------------------------------------------------


async def test_redirect_is_a_302_with_location_and_no_store(client, tenant):
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    await make_link(client, tenant, "spring", SPRING, campaign_id=CAMPAIGN, append=False)
    for method in ("GET", "HEAD"):
        r = await client.request(method, f"/{tenant.handle}/spring", headers=IPHONE)
        assert r.status_code == 302
        assert r.headers["location"] == "https://shop.example.com/spring"
        cache = r.headers["cache-control"]
        assert "no-store" in cache
        assert "public" not in cache


async def test_unknown_link_is_a_404_html_page(client, tenant, app):
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    await make_link(client, tenant, "spring", SPRING, campaign_id=CAMPAIGN, append=True)
    for path in (
        f"/{tenant.handle}/nope",
        "/no-such-handle/spring",
        f"/{tenant.other_handle}/spring",
    ):
        r = await client.get(path, headers=IPHONE)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("text/html")
        assert "location" not in r.headers
        assert "Link not found" in r.text
    # Markup in the path is escaped, never echoed.
    r = await client.get(f"/{tenant.handle}/%3Cscript%3Ealert(1)%3C%2Fscript%3E", headers=IPHONE)
    assert r.status_code == 404
    assert "<script>" not in r.text
    assert await count_clicks(app, tenant.handle) == 0


async def test_append_context_param_adds_the_recorded_click_id(client, tenant, app):
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    await make_link(client, tenant, "spring", SPRING, campaign_id=CAMPAIGN, append=True)
    r = await client.get(
        f"/{tenant.handle}/spring?utm_source=%20Newsletter%20&utm_medium=Email",
        headers=IPHONE | {"CF-IPCountry": "gb", "Referer": "https://www.google.com/"},
    )
    assert r.status_code == 302
    query = query_of(r.headers["location"])
    assert [k for k, _ in query] == ["utm_source", "utm_medium", "fg_click"]
    click_id = dict(query)["fg_click"]
    row = await stored_click(app, click_id)
    assert row is not None
    assert (row.handle, row.slug, row.campaign_id) == (tenant.handle, "spring", CAMPAIGN)
    assert (row.source, row.medium, row.country, row.device) == (
        "newsletter",
        "email",
        "GB",
        "mobile",
    )
    assert row.is_bot is False and row.segment == "default"
    assert row.destination_url.startswith("https://shop.example.com/spring")
    # No raw IP anywhere in the row.
    assert "127.0.0.1" not in repr(row.__dict__) and "testclient" not in row.visitor_id


async def test_query_params_are_forwarded_and_the_destination_keeps_its_own(client, tenant):
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    await make_link(
        client,
        tenant,
        "spring",
        "https://shop.example.com/spring?ref=site&x=1#top",
        campaign_id=CAMPAIGN,
        append=True,
    )
    r = await client.get(
        f"/{tenant.handle}/spring?ref=evil&tag=a&tag=b&utm_campaign=Spring%20Sale&fg_click=forged",
        headers=IPHONE,
    )
    location = urlsplit(r.headers["location"])
    assert (location.scheme, location.netloc, location.path) == (
        "https",
        "shop.example.com",
        "/spring",
    )
    assert location.fragment == "top"
    query = parse_qsl(location.query, keep_blank_values=True)
    click_id = query.pop()
    assert click_id[0] == "fg_click" and click_id[1] != "forged"
    assert query == [
        ("ref", "site"),
        ("x", "1"),
        ("tag", "a"),
        ("tag", "b"),
        ("utm_campaign", "Spring Sale"),
    ]


async def test_links_of_draft_and_paused_campaigns_redirect_without_a_click(client, tenant, app):
    h = tenant.handle
    await make_campaign(client, tenant, "drafty", status="DRAFT")
    await make_campaign(client, tenant, "pausy", status="ACTIVE")
    await make_link(client, tenant, "d", SPRING, campaign_id="drafty", append=True)
    await make_link(client, tenant, "p", SPRING, campaign_id="pausy", append=True)
    await make_link(client, tenant, "n", SPRING, append=True)  # no campaign at all
    r = await client.get(f"/{h}/p", headers=IPHONE)
    assert "fg_click" in dict(query_of(r.headers["location"]))
    r = await client.patch(
        f"/v2/handles/{h}/campaigns/pausy", json={"status": "PAUSED"}, headers=tenant.auth()
    )
    assert r.status_code == 200
    for slug in ("d", "p", "n"):
        for method in ("GET", "HEAD"):
            r = await client.request(method, f"/{h}/{slug}?utm_source=x", headers=IPHONE)
            assert r.status_code == 302
            assert r.headers["location"] == "https://shop.example.com/spring?utm_source=x"
    assert await count_clicks(app, h) == 1  # the one click while pausy was ACTIVE
    assert (await funnel(client, tenant, "pausy"))["clicks"] == 1  # PAUSED keeps its data
    assert (await funnel(client, tenant, "drafty"))["clicks"] == 0
    # Activating the draft starts tracking at the next click.
    r = await client.patch(
        f"/v2/handles/{h}/campaigns/drafty", json={"status": "ACTIVE"}, headers=tenant.auth()
    )
    assert r.status_code == 200
    r = await client.get(f"/{h}/d", headers=IPHONE)
    assert "fg_click" in dict(query_of(r.headers["location"]))
    assert (await funnel(client, tenant, "drafty"))["clicks"] == 1


async def test_head_requests_and_bots_count_as_clicks_but_not_qualified(client, tenant):
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    await make_link(client, tenant, "spring", SPRING, campaign_id=CAMPAIGN, append=True)
    await client.head(f"/{tenant.handle}/spring", headers=IPHONE)
    await client.get(
        f"/{tenant.handle}/spring", headers={"User-Agent": "Slackbot-LinkExpanding 1.0"}
    )
    await client.get(f"/{tenant.handle}/spring", headers={"User-Agent": ""})
    await client.get(f"/{tenant.handle}/spring", headers=DESKTOP)
    f = await funnel(client, tenant)
    assert (f["clicks"], f["qualifiedClicks"]) == (4, 1)
    assert f["breakdown"]["device"] == [{"device": "desktop", "count": 1}]


# --- link changes ----------------------------------------------------------------------------


async def test_link_changes_take_effect_on_the_next_redirect(client, tenant):
    h = tenant.handle
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    await make_campaign(client, tenant, "autumn-sale", status="ACTIVE")
    await make_link(
        client, tenant, "go", "https://a.example.com/", campaign_id=CAMPAIGN, append=False
    )
    r = await client.get(f"/{h}/go", headers=IPHONE)
    assert r.headers["location"] == "https://a.example.com/"
    # New destination, new campaign, context param on.
    await make_link(
        client, tenant, "go", "https://b.example.com/", campaign_id="autumn-sale", append=True
    )
    r = await client.get(f"/{h}/go", headers=IPHONE)
    location = r.headers["location"]
    assert location.startswith("https://b.example.com/?fg_click=")
    assert (await funnel(client, tenant))["clicks"] == 1
    assert (await funnel(client, tenant, "autumn-sale"))["clicks"] == 1
    # Detached from any campaign: redirects, records nothing.
    await make_link(client, tenant, "go", "https://c.example.com/", append=True)
    r = await client.get(f"/{h}/go", headers=IPHONE)
    assert r.headers["location"] == "https://c.example.com/"
    # Through GraphQL too.
    body = await gql(
        client,
        """mutation($h: String!) { upsertLink(handle: $h, slug: "go", input: {
             destinationUrl: "https://d.example.com/", campaignId: "spring-launch" }) { slug } }""",
        tenant.auth(),
        h=h,
    )
    assert "errors" not in body, body
    r = await client.get(f"/{h}/go", headers=IPHONE)
    assert r.headers["location"] == "https://d.example.com/"
    assert (await funnel(client, tenant))["clicks"] == 2
    # Deleted: 404 at once.
    r = await client.delete(f"/v2/handles/{h}/links/go", headers=tenant.auth())
    assert r.status_code == 204
    r = await client.get(f"/{h}/go", headers=IPHONE)
    assert r.status_code == 404
    # Re-created: redirects again.
    await make_link(
        client, tenant, "go", "https://e.example.com/", campaign_id=CAMPAIGN, append=False
    )
    r = await client.get(f"/{h}/go", headers=IPHONE)
    assert r.headers["location"] == "https://e.example.com/"


async def test_a_404_is_not_cached_past_the_links_creation(client, tenant):
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    r = await client.get(f"/{tenant.handle}/soon", headers=IPHONE)
    assert r.status_code == 404
    await make_link(client, tenant, "soon", SPRING, campaign_id=CAMPAIGN, append=False)
    r = await client.get(f"/{tenant.handle}/soon", headers=IPHONE)
    assert r.status_code == 302


# --- personalization -------------------------------------------------------------------------


async def test_mobile_rule_sends_phones_to_the_variant_and_sets_the_segment(client, tenant, app):
    h = tenant.handle
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    await make_link(client, tenant, "spring", SPRING, campaign_id=CAMPAIGN, append=True)
    r = await client.post(
        f"/v2/handles/{h}/personalization/rules",
        json={
            "ruleId": "spring-mobile-variant",
            "enabled": True,
            "priority": 100,
            "when": {"campaignIn": [CAMPAIGN], "deviceIn": ["MOBILE"]},
            "variant": {
                "id": "mobile-optimized",
                "destinationUrl": "https://m.shop.example.com/spring",
            },
        },
        headers=tenant.auth(),
    )
    assert r.status_code == 201, r.text
    phone = await client.get(f"/{h}/spring?utm_source=ig", headers=IPHONE)
    location = phone.headers["location"]
    assert location.startswith("https://m.shop.example.com/spring?utm_source=ig&fg_click=")
    row = await stored_click(app, dict(query_of(location))["fg_click"])
    assert row.segment == "mobile-optimized"
    for _ in range(2):
        desktop = await client.get(f"/{h}/spring", headers=DESKTOP)
        assert desktop.headers["location"].startswith("https://shop.example.com/spring?fg_click=")
    r = await client.post(
        f"/v2/handles/{h}/conversions",
        json={"eventType": "purchase", "clickId": row.id, "value": 30},
        headers=tenant.auth(),
    )
    assert r.status_code == 201, r.text
    r = await client.get(
        f"/v2/handles/{h}/analytics?groupBy=segment&campaignId={CAMPAIGN}", headers=tenant.auth()
    )
    assert r.json()["groups"] == [
        {
            "segment": "default",
            "clicks": 2,
            "conversions": 0,
            "revenue": 0.0,
            "revenueByCurrency": {},
        },
        {
            "segment": "mobile-optimized",
            "clicks": 1,
            "conversions": 1,
            "revenue": 30.0,
            "revenueByCurrency": {"USD": 30.0},
        },
    ]
    # Disabling the rule takes effect on the next redirect.
    r = await client.put(
        f"/v2/handles/{h}/personalization/rules/spring-mobile-variant",
        json={
            "enabled": False,
            "when": {"deviceIn": ["MOBILE"]},
            "variant": {
                "id": "mobile-optimized",
                "destinationUrl": "https://m.shop.example.com/spring",
            },
        },
        headers=tenant.auth(),
    )
    assert r.status_code == 200, r.text
    phone = await client.get(f"/{h}/spring", headers=IPHONE)
    assert phone.headers["location"].startswith("https://shop.example.com/spring?fg_click=")


# --- concurrency and freshness ---------------------------------------------------------------


async def test_200_simultaneous_redirects_are_all_counted(client, tenant, app):
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    await make_link(client, tenant, "spring", SPRING, campaign_id=CAMPAIGN, append=True)
    responses = await asyncio.gather(
        *(client.get(f"/{tenant.handle}/spring?n={i}", headers=IPHONE) for i in range(200))
    )
    assert [r.status_code for r in responses] == [302] * 200
    ids = {dict(query_of(r.headers["location"]))["fg_click"] for r in responses}
    assert len(ids) == 200
    f = await funnel(client, tenant)
    assert (f["clicks"], f["qualifiedClicks"]) == (200, 200)
    assert f["breakdown"]["device"] == [{"device": "mobile", "count": 200}]
    assert await count_clicks(app, tenant.handle) == 200


async def test_a_click_shows_in_the_funnel_as_soon_as_its_redirect_returns(client, tenant):
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    await make_link(client, tenant, "spring", SPRING, campaign_id=CAMPAIGN, append=True)
    for i in range(1, 6):
        r = await client.get(f"/{tenant.handle}/spring", headers=IPHONE)
        assert r.status_code == 302
        f = await funnel(client, tenant)
        assert f["clicks"] == i and f["qualifiedClicks"] == i
        body = await gql(
            client,
            'query($h: String!){ campaign(handle: $h, campaignId: "spring-launch")'
            "{ funnel { clicks } } }",
            tenant.auth(),
            h=tenant.handle,
        )
        assert body["data"]["campaign"]["funnel"]["clicks"] == i
        assert f["lastSeenAt"] is not None


# --- constant SQL per page of funnels ----------------------------------------------------------

PAGE_QUERY = """
query($h: String!, $n: Int!) {
  campaigns(handle: $h, first: $n) {
    edges { node {
      campaignId
      funnel {
        clicks qualifiedClicks conversions revenue confidence
        stages { name count }
        breakdown(dimension: SOURCE) { value count }
      }
    } }
  }
}"""


async def test_a_page_of_campaign_funnels_costs_constant_sql(client, tenant, app):
    h = tenant.handle
    for i in range(20):
        cid = f"cmp-{i:02d}"
        await make_campaign(client, tenant, cid, status="ACTIVE")
        await make_link(client, tenant, f"l-{i:02d}", SPRING, campaign_id=cid, append=True)
        r = await client.get(f"/{h}/l-{i:02d}?utm_source=s{i % 3}", headers=IPHONE)
        assert r.status_code == 302
    # Every click committed before its redirect answered; a journaled one would be counted
    # (and its replay's statements seen) only later. tests/conftest.py gives a generous budget.
    assert app.state.services.ingest.stats.journaled == 0
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = app.state.services.engine.sync_engine
    counts = {}
    event.listen(engine, "before_cursor_execute", count)
    try:
        for n in (5, 20):
            statements.clear()
            body = await gql(client, PAGE_QUERY, tenant.auth(), h=h, n=n)
            assert "errors" not in body, body
            edges = body["data"]["campaigns"]["edges"]
            assert len(edges) == n
            for edge in edges:
                f = edge["node"]["funnel"]
                assert f["clicks"] == 1
                assert sum(b["count"] for b in f["breakdown"]) == 1
            counts[n] = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert counts[5] == counts[20], counts
    assert 0 < counts[20] < 20


async def test_the_destination_query_is_kept_byte_for_byte(client, tenant):
    """Signed or picky destinations (affiliate networks, presigned URLs) must not be
    re-encoded: forwarded parameters are appended, the destination's own are untouched."""
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    destination = (
        "https://aff.example.net/r?u=https%3A%2F%2Fshop.example.com%2Fp%3Fa%3D1"
        "&sig=A%2Bb%20c~d&flag&empty=#frag"
    )
    await make_link(client, tenant, "aff", destination, campaign_id=CAMPAIGN, append=False)
    r = await client.get(f"/{tenant.handle}/aff", headers=IPHONE)
    assert r.headers["location"] == destination
    r = await client.get(f"/{tenant.handle}/aff?utm_source=mail%20out&sig=forged", headers=IPHONE)
    base, _, fragment = destination.partition("#")
    assert r.headers["location"] == f"{base}&utm_source=mail+out#{fragment}"
    await make_link(client, tenant, "aff", destination, campaign_id=CAMPAIGN, append=True)
    r = await client.get(f"/{tenant.handle}/aff?flag=2", headers=IPHONE)
    location = r.headers["location"]
    assert location.startswith(base + "&fg_click=")
    assert location.endswith("#frag")


async def test_a_change_during_a_cache_fill_is_not_lost():
    """A redirect that read the link just before an update must not park the old version in
    the cache: the next lookup after the update's invalidation sees the new one."""
    from app.runtime.ttlcache import TTLCache

    version = {"link": "old"}
    reading = asyncio.Event()
    release = asyncio.Event()

    async def load(key: str) -> str:
        seen = version["link"]  # the row as committed when the read ran
        reading.set()
        await release.wait()
        return seen

    cache: TTLCache[str, str] = TTLCache(load, ttl=60)
    first = asyncio.create_task(cache.get("go"))
    await reading.wait()
    version["link"] = "new"  # the API commits the change, then invalidates
    cache.invalidate("go")
    second = asyncio.create_task(cache.get("go"))  # a redirect arriving after the update
    await asyncio.sleep(0)
    release.set()
    assert await first == "old"  # it was already on its way
    assert await second == "new"
    assert await cache.get("go") == "new"
    cache.clear()
    version["link"] = "newer"
    assert await cache.get("go") == "newer"


async def test_link_and_status_changes_reach_the_next_redirect_at_once(client, tenant, app):
    """The change hub drops the handle's cached links after each committed write: a new
    destination and a pause are seen by the very next click, long before the cache's TTL."""
    app.state.services.link_cache._ttl = 3600  # only an invalidation can refresh it
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    await make_link(
        client, tenant, "moving", "https://shop.example.com/old", campaign_id=CAMPAIGN, append=True
    )
    first = await client.get(f"/{tenant.handle}/moving", headers=IPHONE)
    assert first.headers["location"].startswith("https://shop.example.com/old")
    await make_link(
        client, tenant, "moving", "https://shop.example.com/new", campaign_id=CAMPAIGN, append=True
    )
    second = await client.get(f"/{tenant.handle}/moving", headers=IPHONE)
    assert second.headers["location"].startswith("https://shop.example.com/new")
    assert "fg_click=" in second.headers["location"]
    paused = await client.patch(
        f"/v2/handles/{tenant.handle}/campaigns/{CAMPAIGN}",
        json={"status": "PAUSED"},
        headers=tenant.auth(),
    )
    assert paused.status_code == 200, paused.text
    third = await client.get(f"/{tenant.handle}/moving", headers=IPHONE)
    assert third.headers["location"] == "https://shop.example.com/new"  # no click: no fg_click


async def test_a_busy_writer_answers_a_short_link_with_a_plain_503(
    client, tenant, app, monkeypatch
):
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    await make_link(client, tenant, "busy", SPRING, campaign_id=CAMPAIGN, append=True)

    async def full(click: Any) -> None:
        raise Overloaded()

    monkeypatch.setattr(app.state.services.ingest, "record", full)
    r = await client.get(f"/{tenant.handle}/busy", headers=IPHONE)
    assert r.status_code == 503
    assert r.headers["content-type"].startswith("text/plain")
    assert int(r.headers["retry-after"]) >= 1
    assert r.text == "Server busy, retry shortly"
