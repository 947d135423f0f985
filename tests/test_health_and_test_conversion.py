"""Campaign health checks and test conversions (seed 004, steps 3 and 4)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from db.tables import Campaign, Conversion, OutboxEvent
from tests.conftest import gql
from tests.factories import SPRING, make_campaign, make_link

SEED_TEST_CONVERSION = {
    "eventType": "purchase",
    "value": 99.99,
    "currency": "USD",
    "metadata": {"orderId": "12345", "items": 3},
}


def campaigns_url(handle: str, *rest: str) -> str:
    return "/".join([f"/v2/handles/{handle}/campaigns", *rest])


async def health(client, tenant, campaign_id: str, role: str = "CREATOR") -> dict:
    response = await client.get(
        campaigns_url(tenant.handle, campaign_id, "health"), headers=tenant.auth(role)
    )
    assert response.status_code == 200, response.text
    return response.json()


def check(report: dict, name: str) -> dict:
    matches = [c for c in report["checks"] if c["name"] == name]
    assert len(matches) == 1, report
    return matches[0]


async def post_test_conversion(client, tenant, campaign_id: str, body: dict | None = None):
    return await client.post(
        campaigns_url(tenant.handle, campaign_id, "test-conversion"),
        json=SEED_TEST_CONVERSION if body is None else body,
        headers=tenant.auth(),
    )


# --- health ---------------------------------------------------------------------------


async def test_health_of_a_ready_campaign_matches_the_seed(client, tenant):
    await make_campaign(
        client, tenant, "spring-launch", status="ACTIVE", primarySlug="spring-promo"
    )
    await make_link(
        client, tenant, "spring-promo", SPRING, campaign_id="spring-launch", append=True
    )

    report = await health(client, tenant, "spring-launch", role="VIEWER")
    assert report["campaignId"] == "spring-launch"
    assert report["readiness"] == "READY"
    for c in report["checks"]:
        assert set(c) == {"name", "status", "detail"}
        assert c["status"] in ("PASS", "WARN", "FAIL")
        assert isinstance(c["detail"], str) and c["detail"]
    assert check(report, "tracking_preset") == {
        "name": "tracking_preset",
        "status": "PASS",
        "detail": "Using tracking preset 'ga4_purchase'.",
    }
    assert check(report, "conversion_event_type") == {
        "name": "conversion_event_type",
        "status": "PASS",
        "detail": "Using event type 'purchase'.",
    }
    assert check(report, "primary_link") == {
        "name": "primary_link",
        "status": "PASS",
        "detail": "Primary link configured: spring-promo",
    }
    names = [c["name"] for c in report["checks"]]
    assert names[:3] == ["tracking_preset", "conversion_event_type", "primary_link"]
    assert len(names) == len(set(names))
    assert all(c["status"] != "FAIL" for c in report["checks"])


async def test_health_is_not_ready_without_primary_slug(client, tenant):
    await make_campaign(client, tenant, "no-primary")
    report = await health(client, tenant, "no-primary")
    assert report["readiness"] == "NOT_READY"
    assert check(report, "primary_link")["status"] == "FAIL"
    assert check(report, "primary_link")["detail"]


async def test_health_is_not_ready_when_primary_link_does_not_exist(client, tenant):
    await make_campaign(client, tenant, "dangling", primarySlug="missing-link")
    report = await health(client, tenant, "dangling")
    assert report["readiness"] == "NOT_READY"
    primary = check(report, "primary_link")
    assert primary["status"] == "FAIL"
    assert "missing-link" in primary["detail"]


async def test_health_is_not_ready_when_primary_link_belongs_to_another_campaign(client, tenant):
    await make_campaign(client, tenant, "owner-camp")
    await make_campaign(client, tenant, "borrower", primarySlug="owned-link")
    await make_link(client, tenant, "owned-link", SPRING, campaign_id="owner-camp")
    report = await health(client, tenant, "borrower")
    assert report["readiness"] == "NOT_READY"
    primary = check(report, "primary_link")
    assert primary["status"] == "FAIL"
    assert "owned-link" in primary["detail"]
    # The owner's link is not misattributed to the borrower, nor the other way round.
    assert (await health(client, tenant, "owner-camp"))["readiness"] == "NOT_READY"


async def test_health_is_not_ready_when_primary_link_has_no_campaign(client, tenant):
    await make_campaign(client, tenant, "unlinked", primarySlug="free-link")
    await make_link(client, tenant, "free-link", SPRING, campaign_id=None)
    report = await health(client, tenant, "unlinked")
    assert report["readiness"] == "NOT_READY"
    assert check(report, "primary_link")["status"] == "FAIL"


async def test_health_turns_ready_once_the_primary_link_is_attached(client, tenant):
    await make_campaign(client, tenant, "becoming-ready", primarySlug="late-link")
    assert (await health(client, tenant, "becoming-ready"))["readiness"] == "NOT_READY"
    await make_link(client, tenant, "late-link", SPRING, campaign_id="becoming-ready")
    report = await health(client, tenant, "becoming-ready")
    assert report["readiness"] == "READY"
    assert check(report, "primary_link")["status"] == "PASS"


async def test_health_patch_primary_slug_is_reflected(client, tenant):
    await make_campaign(client, tenant, "repointed")
    await make_link(client, tenant, "new-primary", SPRING, campaign_id="repointed")
    response = await client.patch(
        campaigns_url(tenant.handle, "repointed"),
        json={"primarySlug": "new-primary"},
        headers=tenant.auth(),
    )
    assert response.status_code == 200, response.text
    assert response.json()["campaign"]["primarySlug"] == "new-primary"
    assert (await health(client, tenant, "repointed"))["readiness"] == "READY"


async def test_health_names_each_goal_types_defaults(client, tenant):
    for goal, preset, event_type in [
        ("LEAD_CAPTURE", "ga4_lead", "lead"),
        ("NEWSLETTER", "ga4_sign_up", "newsletter_signup"),
        ("AFFILIATE_CLICKOUT", "custom_webhook", "affiliate_click"),
        ("APP_INSTALL", "ga4_app_install", "app_install"),
    ]:
        campaign_id = f"by-{goal.lower().replace('_', '-')}"
        await make_campaign(client, tenant, campaign_id, goal_type=goal)
        report = await health(client, tenant, campaign_id)
        assert check(report, "tracking_preset")["status"] == "PASS", goal
        assert preset in check(report, "tracking_preset")["detail"]
        assert check(report, "conversion_event_type")["status"] == "PASS", goal
        assert event_type in check(report, "conversion_event_type")["detail"]


async def test_health_warns_about_a_custom_tracking_preset(client, tenant):
    await make_campaign(client, tenant, "custom-preset", trackingPreset="my_own_tag")
    tracking = check(await health(client, tenant, "custom-preset"), "tracking_preset")
    assert tracking["status"] == "WARN"
    assert "my_own_tag" in tracking["detail"]


async def test_health_fails_an_invalid_event_type(client, ctx, tenant):
    """A campaign stored before event types were checked at creation."""
    await make_campaign(client, tenant, "bad-event")
    async with ctx.sessions() as session:
        await session.execute(
            update(Campaign)
            .where(Campaign.handle == tenant.handle, Campaign.campaign_id == "bad-event")
            .values(conversion_event_type="has spaces!")
        )
        await session.commit()
    report = await health(client, tenant, "bad-event")
    assert check(report, "conversion_event_type")["status"] == "FAIL"
    assert report["readiness"] == "NOT_READY"


@pytest.mark.parametrize("event_type", ["has spaces!", "purchase\n", " purchase", "x" * 65])
async def test_a_campaign_conversion_event_type_is_an_identifier(client, tenant, event_type):
    body = {"campaignId": "bad-event", "goalType": "PRODUCT_SALE"}
    response = await client.post(
        campaigns_url(tenant.handle),
        json={**body, "conversionEventType": event_type},
        headers=tenant.auth(),
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert "conversionEventType" in response.json()["message"]


async def test_health_of_unknown_campaign_is_not_found(client, tenant):
    response = await client.get(
        campaigns_url(tenant.handle, "nobody", "health"), headers=tenant.auth()
    )
    assert response.status_code == 404
    assert response.json()["error"] == "campaign_not_found"


# --- test conversions -----------------------------------------------------------------


async def count_conversions(ctx, handle: str, campaign_id: str) -> int:
    async with ctx.sessions() as session:
        return (
            await session.execute(
                select(func.count())
                .select_from(Conversion)
                .where(Conversion.handle == handle, Conversion.campaign_id == campaign_id)
            )
        ).scalar_one()


async def conversion_tested_events(ctx, handle: str) -> list[OutboxEvent]:
    async with ctx.sessions() as session:
        rows = await session.execute(
            select(OutboxEvent).where(
                OutboxEvent.handle == handle, OutboxEvent.type == "conversion.tested"
            )
        )
        return list(rows.scalars().all())


async def test_test_conversion_is_stored_marked_as_test(client, tenant, ctx):
    await make_campaign(client, tenant, "spring-launch")
    response = await post_test_conversion(client, tenant, "spring-launch")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "created"
    conversion = body["conversion"]
    assert conversion["eventType"] == "purchase"
    assert conversion["campaignId"] == "spring-launch"
    assert conversion["value"] == pytest.approx(99.99)
    assert conversion["currency"] == "USD"
    assert conversion["metadata"] == {"orderId": "12345", "items": 3, "test": True}
    assert conversion["test"] is True

    async with ctx.sessions() as session:
        rows = (
            (await session.execute(select(Conversion).where(Conversion.handle == tenant.handle)))
            .scalars()
            .all()
        )
    assert len(rows) == 1
    stored = rows[0]
    assert stored.event_metadata["test"] is True
    assert stored.event_metadata["orderId"] == "12345"
    assert stored.is_test is True
    assert stored.campaign_id == "spring-launch"
    assert stored.event_type == "purchase"
    assert stored.value_micros == 99_990_000
    assert stored.account_id == tenant.account_id


async def test_test_conversion_emits_conversion_tested_outbox_event(client, tenant, ctx):
    await make_campaign(client, tenant, "webhooked")
    body = (await post_test_conversion(client, tenant, "webhooked")).json()
    events = await conversion_tested_events(ctx, tenant.handle)
    assert len(events) == 1
    event = events[0]
    payload = event.payload
    assert set(payload) == {"id", "type", "createdAt", "handle", "data"}
    assert payload["id"] == event.id
    assert payload["type"] == "conversion.tested"
    assert payload["handle"] == tenant.handle
    assert isinstance(payload["createdAt"], str) and payload["createdAt"].endswith("Z")
    assert payload["data"]["campaignId"] == "webhooked"
    assert payload["data"]["eventType"] == "purchase"
    assert payload["data"]["metadata"]["test"] is True
    assert body["webhookEvent"] == {"id": event.id, "type": "conversion.tested"}
    # A test conversion is not announced as a real conversion.
    async with ctx.sessions() as session:
        created = (
            await session.execute(
                select(func.count())
                .select_from(OutboxEvent)
                .where(
                    OutboxEvent.handle == tenant.handle,
                    OutboxEvent.type == "conversion.created",
                )
            )
        ).scalar_one()
    assert created == 0


async def test_test_conversion_turns_first_conversion_check_to_pass(client, tenant):
    await make_campaign(client, tenant, "activating")
    before = check(await health(client, tenant, "activating"), "first_conversion")
    assert before["status"] != "PASS"
    response = await post_test_conversion(client, tenant, "activating")
    assert response.status_code == 201
    after = check(await health(client, tenant, "activating"), "first_conversion")
    assert after["status"] == "PASS"
    assert after["detail"]


async def test_test_conversion_without_body_uses_campaign_event_type(client, tenant, ctx):
    await make_campaign(client, tenant, "lead-gen", goal_type="LEAD_CAPTURE")
    response = await client.post(
        campaigns_url(tenant.handle, "lead-gen", "test-conversion"), headers=tenant.auth()
    )
    assert response.status_code == 201, response.text
    conversion = response.json()["conversion"]
    assert conversion["eventType"] == "lead"
    assert conversion["metadata"] == {"test": True}
    assert await count_conversions(ctx, tenant.handle, "lead-gen") == 1


async def test_test_conversion_works_on_draft_and_paused_campaigns(client, tenant, ctx):
    await make_campaign(client, tenant, "not-live")
    assert (await post_test_conversion(client, tenant, "not-live")).status_code == 201
    await make_campaign(client, tenant, "was-live", status="ACTIVE")
    await client.patch(
        campaigns_url(tenant.handle, "was-live"), json={"status": "PAUSED"}, headers=tenant.auth()
    )
    assert (await post_test_conversion(client, tenant, "was-live")).status_code == 201
    assert await count_conversions(ctx, tenant.handle, "not-live") == 1
    assert await count_conversions(ctx, tenant.handle, "was-live") == 1


async def test_repeated_event_id_is_a_duplicate_and_not_counted_twice(client, tenant, ctx):
    await make_campaign(client, tenant, "idempotent")
    body = {**SEED_TEST_CONVERSION, "eventId": "order-12345"}
    first = await post_test_conversion(client, tenant, "idempotent", body)
    assert first.status_code == 201
    assert first.json()["status"] == "created"
    second = await post_test_conversion(client, tenant, "idempotent", body)
    assert second.status_code == 200, second.text
    assert second.json()["status"] == "duplicate"
    assert second.json()["conversion"]["conversionId"] == first.json()["conversion"]["conversionId"]
    assert await count_conversions(ctx, tenant.handle, "idempotent") == 1
    assert len(await conversion_tested_events(ctx, tenant.handle)) == 1
    first_conversion = check(await health(client, tenant, "idempotent"), "first_conversion")
    assert first_conversion["detail"].startswith("1 ")


async def test_distinct_event_ids_are_counted_separately(client, tenant, ctx):
    await make_campaign(client, tenant, "two-events")
    for event_id in ("evt-a", "evt-b"):
        body = {**SEED_TEST_CONVERSION, "eventId": event_id}
        assert (await post_test_conversion(client, tenant, "two-events", body)).status_code == 201
    assert await count_conversions(ctx, tenant.handle, "two-events") == 2
    assert len(await conversion_tested_events(ctx, tenant.handle)) == 2


async def test_test_conversion_for_unknown_campaign_is_not_found(client, tenant, ctx):
    response = await post_test_conversion(client, tenant, "ghost-campaign")
    assert response.status_code == 404
    assert response.json()["error"] == "campaign_not_found"
    assert await conversion_tested_events(ctx, tenant.handle) == []


async def test_invalid_test_conversion_is_rejected_without_writes(client, tenant, ctx):
    await make_campaign(client, tenant, "strict-input")
    for body in [
        {"value": -1},
        {"currency": "DOLLARS"},
        {"metadata": "not-an-object"},
        {"eventType": ""},
        {"eventType": "not valid"},
        {"unexpected": True},
    ]:
        response = await post_test_conversion(client, tenant, "strict-input", body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"] == "invalid_request"
        assert response.json()["message"]
    assert await count_conversions(ctx, tenant.handle, "strict-input") == 0
    assert await conversion_tested_events(ctx, tenant.handle) == []


async def test_a_test_conversion_goes_through_the_group_commit_writer(
    client, tenant, app, monkeypatch
):
    """Like every other conversion, on both doors: one writer, one rollup path."""
    writer = app.state.services.ingest
    calls: list[tuple[str, bool]] = []
    real = writer.record_conversions

    async def spying(account, handle, events, *, is_test=False):
        calls.append((handle, is_test))
        return await real(account, handle, events, is_test=is_test)

    monkeypatch.setattr(writer, "record_conversions", spying)
    await make_campaign(client, tenant, "grouped")
    assert (await post_test_conversion(client, tenant, "grouped")).status_code == 201
    body = await gql(
        client,
        'mutation($h: String!) { testConversion(handle: $h, campaignId: "grouped") '
        "{ status conversion { test campaignId } } }",
        tenant.auth(),
        h=tenant.handle,
    )
    assert body["data"]["testConversion"]["conversion"] == {"test": True, "campaignId": "grouped"}
    assert calls == [(tenant.handle, True), (tenant.handle, True)]
