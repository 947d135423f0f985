"""Campaigns over REST: create, list, fetch and lifecycle (seed 004, spec "Campaign")."""

from __future__ import annotations

import re

from sqlalchemy import select

from db.tables import OutboxEvent

QUICK_START = [
    "Share the short URL in your campaign channel.",
    "Click once to validate click/context tracking.",
    "Post one conversion event to complete activation.",
]

# Goal type → (trackingPreset, conversionEventType), as tabled in seed 004.
GOAL_DEFAULTS = [
    ("PRODUCT_SALE", "ga4_purchase", "purchase"),
    ("LEAD_CAPTURE", "ga4_lead", "lead"),
    ("NEWSLETTER", "ga4_sign_up", "newsletter_signup"),
    ("AFFILIATE_CLICKOUT", "custom_webhook", "affiliate_click"),
    ("APP_INSTALL", "ga4_app_install", "app_install"),
]

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def url(handle: str, *rest: str) -> str:
    return "/".join([f"/v2/handles/{handle}/campaigns", *rest])


async def create(client, tenant, **body):
    body.setdefault("goalType", "PRODUCT_SALE")
    return await client.post(url(tenant.handle), json=body, headers=tenant.auth())


async def patch_status(client, tenant, campaign_id: str, status: str):
    return await client.patch(
        url(tenant.handle, campaign_id), json={"status": status}, headers=tenant.auth()
    )


# --- create ---------------------------------------------------------------------------


async def test_create_with_explicit_id_returns_campaign_and_quick_start(client, tenant):
    response = await create(client, tenant, campaignId="spring-launch", primarySlug="spring-promo")
    assert response.status_code == 201, response.text
    body = response.json()
    campaign = body["campaign"]
    assert campaign["campaignId"] == "spring-launch"
    assert campaign["handle"] == tenant.handle
    assert campaign["goalType"] == "PRODUCT_SALE"
    assert campaign["primarySlug"] == "spring-promo"
    assert campaign["detailsPageSlug"] is None
    assert ISO_UTC.match(campaign["createdAt"]), campaign["createdAt"]
    assert ISO_UTC.match(campaign["updatedAt"]), campaign["updatedAt"]
    assert body["quickStart"] == QUICK_START


async def test_create_without_id_generates_cmp_hex_id(client, tenant):
    first = await create(client, tenant)
    second = await create(client, tenant)
    assert first.status_code == second.status_code == 201
    ids = [r.json()["campaign"]["campaignId"] for r in (first, second)]
    for campaign_id in ids:
        assert re.fullmatch(r"cmp_[0-9a-f]+", campaign_id), campaign_id
        # A generated id is itself a valid campaign id and can be fetched.
        assert re.fullmatch(r"[a-z0-9][a-z0-9_-]{2,63}", campaign_id)
        fetched = await client.get(url(tenant.handle, campaign_id), headers=tenant.auth())
        assert fetched.status_code == 200
    assert ids[0] != ids[1]


async def test_each_goal_type_sets_its_default_preset_and_event_type(client, tenant):
    for goal, preset, event_type in GOAL_DEFAULTS:
        campaign_id = f"goal-{goal.lower().replace('_', '-')}"
        response = await create(client, tenant, campaignId=campaign_id, goalType=goal)
        assert response.status_code == 201, response.text
        campaign = response.json()["campaign"]
        assert campaign["goalType"] == goal
        assert (campaign["trackingPreset"], campaign["conversionEventType"]) == (
            preset,
            event_type,
        ), goal
        fetched = (await client.get(url(tenant.handle, campaign_id), headers=tenant.auth())).json()
        assert fetched["campaign"]["trackingPreset"] == preset


async def test_goal_type_defaults_can_be_overridden_at_creation(client, tenant):
    for goal, _preset, _event_type in GOAL_DEFAULTS:
        campaign_id = f"over-{goal.lower().replace('_', '-')}"
        response = await create(
            client,
            tenant,
            campaignId=campaign_id,
            goalType=goal,
            trackingPreset="my_preset",
            conversionEventType="my_event",
        )
        assert response.status_code == 201, response.text
        campaign = response.json()["campaign"]
        assert campaign["trackingPreset"] == "my_preset", goal
        assert campaign["conversionEventType"] == "my_event", goal
        fetched = (await client.get(url(tenant.handle, campaign_id), headers=tenant.auth())).json()
        assert fetched["campaign"]["trackingPreset"] == "my_preset"
        assert fetched["campaign"]["conversionEventType"] == "my_event"


async def test_only_one_default_may_be_overridden(client, tenant):
    response = await create(client, tenant, goalType="LEAD_CAPTURE", conversionEventType="signup")
    campaign = response.json()["campaign"]
    assert campaign["trackingPreset"] == "ga4_lead"
    assert campaign["conversionEventType"] == "signup"


async def test_new_campaign_defaults_to_draft(client, tenant):
    response = await create(client, tenant, campaignId="draft-one")
    assert response.json()["campaign"]["status"] == "DRAFT"


async def test_campaign_may_start_active(client, tenant):
    response = await create(client, tenant, campaignId="live-one", status="ACTIVE")
    assert response.status_code == 201
    assert response.json()["campaign"]["status"] == "ACTIVE"


async def test_campaign_cannot_start_paused(client, tenant):
    response = await create(client, tenant, campaignId="paused-one", status="PAUSED")
    assert response.status_code == 409
    assert response.json()["error"] == "invalid_status_transition"
    assert response.json()["message"]
    missing = await client.get(url(tenant.handle, "paused-one"), headers=tenant.auth())
    assert missing.status_code == 404


async def test_duplicate_campaign_id_is_a_conflict(client, tenant):
    first = await create(client, tenant, campaignId="twice", goalType="NEWSLETTER")
    assert first.status_code == 201
    second = await create(client, tenant, campaignId="twice", goalType="APP_INSTALL")
    assert second.status_code == 409
    assert second.json()["error"] == "campaign_conflict"
    # The original survives unchanged.
    kept = await client.get(url(tenant.handle, "twice"), headers=tenant.auth())
    assert kept.json()["campaign"]["goalType"] == "NEWSLETTER"


async def test_same_campaign_id_may_exist_in_two_handles(client, tenant):
    mine = await create(client, tenant, campaignId="shared-name")
    assert mine.status_code == 201
    theirs = await client.post(
        url(tenant.other_handle),
        json={"campaignId": "shared-name", "goalType": "LEAD_CAPTURE"},
        headers=tenant.auth(handle=tenant.other_handle),
    )
    assert theirs.status_code == 201, theirs.text
    own = await client.get(url(tenant.handle, "shared-name"), headers=tenant.auth())
    assert own.json()["campaign"]["goalType"] == "PRODUCT_SALE"


async def test_invalid_campaign_ids_are_rejected(client, tenant):
    bad_ids = [
        "Spring-Launch",  # uppercase
        "ab",  # too short
        "a" * 65,  # too long
        "-leading-dash",
        "_leading-underscore",
        "has space",
        "dot.inside",
        "café",
    ]
    for bad_id in bad_ids:
        response = await create(client, tenant, campaignId=bad_id)
        assert response.status_code == 400, bad_id
        assert response.json()["error"] == "invalid_campaign_id", bad_id
        assert response.json()["message"]
    listed = await client.get(url(tenant.handle), headers=tenant.auth())
    assert listed.json()["total"] == 0


async def test_campaign_id_boundaries_are_accepted(client, tenant):
    for good_id in ["abc", "a" * 64, "0-_", "9lives_2024-q1"]:
        response = await create(client, tenant, campaignId=good_id)
        assert response.status_code == 201, response.text
        assert response.json()["campaign"]["campaignId"] == good_id


# --- list -----------------------------------------------------------------------------


async def test_list_is_empty_for_a_fresh_handle(client, tenant):
    response = await client.get(url(tenant.handle), headers=tenant.auth())
    assert response.status_code == 200
    assert response.json() == {"campaigns": [], "nextCursor": None, "hasMore": False, "total": 0}


async def test_list_filters_by_status(client, tenant):
    for cid in ("d-one", "d-two"):
        await create(client, tenant, campaignId=cid)
    for cid in ("a-one", "a-two", "p-one"):
        await create(client, tenant, campaignId=cid, status="ACTIVE")
    assert (await patch_status(client, tenant, "p-one", "PAUSED")).status_code == 200

    async def ids(status: str | None) -> tuple[set[str], int]:
        params = {"status": status} if status else {}
        response = await client.get(url(tenant.handle), params=params, headers=tenant.auth())
        assert response.status_code == 200
        body = response.json()
        return {c["campaignId"] for c in body["campaigns"]}, body["total"]

    assert await ids(None) == ({"d-one", "d-two", "a-one", "a-two", "p-one"}, 5)
    assert await ids("DRAFT") == ({"d-one", "d-two"}, 2)
    assert await ids("ACTIVE") == ({"a-one", "a-two"}, 2)
    assert await ids("PAUSED") == ({"p-one"}, 1)


async def test_list_rejects_unknown_status_filter(client, tenant):
    response = await client.get(
        url(tenant.handle), params={"status": "NOPE"}, headers=tenant.auth()
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_list_does_not_show_other_handles_campaigns(client, tenant):
    await create(client, tenant, campaignId="mine")
    await client.post(
        url(tenant.other_handle),
        json={"campaignId": "theirs", "goalType": "PRODUCT_SALE"},
        headers=tenant.auth(handle=tenant.other_handle),
    )
    body = (await client.get(url(tenant.handle), headers=tenant.auth())).json()
    assert [c["campaignId"] for c in body["campaigns"]] == ["mine"]
    assert body["total"] == 1


async def test_cursor_pagination_walks_every_campaign_exactly_once(client, tenant):
    created = {f"page-{i:02d}" for i in range(7)}
    for cid in sorted(created):
        assert (await create(client, tenant, campaignId=cid)).status_code == 201

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        response = await client.get(url(tenant.handle), params=params, headers=tenant.auth())
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"campaigns", "nextCursor", "hasMore", "total"}
        assert body["total"] == 7
        assert len(body["campaigns"]) <= 3
        seen += [c["campaignId"] for c in body["campaigns"]]
        pages += 1
        if not body["hasMore"]:
            assert body["nextCursor"] is None
            break
        assert body["nextCursor"]
        cursor = body["nextCursor"]
    assert pages == 3
    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == created


async def test_list_is_newest_first(client, tenant):
    for cid in ("older", "middle", "newest"):
        await create(client, tenant, campaignId=cid)
    body = (await client.get(url(tenant.handle), headers=tenant.auth())).json()
    assert [c["campaignId"] for c in body["campaigns"]] == ["newest", "middle", "older"]


async def test_pagination_with_status_filter(client, tenant):
    for i in range(4):
        await create(client, tenant, campaignId=f"live-{i}", status="ACTIVE")
        await create(client, tenant, campaignId=f"draft-{i}")
    first = (
        await client.get(
            url(tenant.handle), params={"status": "ACTIVE", "limit": 3}, headers=tenant.auth()
        )
    ).json()
    second = (
        await client.get(
            url(tenant.handle),
            params={"status": "ACTIVE", "limit": 3, "cursor": first["nextCursor"]},
            headers=tenant.auth(),
        )
    ).json()
    ids = [c["campaignId"] for c in first["campaigns"] + second["campaigns"]]
    assert sorted(ids) == [f"live-{i}" for i in range(4)]
    assert first["hasMore"] is True and second["hasMore"] is False
    assert first["total"] == second["total"] == 4


async def test_list_rejects_out_of_range_limit(client, tenant):
    for limit in ["0", "101", "-1", "ten"]:
        response = await client.get(
            url(tenant.handle), params={"limit": limit}, headers=tenant.auth()
        )
        assert response.status_code == 400, limit
        assert response.json()["error"] == "invalid_request"
        assert response.json()["message"]


async def test_list_accepts_limit_bounds(client, tenant):
    await create(client, tenant, campaignId="one-of-two")
    await create(client, tenant, campaignId="two-of-two")
    for limit in (1, 100):
        response = await client.get(
            url(tenant.handle), params={"limit": limit}, headers=tenant.auth()
        )
        assert response.status_code == 200
        assert len(response.json()["campaigns"]) == min(limit, 2)
        assert response.json()["hasMore"] is (limit == 1)


async def test_list_rejects_garbage_cursor(client, tenant):
    response = await client.get(
        url(tenant.handle), params={"cursor": "not-a-cursor!!"}, headers=tenant.auth()
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


# --- get ------------------------------------------------------------------------------


async def test_get_returns_the_created_campaign(client, tenant):
    created = (
        await create(client, tenant, campaignId="fetch-me", goalType="AFFILIATE_CLICKOUT")
    ).json()["campaign"]
    response = await client.get(url(tenant.handle, "fetch-me"), headers=tenant.auth("VIEWER"))
    assert response.status_code == 200
    assert response.json() == {"campaign": created}


async def test_get_unknown_campaign_is_not_found(client, tenant):
    response = await client.get(url(tenant.handle, "no-such-campaign"), headers=tenant.auth())
    assert response.status_code == 404
    assert response.json()["error"] == "campaign_not_found"
    assert "no-such-campaign" in response.json()["message"]


async def test_campaign_of_another_handle_is_not_found_in_mine(client, tenant):
    await client.post(
        url(tenant.other_handle),
        json={"campaignId": "elsewhere", "goalType": "PRODUCT_SALE"},
        headers=tenant.auth(handle=tenant.other_handle),
    )
    response = await client.get(url(tenant.handle, "elsewhere"), headers=tenant.auth())
    assert response.status_code == 404
    assert response.json()["error"] == "campaign_not_found"


# --- lifecycle ------------------------------------------------------------------------


async def test_lifecycle_draft_active_paused_active(client, tenant):
    await create(client, tenant, campaignId="cycle")
    for target in ("ACTIVE", "PAUSED", "ACTIVE", "PAUSED"):
        response = await patch_status(client, tenant, "cycle", target)
        assert response.status_code == 200, response.text
        assert response.json()["campaign"]["status"] == target
        fetched = await client.get(url(tenant.handle, "cycle"), headers=tenant.auth())
        assert fetched.json()["campaign"]["status"] == target


# (steps to reach the starting state from DRAFT, disallowed target)
DISALLOWED = [
    ([], "PAUSED"),  # DRAFT → PAUSED
    ([], "DRAFT"),  # DRAFT → DRAFT
    (["ACTIVE"], "DRAFT"),  # ACTIVE → DRAFT
    (["ACTIVE"], "ACTIVE"),  # ACTIVE → ACTIVE
    (["ACTIVE", "PAUSED"], "DRAFT"),  # PAUSED → DRAFT
    (["ACTIVE", "PAUSED"], "PAUSED"),  # PAUSED → PAUSED
]


async def test_disallowed_status_transitions_conflict_and_change_nothing(client, tenant):
    for n, (path, target) in enumerate(DISALLOWED):
        campaign_id = f"strict-{n}"
        await create(client, tenant, campaignId=campaign_id)
        for step in path:
            assert (await patch_status(client, tenant, campaign_id, step)).status_code == 200
        before = (await client.get(url(tenant.handle, campaign_id), headers=tenant.auth())).json()
        response = await patch_status(client, tenant, campaign_id, target)
        assert response.status_code == 409, (path, target)
        assert response.json()["error"] == "invalid_status_transition"
        assert response.json()["message"]
        after = (await client.get(url(tenant.handle, campaign_id), headers=tenant.auth())).json()
        assert after == before


async def test_paused_campaign_cannot_return_to_draft(client, tenant):
    await create(client, tenant, campaignId="no-way-back", status="ACTIVE")
    assert (await patch_status(client, tenant, "no-way-back", "PAUSED")).status_code == 200
    response = await patch_status(client, tenant, "no-way-back", "DRAFT")
    assert response.status_code == 409
    assert response.json()["error"] == "invalid_status_transition"


async def test_patch_unknown_campaign_is_not_found(client, tenant):
    response = await patch_status(client, tenant, "ghost", "ACTIVE")
    assert response.status_code == 404
    assert response.json()["error"] == "campaign_not_found"


async def test_status_change_bumps_updated_at_but_not_created_at(client, tenant):
    created = (await create(client, tenant, campaignId="stamped")).json()["campaign"]
    changed = (await patch_status(client, tenant, "stamped", "ACTIVE")).json()["campaign"]
    assert changed["createdAt"] == created["createdAt"]
    assert changed["updatedAt"] >= created["updatedAt"]


async def _status_events(ctx, handle: str) -> list[OutboxEvent]:
    async with ctx.sessions() as session:
        rows = await session.execute(
            select(OutboxEvent)
            .where(OutboxEvent.handle == handle, OutboxEvent.type == "campaign.status_changed")
            .order_by(OutboxEvent.created_at)
        )
        return list(rows.scalars().all())


async def test_status_change_writes_outbox_event(client, tenant, ctx):
    await create(client, tenant, campaignId="announced")
    assert await _status_events(ctx, tenant.handle) == []
    assert (await patch_status(client, tenant, "announced", "ACTIVE")).status_code == 200
    assert (await patch_status(client, tenant, "announced", "PAUSED")).status_code == 200

    events = await _status_events(ctx, tenant.handle)
    assert len(events) == 2
    moves = [(e.payload["data"]["from"], e.payload["data"]["to"]) for e in events]
    assert sorted(moves) == [("ACTIVE", "PAUSED"), ("DRAFT", "ACTIVE")]
    for event in events:
        assert event.account_id == tenant.account_id
        assert event.status == "PENDING"
        payload = event.payload
        assert set(payload) >= {"id", "type", "createdAt", "handle", "data"}
        assert payload["id"] == event.id
        assert payload["type"] == "campaign.status_changed"
        assert payload["handle"] == tenant.handle
        assert payload["data"]["campaignId"] == "announced"


async def test_rejected_status_change_writes_no_outbox_event(client, tenant, ctx):
    await create(client, tenant, campaignId="quiet")
    assert (await patch_status(client, tenant, "quiet", "PAUSED")).status_code == 409
    assert await _status_events(ctx, tenant.handle) == []
