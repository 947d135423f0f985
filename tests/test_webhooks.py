"""Webhooks: subscriptions, signed delivery from the outbox to a real receiver on 127.0.0.1,
retries with backoff, the delivery log, redelivery and URL refusal."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from app.main import create_app
from app.runtime.webhook_worker import (
    LEASE_MARGIN_S,
    backoff_delay,
    claim_due,
    fan_out,
    run_once,
    sign,
)
from db.engine import make_engine, make_session_factory
from db.tables import OutboxEvent, WebhookDelivery
from resolvers.domain import utcnow
from tests.conftest import gql
from tests.factories import make_campaign
from tests.inprocess import serving
from tests.webhook_receiver import Received, Receiver

CAMPAIGN = "spring-launch"
ALL_EVENTS = ["conversion.tested", "conversion.created", "campaign.status_changed"]


# --- fixtures: the worker is driven by hand, with tiny backoff ------------------------------


@pytest.fixture
def settings(settings):
    return settings.model_copy(
        update={
            "webhook_worker_enabled": False,
            "webhook_backoff_base_s": 0.001,
            "webhook_timeout_s": 5.0,
        }
    )


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


async def drive(
    app: Any,
    http: httpx.AsyncClient,
    until: Callable[[], bool],
    *,
    timeout: float = 10.0,
    settings: Any = None,
) -> None:
    """Run worker passes until ``until()`` holds."""
    services = app.state.services
    deadline = time.monotonic() + timeout
    while True:
        await run_once(services.sessions, settings or services.settings, http)
        if until():
            return
        assert time.monotonic() < deadline, "the worker did not get there in time"
        await asyncio.sleep(0.005)


async def passes(
    app: Any, http: httpx.AsyncClient, n: int, *, settings: Any = None, **kw: Any
) -> None:
    """Run ``n`` worker passes."""
    services = app.state.services
    for _ in range(n):
        await run_once(services.sessions, settings or services.settings, http, **kw)


# --- helpers ---------------------------------------------------------------------------------


def hooks_url(handle: str, *rest: str) -> str:
    return "/".join([f"/v2/handles/{handle}/webhooks", *rest])


async def subscribe(client, tenant, url: str, events: list[str] | None = None) -> dict:
    response = await client.post(
        hooks_url(tenant.handle),
        json={"url": url, "events": events or ALL_EVENTS},
        headers=tenant.auth("ADMIN"),
    )
    assert response.status_code == 201, response.text
    return response.json()


async def send_test_conversion(client, tenant, campaign_id: str) -> str:
    """Post a test conversion; returns the id of the conversion.tested event it emitted."""
    response = await client.post(
        f"/v2/handles/{tenant.handle}/campaigns/{campaign_id}/test-conversion",
        json={"value": 10, "currency": "USD"},
        headers=tenant.auth(),
    )
    assert response.status_code == 201, response.text
    return response.json()["webhookEvent"]["id"]


async def deliveries(client, tenant, webhook_id: str, **params: Any) -> dict:
    response = await client.get(
        hooks_url(tenant.handle, webhook_id, "deliveries"),
        params=params,
        headers=tenant.auth("ADMIN"),
    )
    assert response.status_code == 200, response.text
    return response.json()


def verify_signature(secret: str, received: Received) -> None:
    """Check Funnelgate-Signature independently of the gateway's code."""
    parts = dict(p.split("=", 1) for p in received.headers["funnelgate-signature"].split(","))
    signed = parts["t"].encode() + b"." + received.body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)
    assert abs(int(parts["t"]) - time.time()) < 300


# --- delivery --------------------------------------------------------------------------------


async def test_test_conversion_is_delivered_signed_to_the_receiver(
    client, app, http, tenant, receiver
):
    created = await subscribe(client, tenant, receiver.url, ["conversion.tested"])
    secret = created["secret"]
    assert secret.startswith("whsec_")
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    event_id = await send_test_conversion(client, tenant, CAMPAIGN)

    await drive(app, http, lambda: len(receiver.delivered) == 1)

    got = receiver.delivered[0]
    verify_signature(secret, got)
    assert got.headers["content-type"] == "application/json"
    assert got.headers["funnelgate-event"] == "conversion.tested"
    body = got.json
    assert set(body) == {"id", "type", "createdAt", "handle", "data"}
    assert body["id"] == event_id
    assert body["type"] == "conversion.tested"
    assert body["handle"] == tenant.handle
    assert body["data"]["campaignId"] == CAMPAIGN
    assert body["data"]["metadata"]["test"] is True

    log = await deliveries(client, tenant, created["webhook"]["id"])
    assert log["total"] == 1
    delivery = log["deliveries"][0]
    assert delivery["id"] == got.headers["funnelgate-delivery"]
    assert delivery["eventId"] == event_id
    assert delivery["status"] == "DELIVERED"
    assert delivery["attempts"] == 1
    assert delivery["deliveredAt"] is not None
    assert delivery["payload"] == body
    assert [(a["attempt"], a["statusCode"], a["error"]) for a in delivery["attemptLog"]] == [
        (1, 200, None)
    ]


async def test_failed_attempts_are_retried_with_the_same_event_id_and_logged(
    client, app, http, tenant, receiver
):
    receiver.fail_next = 2
    created = await subscribe(client, tenant, receiver.url)
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    event_id = await send_test_conversion(client, tenant, CAMPAIGN)

    await drive(app, http, lambda: len(receiver.delivered) == 1)

    mine = [r for r in receiver.requests if r.path == receiver.path]
    assert [r.status for r in mine] == [500, 500, 200]
    assert {r.json["id"] for r in mine} == {event_id}
    assert len({r.body for r in mine}) == 1  # the exact stored payload every time
    assert len({r.headers["funnelgate-delivery"] for r in mine}) == 1
    for r in mine:
        verify_signature(created["secret"], r)

    delivery = (await deliveries(client, tenant, created["webhook"]["id"]))["deliveries"][0]
    assert delivery["status"] == "DELIVERED"
    assert delivery["attempts"] == 3
    log = delivery["attemptLog"]
    assert [(a["attempt"], a["statusCode"]) for a in log] == [(3, 200), (2, 500), (1, 500)]
    assert [a["error"] for a in log] == [None, "HTTP 500", "HTTP 500"]


async def test_a_failed_attempt_waits_for_its_backoff(client, app, http, tenant, receiver):
    receiver.fail_next = 1
    created = await subscribe(client, tenant, receiver.url, ["conversion.tested"])
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    event_id = await send_test_conversion(client, tenant, CAMPAIGN)
    slow = app.state.services.settings.model_copy(update={"webhook_backoff_base_s": 600.0})
    services = app.state.services

    before = utcnow()
    await run_once(services.sessions, slow, http)
    delivery = (await deliveries(client, tenant, created["webhook"]["id"]))["deliveries"][0]
    assert delivery["status"] == "RETRYING"
    assert delivery["lastStatusCode"] == 500
    wait = datetime.fromisoformat(delivery["nextAttemptAt"]) - before
    assert timedelta(0) <= wait <= timedelta(seconds=601)

    # Not due yet: a pass now sends nothing; once the wait is over, it is delivered.
    await run_once(services.sessions, slow, http, now=before + wait - timedelta(seconds=1))
    assert receiver.delivered == []
    await run_once(services.sessions, slow, http, now=before + wait + timedelta(seconds=1))
    assert [r.json["id"] for r in receiver.delivered] == [event_id]


def test_backoff_is_exponential_with_full_jitter(monkeypatch):
    import random

    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    assert [backoff_delay(n, 1.0) for n in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert backoff_delay(20, 1.0) == 3600.0
    assert backoff_delay(3, 0.5) == 2.0
    monkeypatch.undo()
    delays = [backoff_delay(4, 1.0) for _ in range(200)]
    assert all(0 <= d <= 8.0 for d in delays)
    assert len(set(delays)) > 100  # jittered, not a fixed schedule


async def test_a_delivery_is_dead_after_max_attempts_and_can_be_redelivered(
    client, app, http, tenant, receiver
):
    receiver.fail_next = 1000
    created = await subscribe(client, tenant, receiver.url, ["conversion.tested"])
    webhook_id = created["webhook"]["id"]
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    event_id = await send_test_conversion(client, tenant, CAMPAIGN)
    three = app.state.services.settings.model_copy(update={"webhook_max_attempts": 3})

    async def status() -> str:
        return (await deliveries(client, tenant, webhook_id))["deliveries"][0]["status"]

    deadline = time.monotonic() + 10
    await passes(app, http, 1, settings=three)
    while await status() != "DEAD":
        assert time.monotonic() < deadline
        await passes(app, http, 1, settings=three)
    delivery = (await deliveries(client, tenant, webhook_id))["deliveries"][0]
    assert delivery["attempts"] == 3
    assert delivery["nextAttemptAt"] is None
    assert len(delivery["attemptLog"]) == 3
    await passes(app, http, 3, settings=three)
    assert len([r for r in receiver.requests if r.path == receiver.path]) == 3  # DEAD stays dead

    receiver.fail_next = 0
    response = await client.post(
        hooks_url(tenant.handle, "deliveries", delivery["id"], "redeliver"),
        headers=tenant.auth("ADMIN"),
    )
    assert response.status_code == 202, response.text
    assert response.json()["delivery"]["status"] == "PENDING"
    again = await client.post(
        hooks_url(tenant.handle, "deliveries", delivery["id"], "redeliver"),
        headers=tenant.auth("ADMIN"),
    )
    assert again.status_code == 409
    assert again.json()["error"] == "delivery_pending"

    await drive(app, http, lambda: len(receiver.delivered) == 1, settings=three)
    assert receiver.delivered[0].json["id"] == event_id
    assert receiver.delivered[0].headers["funnelgate-delivery"] == delivery["id"]
    delivery = (await deliveries(client, tenant, webhook_id))["deliveries"][0]
    assert (delivery["status"], delivery["attempts"]) == ("DELIVERED", 4)
    assert [a["attempt"] for a in delivery["attemptLog"]] == [4, 3, 2, 1]


async def test_redeliver_unknown_or_other_handles_delivery_is_404(client, tenant):
    response = await client.post(
        hooks_url(tenant.handle, "deliveries", "dlv_nope", "redeliver"),
        headers=tenant.auth("ADMIN"),
    )
    assert response.status_code == 404
    assert response.json()["error"] == "delivery_not_found"


async def test_a_receiver_down_for_a_while_gets_every_event_once_after_a_restart(
    client, app, http, settings, tenant
):
    down = Receiver()  # nothing listens on its port yet: connection refused
    created = await subscribe(client, tenant, down.url)
    webhook_id = created["webhook"]["id"]
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    emitted = [await send_test_conversion(client, tenant, CAMPAIGN) for _ in range(3)]
    response = await client.patch(
        f"/v2/handles/{tenant.handle}/campaigns/{CAMPAIGN}",
        json={"status": "PAUSED"},
        headers=tenant.auth(),
    )
    assert response.status_code == 200, response.text

    await passes(app, http, 3)
    log = await deliveries(client, tenant, webhook_id)
    assert log["total"] == 4
    for d in log["deliveries"]:
        assert d["status"] == "RETRYING"
        assert d["attemptLog"] and d["attemptLog"][0]["statusCode"] is None
        assert "Connect" in d["attemptLog"][0]["error"]
    emitted += [d["eventId"] for d in log["deliveries"] if d["eventType"].startswith("campaign")]

    # A second gateway process takes over (the first one's state is only in the database).
    restarted = create_app(settings)
    async with restarted.router.lifespan_context(restarted):
        await down.start()
        try:
            await drive(restarted, http, lambda: len(down.delivered) >= 4)
            await passes(restarted, http, 3)
        finally:
            await down.stop()

    ids = [r.json["id"] for r in down.delivered]
    assert sorted(ids) == sorted(emitted)  # every event, once
    per_event = {(r.json["id"], r.headers["funnelgate-delivery"]) for r in down.delivered}
    assert len(per_event) == len(emitted)  # one delivery id per event
    for r in down.delivered:
        verify_signature(created["secret"], r)
    log = await deliveries(client, tenant, webhook_id)
    assert {d["status"] for d in log["deliveries"]} == {"DELIVERED"}


async def test_an_abandoned_claim_is_retried_after_its_lease(client, app, http, tenant, receiver):
    created = await subscribe(client, tenant, receiver.url, ["conversion.tested"])
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    event_id = await send_test_conversion(client, tenant, CAMPAIGN)
    services = app.state.services
    now = utcnow()
    await fan_out(services.sessions, now=now)
    claims = await claim_due(services.sessions, services.settings, now=now)
    assert event_id in {c.payload["id"] for c in claims}
    # ...and the process claiming them dies here, before posting anything.

    await passes(app, http, 2)
    assert receiver.delivered == []  # leased: nobody else takes it meanwhile

    later = now + timedelta(seconds=services.settings.webhook_timeout_s + LEASE_MARGIN_S + 1)
    await passes(app, http, 1, now=later)
    assert [r.json["id"] for r in receiver.delivered] == [event_id]
    delivery = (await deliveries(client, tenant, created["webhook"]["id"]))["deliveries"][0]
    assert (delivery["status"], delivery["attempts"]) == ("DELIVERED", 1)


async def test_one_event_never_becomes_two_deliveries(client, app, http, tenant, receiver):
    created = await subscribe(client, tenant, receiver.url, ["conversion.tested"])
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    event_id = await send_test_conversion(client, tenant, CAMPAIGN)
    sessions = app.state.services.sessions
    await fan_out(sessions, now=utcnow())
    async with sessions() as session:  # as if the fan-out had to run again
        await session.execute(
            update(OutboxEvent).where(OutboxEvent.id == event_id).values(status="PENDING")
        )
        await session.commit()
    await fan_out(sessions, now=utcnow())
    async with sessions() as session:
        count = await session.scalar(
            select(func.count()).where(WebhookDelivery.event_id == event_id)
        )
    assert count == 1
    await drive(app, http, lambda: len(receiver.delivered) == 1)
    await passes(app, http, 2)
    assert [r.json["id"] for r in receiver.delivered] == [event_id]
    assert (await deliveries(client, tenant, created["webhook"]["id"]))["total"] == 1


async def test_campaign_status_change_is_delivered_to_its_subscribers_only(
    client, app, http, tenant, receiver
):
    await subscribe(client, tenant, receiver.url, ["campaign.status_changed"])
    response = await client.post(
        f"/v2/handles/{tenant.handle}/campaigns",
        json={"campaignId": "autumn", "goalType": "LEAD_CAPTURE"},
        headers=tenant.auth(),
    )
    assert response.status_code == 201
    response = await client.patch(
        f"/v2/handles/{tenant.handle}/campaigns/autumn",
        json={"status": "ACTIVE"},
        headers=tenant.auth(),
    )
    assert response.status_code == 200, response.text
    await send_test_conversion(client, tenant, "autumn")  # not subscribed: never sent

    await drive(app, http, lambda: len(receiver.delivered) == 1)
    await passes(app, http, 2)
    assert len(receiver.delivered) == 1
    got = receiver.delivered[0]
    assert got.headers["funnelgate-event"] == "campaign.status_changed"
    assert got.json["type"] == "campaign.status_changed"
    data = got.json["data"]
    assert (data["campaignId"], data["from"], data["to"]) == ("autumn", "DRAFT", "ACTIVE")


async def test_disabled_subscriptions_receive_nothing(client, app, http, tenant, receiver):
    created = await subscribe(client, tenant, receiver.url, ["conversion.tested"])
    webhook_id = created["webhook"]["id"]
    response = await client.patch(
        hooks_url(tenant.handle, webhook_id), json={"enabled": False}, headers=tenant.auth("ADMIN")
    )
    assert response.status_code == 200
    assert response.json()["webhook"]["enabled"] is False
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    await send_test_conversion(client, tenant, CAMPAIGN)
    await passes(app, http, 3)
    assert receiver.requests == []
    assert (await deliveries(client, tenant, webhook_id))["total"] == 0


async def test_the_worker_refuses_a_destination_that_became_private(
    client, app, http, tenant, receiver
):
    created = await subscribe(client, tenant, receiver.url, ["conversion.tested"])
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    await send_test_conversion(client, tenant, CAMPAIGN)
    strict = app.state.services.settings.model_copy(update={"webhook_allow_private": False})
    await passes(app, http, 1, settings=strict)
    assert receiver.requests == []
    delivery = (await deliveries(client, tenant, created["webhook"]["id"]))["deliveries"][0]
    assert delivery["status"] == "RETRYING"
    assert "127.0.0.1 is not allowed" in delivery["attemptLog"][0]["error"]


async def test_a_slow_receiver_times_out_and_is_retried(client, app, http, tenant, receiver):
    receiver.delay = 1.0
    created = await subscribe(client, tenant, receiver.url, ["conversion.tested"])
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    await send_test_conversion(client, tenant, CAMPAIGN)
    quick = app.state.services.settings.model_copy(update={"webhook_timeout_s": 0.2})
    await passes(app, http, 1, settings=quick)
    delivery = (await deliveries(client, tenant, created["webhook"]["id"]))["deliveries"][0]
    assert delivery["status"] == "RETRYING"
    assert delivery["attemptLog"][0]["error"] == "Timed out after 0.2s."
    receiver.delay = 0.0
    await drive(app, http, lambda: len(receiver.delivered) >= 1)


async def test_the_background_worker_delivers_on_its_own(settings, tenant, receiver):
    live = {"webhook_worker_enabled": True, "webhook_poll_interval_s": 0.05}
    async with serving(settings, **live) as client:
        await subscribe(client, tenant, receiver.url, ["conversion.tested"])
        await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
        event_id = await send_test_conversion(client, tenant, CAMPAIGN)
        deadline = time.monotonic() + 10
        while not receiver.delivered:
            assert time.monotonic() < deadline, "the background worker delivered nothing"
            await asyncio.sleep(0.02)
    assert [r.json["id"] for r in receiver.delivered] == [event_id]


def test_signature_matches_an_independent_hmac():
    body = b'{"id":"evt_1"}'
    expected = hmac.new(b"whsec_k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("whsec_k", body, 1700000000) == f"t=1700000000,v1={expected}"


# --- two gateway processes on PostgreSQL ----------------------------------------------------


async def test_two_workers_deliver_each_event_exactly_once(
    client, app, settings, backend, tenant, receiver
):
    if backend != "postgresql":
        pytest.skip("SKIP LOCKED claims are a PostgreSQL matter; SQLite has one writer")
    receiver.delay = 0.02
    await subscribe(client, tenant, receiver.url, ["conversion.tested"])
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    emitted = [await send_test_conversion(client, tenant, CAMPAIGN) for _ in range(40)]

    # Two "gateway processes": separate engines and connection pools on one database.
    engines = [make_engine(settings.database_url) for _ in range(2)]
    attempted = [0, 0]
    try:
        workers = [make_session_factory(e) for e in engines]
        async with httpx.AsyncClient() as h1, httpx.AsyncClient() as h2:

            async def both() -> None:
                results = await asyncio.gather(
                    run_once(workers[0], settings, h1), run_once(workers[1], settings, h2)
                )
                for i, result in enumerate(results):
                    attempted[i] += result.attempted

            deadline = time.monotonic() + 30
            while len(receiver.delivered) < len(emitted):
                assert time.monotonic() < deadline
                await both()
            for _ in range(3):
                await both()
    finally:
        for e in engines:
            await e.dispose()

    counts = Counter(r.json["id"] for r in receiver.delivered)
    assert sorted(counts) == sorted(emitted)
    assert set(counts.values()) == {1}
    assert min(attempted) > 0  # both workers really took a share


# --- subscriptions: CRUD, secret once, validation, access -----------------------------------


async def test_secret_is_shown_once_and_crud_works(client, tenant):
    created = await subscribe(client, tenant, "https://hooks.example.com/in")
    secret, webhook = created["secret"], created["webhook"]
    assert "secret" not in webhook
    assert webhook["events"] == ALL_EVENTS
    admin = tenant.auth("ADMIN")

    listed = await client.get(hooks_url(tenant.handle), headers=admin)
    assert listed.status_code == 200
    assert [w["id"] for w in listed.json()["webhooks"]] == [webhook["id"]]
    fetched = await client.get(hooks_url(tenant.handle, webhook["id"]), headers=admin)
    assert fetched.json()["webhook"] == webhook
    assert secret not in listed.text and secret not in fetched.text

    patched = await client.patch(
        hooks_url(tenant.handle, webhook["id"]),
        json={"url": "https://other.example.com/x", "events": ["conversion.created"]},
        headers=admin,
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()["webhook"]
    assert (body["url"], body["events"], body["enabled"]) == (
        "https://other.example.com/x",
        ["conversion.created"],
        True,
    )
    assert secret not in patched.text

    deleted = await client.delete(hooks_url(tenant.handle, webhook["id"]), headers=admin)
    assert deleted.status_code == 204
    gone = await client.get(hooks_url(tenant.handle, webhook["id"]), headers=admin)
    assert gone.status_code == 404
    assert gone.json()["error"] == "webhook_not_found"
    again = await client.delete(hooks_url(tenant.handle, webhook["id"]), headers=admin)
    assert again.status_code == 404


@pytest.mark.parametrize(
    "body, code",
    [
        ({"url": "ftp://example.com/x", "events": ["conversion.tested"]}, "invalid_webhook_url"),
        ({"url": "not a url", "events": ["conversion.tested"]}, "invalid_webhook_url"),
        ({"url": "https://example.com/x", "events": []}, "invalid_request"),
        ({"url": "https://example.com/x", "events": ["click.created"]}, "invalid_request"),
        ({"url": "https://example.com/x"}, "invalid_request"),
        ({"url": "https://example.com/x", "events": ["conversion.tested"], "x": 1}, None),
    ],
)
async def test_invalid_subscriptions_are_400(client, tenant, body, code):
    response = await client.post(hooks_url(tenant.handle), json=body, headers=tenant.auth("ADMIN"))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == (code or "invalid_request")


@pytest.fixture
async def strict_client(settings) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway with the default: webhooks to private addresses refused."""
    async with serving(settings, webhook_allow_private=False) as c:
        yield c


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://10.0.0.1/",
        "http://169.254.169.254/",
        "http://192.168.1.10:8080/hook",
        "http://[::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://0.0.0.0/",
        "http://localhost:9000/x",
    ],
)
async def test_private_and_loopback_urls_are_refused(strict_client, tenant, url):
    response = await strict_client.post(
        hooks_url(tenant.handle),
        json={"url": url, "events": ["conversion.tested"]},
        headers=tenant.auth("ADMIN"),
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "webhook_url_not_allowed"
    assert "public host" in response.json()["message"]


async def test_a_public_url_is_accepted_and_a_private_one_refused_on_update(strict_client, tenant):
    admin = tenant.auth("ADMIN")
    created = await strict_client.post(
        hooks_url(tenant.handle),
        json={"url": "https://93.184.215.14/hook", "events": ["conversion.tested"]},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    webhook_id = created.json()["webhook"]["id"]
    response = await strict_client.patch(
        hooks_url(tenant.handle, webhook_id), json={"url": "http://10.1.2.3/"}, headers=admin
    )
    assert response.status_code == 400
    assert response.json()["error"] == "webhook_url_not_allowed"


async def test_webhooks_need_admin_on_the_handle(client, tenant, make_pat):
    body = {"url": "https://hooks.example.com/in", "events": ["conversion.tested"]}
    h = tenant.handle
    created = await subscribe(client, tenant, body["url"])
    webhook_id = created["webhook"]["id"]
    calls = [
        ("POST", hooks_url(h), body),
        ("GET", hooks_url(h), None),
        ("GET", hooks_url(h, webhook_id), None),
        ("PATCH", hooks_url(h, webhook_id), {"enabled": False}),
        ("DELETE", hooks_url(h, webhook_id), None),
        ("GET", hooks_url(h, webhook_id, "deliveries"), None),
        ("POST", hooks_url(h, "deliveries", "dlv_x", "redeliver"), None),
    ]
    pat = await make_pat(h, "campaigns.write", "conversions.write", "analytics.read")
    denied = [
        tenant.auth("CREATOR"),
        tenant.auth("VIEWER"),
        tenant.auth("ADMIN", handle=tenant.other_handle),
        {"Authorization": f"Bearer {pat}"},
    ]
    for method, url, payload in calls:
        for headers in denied:
            response = await client.request(method, url, json=payload, headers=headers)
            assert response.status_code == 403, (method, url, headers, response.text)
            assert response.json()["error"] == "forbidden"
        response = await client.request(method, url, json=payload)
        assert response.status_code == 401, (method, url)
    still = await client.get(hooks_url(h, webhook_id), headers=tenant.auth("ADMIN"))
    assert still.status_code == 200 and still.json()["webhook"]["enabled"] is True


async def test_another_handles_webhook_is_not_found(client, tenant):
    created = await subscribe(client, tenant, "https://hooks.example.com/in")
    other_admin = {
        "Authorization": "Bearer "
        + tenant.jwt("ADMIN", handle=tenant.other_handle)  # ADMIN there, not here
    }
    response = await client.get(
        hooks_url(tenant.other_handle, created["webhook"]["id"]), headers=other_admin
    )
    assert response.status_code == 404


async def test_delivery_log_is_paginated_newest_first(client, app, http, tenant, receiver):
    created = await subscribe(client, tenant, receiver.url, ["conversion.tested"])
    webhook_id = created["webhook"]["id"]
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    emitted = []
    for _ in range(3):
        emitted.append(await send_test_conversion(client, tenant, CAMPAIGN))
        await passes(app, http, 1)  # one fan-out each: distinct creation times
    first = await deliveries(client, tenant, webhook_id, limit=2)
    assert first["total"] == 3 and first["hasMore"] is True
    second = await deliveries(client, tenant, webhook_id, limit=2, cursor=first["nextCursor"])
    assert second["hasMore"] is False
    order = [d["eventId"] for d in first["deliveries"] + second["deliveries"]]
    assert order == list(reversed(emitted))


# --- GraphQL ---------------------------------------------------------------------------------

CREATE = """
mutation($handle: String!, $input: WebhookInput!) {
  createWebhook(handle: $handle, input: $input) {
    secret subscription { id url events enabled createdAt }
  }
}"""
DELIVERIES = """
query($handle: String!, $id: String!, $first: Int) {
  webhookDeliveries(handle: $handle, subscriptionId: $id, first: $first) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node {
      id eventId eventType status attempts payload
      attemptLog { attempt statusCode error durationMs attemptedAt }
    } }
  }
}"""


async def test_graphql_webhooks_end_to_end(client, app, http, tenant, receiver):
    admin = tenant.auth("ADMIN")
    created = await gql(
        client,
        CREATE,
        admin,
        handle=tenant.handle,
        input={"url": receiver.url, "events": ["conversion.tested"]},
    )
    assert "errors" not in created, created
    payload = created["data"]["createWebhook"]
    secret, webhook_id = payload["secret"], payload["subscription"]["id"]
    assert secret.startswith("whsec_")

    listed = await gql(
        client,
        "query($h: String!) { webhooks(handle: $h) { id url events enabled } }",
        admin,
        h=tenant.handle,
    )
    assert listed["data"]["webhooks"] == [
        {"id": webhook_id, "url": receiver.url, "events": ["conversion.tested"], "enabled": True}
    ]
    await make_campaign(client, tenant, CAMPAIGN, status="ACTIVE")
    event_id = await send_test_conversion(client, tenant, CAMPAIGN)
    await drive(app, http, lambda: len(receiver.delivered) == 1)
    verify_signature(secret, receiver.delivered[0])

    log = await gql(client, DELIVERIES, admin, handle=tenant.handle, id=webhook_id, first=10)
    conn = log["data"]["webhookDeliveries"]
    assert conn["totalCount"] == 1
    node = conn["edges"][0]["node"]
    assert (node["eventId"], node["status"], node["attempts"]) == (event_id, "DELIVERED", 1)
    assert node["payload"]["id"] == event_id
    assert node["attemptLog"][0]["statusCode"] == 200

    redelivered = await gql(
        client,
        "mutation($h: String!, $d: String!) { redeliverWebhook(handle: $h, deliveryId: $d) "
        "{ id status } }",
        admin,
        h=tenant.handle,
        d=node["id"],
    )
    assert redelivered["data"]["redeliverWebhook"] == {"id": node["id"], "status": "PENDING"}
    await drive(app, http, lambda: len(receiver.delivered) == 2)
    assert {r.json["id"] for r in receiver.delivered} == {event_id}

    updated = await gql(
        client,
        "mutation($h: String!, $id: String!) { updateWebhook(handle: $h, id: $id, "
        'input: {enabled: false, events: ["conversion.created"]}) { enabled events } }',
        admin,
        h=tenant.handle,
        id=webhook_id,
    )
    assert updated["data"]["updateWebhook"] == {"enabled": False, "events": ["conversion.created"]}
    deleted = await gql(
        client,
        "mutation($h: String!, $id: String!) { deleteWebhook(handle: $h, id: $id) }",
        admin,
        h=tenant.handle,
        id=webhook_id,
    )
    assert deleted["data"]["deleteWebhook"] is True
    missing = await gql(
        client,
        "query($h: String!, $id: String!) { webhook(handle: $h, id: $id) { id } }",
        admin,
        h=tenant.handle,
        id=webhook_id,
    )
    assert missing["errors"][0]["extensions"]["code"] == "webhook_not_found"


async def test_graphql_webhook_errors_carry_codes(client, tenant):
    creator = await gql(
        client,
        CREATE,
        tenant.auth("CREATOR"),
        handle=tenant.handle,
        input={"url": "https://hooks.example.com/in", "events": ["conversion.tested"]},
    )
    assert creator["errors"][0]["extensions"]["code"] == "forbidden"
    bad = await gql(
        client,
        CREATE,
        tenant.auth("ADMIN"),
        handle=tenant.handle,
        input={"url": "https://hooks.example.com/in", "events": ["nope"]},
    )
    assert bad["errors"][0]["extensions"]["code"] == "invalid_request"
    schema = await gql(client, '{ __type(name: "WebhookSubscription") { fields { name } } }')
    assert "secret" not in {f["name"] for f in schema["data"]["__type"]["fields"]}
