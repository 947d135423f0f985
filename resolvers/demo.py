"""A realistic demo account: campaigns, links, clicks over weeks and conversions with revenue.

Everything goes through the same writers as live traffic (click batches with their rollups,
conversion ingest with attribution), only with past timestamps.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from db.rollups.writes import local_day
from db.tables import Campaign, ClickRecord, Link
from resolvers.accounts import account_for_handle, create_account
from resolvers.context import Context
from resolvers.conversions import ConversionInput, ingest_events
from resolvers.domain import GOAL_DEFAULTS, GoalType, utcnow
from resolvers.recording import write_clicks
from resolvers.traffic import visitor_id

CAMPAIGNS = [
    ("spring-launch", GoalType.PRODUCT_SALE, ["spring-promo", "spring-email"]),
    ("newsletter-q2", GoalType.NEWSLETTER, ["join-newsletter"]),
    ("webinar-leads", GoalType.LEAD_CAPTURE, ["webinar", "webinar-social"]),
    ("app-promo", GoalType.APP_INSTALL, ["get-the-app"]),
]
SOURCES = [
    ("google", 30),
    ("facebook", 18),
    ("newsletter", 14),
    ("search", 10),
    ("social", 10),
    ("direct", 10),
    ("referral", 5),
    ("tiktok", 3),
]
COUNTRIES = [
    ("US", 40),
    ("GB", 14),
    ("DE", 10),
    ("ES", 8),
    ("FR", 8),
    ("CA", 7),
    ("BR", 6),
    ("unknown", 7),
]
DEVICES = [("mobile", 58), ("desktop", 34), ("tablet", 8)]
MEDIUMS = {"google": "cpc", "facebook": "paid_social", "newsletter": "email", "tiktok": "social"}
BATCH = 2000


@dataclass(frozen=True)
class DemoResult:
    account_id: str
    handle: str
    clicks: int
    conversions: int


def _pick(rng: random.Random, table: list[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


async def load_demo(
    ctx: Context,
    *,
    account_id: str,
    handle: str,
    clicks: int,
    days: int,
    seed: int = 7,
    progress: Callable[[int], None] | None = None,
) -> DemoResult:
    rng = random.Random(seed)
    await create_account(ctx, account_id, "Demo Shop", [handle])
    now = utcnow()
    async with ctx.sessions() as session:
        account = await account_for_handle(session, handle)
        for campaign_id, goal, slugs in CAMPAIGNS:
            preset, event_type = GOAL_DEFAULTS[goal]
            session.add(
                Campaign(
                    account_id=account_id,
                    handle=handle,
                    campaign_id=campaign_id,
                    name=campaign_id.replace("-", " ").title(),
                    goal_type=goal.value,
                    tracking_preset=preset,
                    conversion_event_type=event_type,
                    status="ACTIVE",
                    primary_slug=slugs[0],
                    created_at=now - timedelta(days=days),
                    updated_at=now,
                )
            )
        await session.flush()
        for campaign_id, _, slugs in CAMPAIGNS:
            for slug in slugs:
                session.add(
                    Link(
                        account_id=account_id,
                        handle=handle,
                        slug=slug,
                        campaign_id=campaign_id,
                        destination_url=f"https://shop.example.com/{slug}",
                        append_context_param=True,
                        created_at=now,
                        updated_at=now,
                    )
                )
        await session.commit()
    tz = ZoneInfo(account.timezone)
    conversion_types = {cid: GOAL_DEFAULTS[goal][1] for cid, goal, _ in CAMPAIGNS}
    links = [(cid, slug) for cid, _, slugs in CAMPAIGNS for slug in slugs]
    made_clicks = made_conversions = 0
    while made_clicks < clicks:
        batch: list[ClickRecord] = []
        for _ in range(min(BATCH, clicks - made_clicks)):
            campaign_id, slug = rng.choice(links)
            # More traffic towards today, so the last 7 days look alive.
            age = timedelta(seconds=int(days * 86400 * rng.random() ** 1.6))
            moment = now - age
            source = _pick(rng, SOURCES)
            batch.append(
                ClickRecord(
                    account_id=account_id,
                    id=secrets.token_hex(12),
                    handle=handle,
                    slug=slug,
                    campaign_id=campaign_id,
                    occurred_at=moment,
                    day=local_day(moment, tz),
                    visitor_id=visitor_id("demo", str(rng.random()), "ua"),
                    country=_pick(rng, COUNTRIES),
                    device=_pick(rng, DEVICES),
                    source=source,
                    medium=MEDIUMS.get(source, ""),
                    is_bot=rng.random() < 0.05,
                    segment="default",
                    destination_url=f"https://shop.example.com/{slug}",
                )
            )
        await write_clicks(ctx.sessions, batch)
        events = _events_for(rng, batch, conversion_types, now)
        async with ctx.sessions() as session:
            results = await ingest_events(session, account, handle, events)
            await session.commit()
        made_conversions += sum(r.status == "created" for r in results)
        made_clicks += len(batch)
        if progress:
            progress(len(batch))
    return DemoResult(account_id, handle, made_clicks, made_conversions)


def _events_for(
    rng: random.Random, clicks: list[ClickRecord], conversion_types: dict[str, str], now: datetime
) -> list[ConversionInput]:
    events: list[ConversionInput] = []
    for click in clicks:
        if click.is_bot:
            continue
        steps: list[tuple[str, float | None]] = []
        if rng.random() < 0.30:
            steps.append(("view_item", None))
        if rng.random() < 0.10:
            steps.append(("add_to_cart", None))
        if rng.random() < 0.07:
            steps.append(("begin_checkout", None))
        if rng.random() < 0.035:
            conv = conversion_types[click.campaign_id or ""]
            value = round(rng.uniform(15, 180), 2) if conv == "purchase" else None
            steps.append((conv, value))
        for event_type, value in steps:
            at = min(click.occurred_at + timedelta(minutes=rng.randint(1, 90)), now)
            # By the wire (alias) names, the only ones ConversionInput accepts.
            events.append(
                ConversionInput.model_validate(
                    {
                        "eventType": event_type,
                        "clickId": click.id,
                        "value": value,
                        "currency": "USD" if value is not None else None,
                        "eventId": f"demo-{click.id}-{event_type}",
                        "occurredAt": at,
                    }
                )
            )
    return events
