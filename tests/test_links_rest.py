"""Short links over REST: PUT upsert, GET, list, DELETE (seed 004 "Associate links")."""

from __future__ import annotations

from tests.factories import SPRING, make_campaign, make_link


def link_url(handle: str, slug: str | None = None) -> str:
    base = f"/v2/handles/{handle}/links"
    return base if slug is None else f"{base}/{slug}"


async def test_put_creates_link_then_updates_it(client, tenant):
    await make_campaign(client, tenant, "spring-launch")
    created = await make_link(
        client,
        tenant,
        "spring-promo",
        "https://shop.example.com/spring",
        campaign_id="spring-launch",
        append=True,
        expect=None,
    )
    assert created.status_code == 201, created.text
    link = created.json()["link"]
    assert link["slug"] == "spring-promo"
    assert link["handle"] == tenant.handle
    assert link["destinationUrl"] == "https://shop.example.com/spring"
    assert link["campaignId"] == "spring-launch"
    assert link["trackingPolicy"] == {"mode": "DIRECT", "appendContextParam": True}
    assert link["shortPath"] == f"/{tenant.handle}/spring-promo"

    updated = await make_link(
        client, tenant, "spring-promo", "http://shop.example.com/summer", expect=None
    )
    assert updated.status_code == 200, updated.text
    new = updated.json()["link"]
    assert new["destinationUrl"] == "http://shop.example.com/summer"
    # PUT replaces: omitted fields fall back to their defaults.
    assert new["campaignId"] is None
    assert new["trackingPolicy"] == {"mode": "DIRECT", "appendContextParam": False}
    assert new["createdAt"] == link["createdAt"]
    assert new["updatedAt"] >= link["updatedAt"]

    fetched = await client.get(link_url(tenant.handle, "spring-promo"), headers=tenant.auth())
    assert fetched.status_code == 200
    assert fetched.json() == {"link": new}


async def test_link_without_tracking_policy_defaults_to_direct_without_context(client, tenant):
    response = await make_link(client, tenant, "plain", SPRING, expect=None)
    assert response.status_code == 201
    assert response.json()["link"]["trackingPolicy"] == {
        "mode": "DIRECT",
        "appendContextParam": False,
    }
    assert response.json()["link"]["campaignId"] is None


async def test_get_unknown_link_is_not_found(client, tenant):
    response = await client.get(link_url(tenant.handle, "nothing-here"), headers=tenant.auth())
    assert response.status_code == 404
    assert response.json()["error"] == "link_not_found"
    assert response.json()["message"]


async def test_delete_removes_link(client, tenant):
    await make_link(client, tenant, "short-lived", SPRING, expect=None)
    deleted = await client.delete(link_url(tenant.handle, "short-lived"), headers=tenant.auth())
    assert deleted.status_code == 204
    assert deleted.content == b""
    gone = await client.get(link_url(tenant.handle, "short-lived"), headers=tenant.auth())
    assert gone.status_code == 404
    assert gone.json()["error"] == "link_not_found"
    again = await client.delete(link_url(tenant.handle, "short-lived"), headers=tenant.auth())
    assert again.status_code == 404
    assert again.json()["error"] == "link_not_found"
    listed = (await client.get(link_url(tenant.handle), headers=tenant.auth())).json()
    assert listed["links"] == [] and listed["total"] == 0


async def test_deleted_slug_can_be_created_again(client, tenant):
    await make_link(client, tenant, "reborn", SPRING, expect=None)
    await client.delete(link_url(tenant.handle, "reborn"), headers=tenant.auth())
    response = await make_link(client, tenant, "reborn", "https://new.example.com/", expect=None)
    assert response.status_code == 201
    assert response.json()["link"]["destinationUrl"] == "https://new.example.com/"


async def test_many_links_may_share_a_campaign_and_list_filters_by_campaign(client, tenant):
    await make_campaign(client, tenant, "ab-test")
    await make_campaign(client, tenant, "other-camp")
    for slug in ("variant-a", "variant-b", "variant-c"):
        await make_link(client, tenant, slug, SPRING, campaign_id="ab-test", expect=201)
    await make_link(client, tenant, "elsewhere", SPRING, campaign_id="other-camp", expect=None)
    await make_link(client, tenant, "loose", SPRING, expect=None)

    everything = (await client.get(link_url(tenant.handle), headers=tenant.auth())).json()
    assert [link["slug"] for link in everything["links"]] == [
        "elsewhere",
        "loose",
        "variant-a",
        "variant-b",
        "variant-c",
    ]
    assert everything["total"] == 5

    filtered = (
        await client.get(
            link_url(tenant.handle), params={"campaignId": "ab-test"}, headers=tenant.auth()
        )
    ).json()
    assert [link["slug"] for link in filtered["links"]] == ["variant-a", "variant-b", "variant-c"]
    assert all(link["campaignId"] == "ab-test" for link in filtered["links"])
    assert filtered["total"] == 3
    assert filtered["hasMore"] is False


async def test_link_list_pagination_visits_every_link_once(client, tenant):
    slugs = {f"s{i:02d}" for i in range(8)}
    for slug in slugs:
        await make_link(client, tenant, slug, SPRING, expect=None)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        body = (
            await client.get(link_url(tenant.handle), params=params, headers=tenant.auth())
        ).json()
        assert set(body) == {"links", "nextCursor", "hasMore", "total"}
        assert body["total"] == 8
        seen += [link["slug"] for link in body["links"]]
        if not body["hasMore"]:
            assert body["nextCursor"] is None
            break
        cursor = body["nextCursor"]
    assert seen == sorted(slugs)


async def test_link_list_rejects_out_of_range_limit(client, tenant):
    for limit in ("0", "101"):
        response = await client.get(
            link_url(tenant.handle), params={"limit": limit}, headers=tenant.auth()
        )
        assert response.status_code == 400, limit
        assert response.json()["error"] == "invalid_request"


async def test_links_of_another_handle_are_invisible(client, tenant):
    await client.put(
        link_url(tenant.other_handle, "their-link"),
        json={"destinationUrl": "https://globex.example.com/"},
        headers=tenant.auth(handle=tenant.other_handle),
    )
    listed = (await client.get(link_url(tenant.handle), headers=tenant.auth())).json()
    assert listed["links"] == []
    fetched = await client.get(link_url(tenant.handle, "their-link"), headers=tenant.auth())
    assert fetched.status_code == 404
    deleted = await client.delete(link_url(tenant.handle, "their-link"), headers=tenant.auth())
    assert deleted.status_code == 404
    still_there = await client.get(
        link_url(tenant.other_handle, "their-link"),
        headers=tenant.auth(handle=tenant.other_handle),
    )
    assert still_there.status_code == 200


async def test_destination_must_be_absolute_http_or_https(client, tenant):
    for destination in [
        "ftp://files.example.com/x",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "/relative/path",
        "//shop.example.com/protocol-relative",
        "shop.example.com/spring",
        "https://",
        "mailto:someone@example.com",
        "data:text/html,hi",
        "",
    ]:
        response = await make_link(client, tenant, "bad-dest", destination, expect=None)
        assert response.status_code == 400, (destination, response.text)
        assert response.json()["error"] in ("invalid_request", "invalid_destination_url")
        assert response.json()["message"]
    missing = await client.get(link_url(tenant.handle, "bad-dest"), headers=tenant.auth())
    assert missing.status_code == 404


async def test_destination_is_required(client, tenant):
    response = await client.put(
        link_url(tenant.handle, "no-dest"), json={"campaignId": None}, headers=tenant.auth()
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "destinationUrl" in response.json()["message"]


async def test_bad_destination_does_not_change_existing_link(client, tenant):
    await make_link(client, tenant, "stable", "https://good.example.com/", expect=None)
    response = await make_link(client, tenant, "stable", "javascript:alert(1)", expect=None)
    assert response.status_code == 400
    kept = (await client.get(link_url(tenant.handle, "stable"), headers=tenant.auth())).json()
    assert kept["link"]["destinationUrl"] == "https://good.example.com/"


async def test_link_campaign_must_exist(client, tenant):
    response = await make_link(
        client, tenant, "orphan", SPRING, campaign_id="never-created", expect=None
    )
    assert response.status_code == 404
    assert response.json()["error"] == "campaign_not_found"
    missing = await client.get(link_url(tenant.handle, "orphan"), headers=tenant.auth())
    assert missing.status_code == 404


async def test_link_cannot_join_a_campaign_of_another_handle(client, tenant):
    await make_campaign(client, tenant, "globex-campaign", handle=tenant.other_handle)
    response = await make_link(
        client, tenant, "sneaky", SPRING, campaign_id="globex-campaign", expect=None
    )
    assert response.status_code == 404
    assert response.json()["error"] == "campaign_not_found"


async def test_invalid_slug_is_rejected(client, tenant):
    response = await client.put(
        link_url(tenant.handle, "-dash-first"),
        json={"destinationUrl": "https://example.com/"},
        headers=tenant.auth(),
    )
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_slug", "invalid_request")
