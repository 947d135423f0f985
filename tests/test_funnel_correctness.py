"""Funnel correctness, end to end, on each backend.

About 2,000 redirects and 600 conversion events go through HTTP, made by a seeded random
generator. Every expected figure is computed here, from what was sent and from this file's
own classification tables (never by calling resolvers.traffic). The result is compared
exactly with the three APIs: REST /v2 analytics, GraphQL and the /v1/funnel report.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import func, select

from app.settings import Settings
from db.tables import Click
from tests.conftest import gql

SEED = 20260301
N_REDIRECTS = 2000
PAUSE_AFTER = 500  # the paused campaign tracks the first redirects only
CONCURRENCY = 50
CURRENCY = "USD"  # the account's reporting currency (default)

# --- what the test believes about its inputs -------------------------------------------------

# name → (User-Agent, device class of a person, or None for a bot, is a bot)
UAS: dict[str, tuple[str, str | None, bool]] = {
    "iphone": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        "mobile",
        False,
    ),
    "ipad": (
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        "tablet",
        False,
    ),
    "android-phone": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/123.0.0.0 Mobile Safari/537.36",
        "mobile",
        False,
    ),
    "android-tablet": (
        "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
        "tablet",
        False,
    ),
    "windows-chrome": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
        "desktop",
        False,
    ),
    "mac-safari": (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Safari/605.1.15",
        "desktop",
        False,
    ),
    "googlebot": (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        None,
        True,
    ),
    "facebookexternalhit": (
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        None,
        True,
    ),
    "slackbot": ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", None, True),
    "curl": ("curl/8.5.0", None, True),
    "empty": ("", None, True),
}
UA_WEIGHTS = {
    "iphone": 18,
    "ipad": 6,
    "android-phone": 14,
    "android-tablet": 5,
    "windows-chrome": 16,
    "mac-safari": 10,
    "googlebot": 4,
    "facebookexternalhit": 3,
    "slackbot": 2,
    "curl": 2,
    "empty": 2,
}
# Referer header → referrer class
REFERRERS: list[tuple[str | None, str]] = [
    (None, "direct"),
    (None, "direct"),
    ("https://www.google.com/search?q=spring+sale", "search"),
    ("https://www.google.co.uk/", "search"),
    ("https://m.facebook.com/story.php?id=1", "social"),
    ("https://l.facebook.com/l.php?u=x", "social"),
    ("https://t.co/AbC123", "social"),
    ("https://mail.google.com/mail/u/0/", "email"),
    ("https://news.ycombinator.com/item?id=1", "referral"),
    ("https://blog.example.org/spring-picks", "referral"),
]
# CF-IPCountry header → country
COUNTRIES: list[tuple[str | None, str]] = [
    (None, "unknown"),
    ("US", "US"),
    ("US", "US"),
    ("us", "US"),
    ("GB", "GB"),
    ("gb", "GB"),
    ("De", "DE"),
    ("FR", "FR"),
    ("XX", "unknown"),
    ("T1", "unknown"),
    ("", "unknown"),
    ("ESP", "unknown"),
]
# raw utm_source → normalised source, or None: fall back to the referrer class
UTM_SOURCES: list[tuple[str | None, str | None]] = [
    (None, None),
    (None, None),
    (None, None),
    (None, None),
    ("Newsletter", "newsletter"),
    ("  NewsLetter  ", "newsletter"),
    ("GOOGLE", "google"),
    ("Partner_A", "partner_a"),
    ("   ", None),
]
UTM_MEDIUMS: list[tuple[str | None, str]] = [
    (None, ""),
    (None, ""),
    ("email", "email"),
    ("CPC", "cpc"),
    (" Social ", "social"),
]
EXTRA_PARAMS: list[list[tuple[str, str]]] = [
    [],
    [],
    [],
    [("ref", "abc")],  # the destination's own ref wins where it has one
    [("fg_click", "spoofed")],  # never forwarded: the gateway sets its own
    [("tag", "a"), ("tag", "b")],
]

SHOP, LEADS, NEWS, DRAFT, PAUSED = "shop-sale", "lead-gen", "newsletter", "draft-cmp", "paused-cmp"
CAMPAIGN_BODIES = {
    SHOP: {"goalType": "PRODUCT_SALE", "status": "ACTIVE"},
    LEADS: {"goalType": "LEAD_CAPTURE", "status": "ACTIVE", "conversionEventType": "demo_request"},
    NEWS: {"goalType": "NEWSLETTER", "status": "ACTIVE"},
    DRAFT: {"goalType": "APP_INSTALL"},
    PAUSED: {"goalType": "AFFILIATE_CLICKOUT", "status": "ACTIVE"},
}
CONV = {
    SHOP: "purchase",
    LEADS: "demo_request",
    NEWS: "newsletter_signup",
    DRAFT: "app_install",
    PAUSED: "affiliate_click",
}
ALL_CAMPAIGNS = list(CONV)
# slug → (campaign, destination, appendContextParam)
LINKS: dict[str, tuple[str | None, str, bool]] = {
    "sale-main": (SHOP, "https://shop.example.com/sale", True),
    "sale-alt": (SHOP, "https://shop.example.com/sale?ref=alt", False),
    "lead-form": (LEADS, "https://leads.example.com/form", True),
    "news-sub": (NEWS, "https://news.example.com/subscribe", True),
    "news-blog": (NEWS, "https://news.example.com/blog?utm_source=blog", False),
    "draft-link": (DRAFT, "https://apps.example.com/install", True),
    "paused-link": (PAUSED, "https://partner.example.com/offer", True),
    "plain": (None, "https://www.example.com/about", True),
}
LINK_WEIGHTS = {
    "sale-main": 28,
    "sale-alt": 12,
    "lead-form": 15,
    "news-sub": 14,
    "news-blog": 10,
    "draft-link": 7,
    "paused-link": 9,
    "plain": 5,
}
# A personalization rule: tablets on the newsletter campaign get a variant.
VARIANT_ID, VARIANT_URL = "tablet-news", "https://news.example.com/tablet"

STAGES: list[tuple[str, tuple[str, ...] | None]] = [
    ("clicks", ()),
    ("microconversions", ("microconversion", "view_item")),
    ("add-to-cart", ("add_to_cart",)),
    ("checkout", ("begin_checkout", "checkout")),
    ("conversions", None),  # the campaign's conversion event type
]
REPORT_ATTR = {
    "Source": "source",
    "Medium": "medium",
    "Campaign": "campaign",
    "Country": "country",
    "Device": "device",
    "Link": "slug",
}
GROUP_ATTR = {
    "segment": "segment",
    "source": "source",
    "country": "country",
    "device": "device",
    "link": "slug",
    "medium": "medium",
    "day": "day",
}


# --- the independent model -------------------------------------------------------------------


@dataclass(frozen=True)
class Fact:
    campaign: str
    kind: str  # click (qualified), bot, event
    day: date
    slug: str = ""
    source: str = "direct"
    medium: str = ""
    country: str = "unknown"
    device: str = "unknown"
    segment: str = "default"
    event_type: str = ""
    currency: str = ""
    micros: int = 0
    is_test: bool = False
    attributed: bool = False


def stage_of(event_type: str, campaign: str) -> str | None:
    for name, types in STAGES[1:]:
        if event_type in (types if types is not None else (CONV[campaign],)):
            return name
    return None


def percent_half_up(part: int, whole: int) -> int:
    return (200 * part + whole) // (2 * whole)


def money(micros: int) -> float:
    return round(micros / 1_000_000, 6)


def ranked(values: Iterable[str]) -> list[tuple[str, int]]:
    return sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0]))


@dataclass
class Model:
    facts: list[Fact] = field(default_factory=list)

    def select(
        self,
        campaigns: Iterable[str] | None = None,
        include_test: bool = False,
        days: tuple[date, date] | None = None,
    ) -> list[Fact]:
        wanted = set(campaigns) if campaigns is not None else None
        return [
            f
            for f in self.facts
            if (wanted is None or f.campaign in wanted)
            and (include_test or not f.is_test)
            and (days is None or days[0] <= f.day <= days[1])
        ]

    def funnel(
        self,
        campaign_id: str | None,
        include_test: bool = False,
        days: tuple[date, date] | None = None,
    ) -> dict[str, Any]:
        """REST shape of /v2 analytics (lastSeenAt aside)."""
        facts = self.select([campaign_id] if campaign_id else ALL_CAMPAIGNS, include_test, days)
        qualified = [f for f in facts if f.kind == "click"]
        events = [f for f in facts if f.kind == "event"]
        counts = dict.fromkeys((name for name, _ in STAGES), 0)
        counts["clicks"] = len(qualified)
        for f in events:
            stage = stage_of(f.event_type, f.campaign)
            if stage:
                counts[stage] += 1
        conversions = [f for f in events if f.event_type == CONV[f.campaign]]
        revenue: dict[str, int] = defaultdict(int)
        for f in conversions:
            if f.micros:
                revenue[f.currency] += f.micros
        stages, previous = [], None
        for name, _ in STAGES:
            n = counts[name]
            stages.append(
                {
                    "name": name,
                    "count": n,
                    "rate": None if not previous else round(n / previous, 4),
                    "dropOff": 0 if previous is None else max(previous - n, 0),
                }
            )
            previous = n
        attributed = sum(f.attributed for f in conversions)
        return {
            "campaignId": campaign_id,
            "clicks": sum(f.kind in ("click", "bot") for f in facts),
            "qualifiedClicks": len(qualified),
            "conversions": len(conversions),
            "revenue": money(revenue.get(CURRENCY, 0)),
            "currency": CURRENCY,
            "revenueByCurrency": {c: money(m) for c, m in sorted(revenue.items())},
            "confidence": percent_half_up(attributed, len(conversions)) if conversions else None,
            "stages": stages,
            "breakdown": {
                dim: [{dim: v, "count": n} for v, n in ranked(getattr(f, dim) for f in qualified)]
                for dim in ("source", "country", "device")
            },
        }

    def has_data(self, campaign_id: str | None, include_test: bool, days=None) -> bool:
        return bool(
            self.select([campaign_id] if campaign_id else ALL_CAMPAIGNS, include_test, days)
        )

    def groups(
        self,
        group_by: str,
        campaign_id: str | None = None,
        include_test: bool = False,
        days: tuple[date, date] | None = None,
    ) -> list[dict[str, Any]]:
        attr = GROUP_ATTR[group_by]
        rows: dict[str, dict[str, Any]] = {}
        for f in self.select([campaign_id] if campaign_id else None, include_test, days):
            if f.kind == "bot":
                continue
            value = getattr(f, attr)
            value = value.isoformat() if isinstance(value, date) else value
            row = rows.setdefault(value, {"clicks": 0, "conversions": 0, "rev": defaultdict(int)})
            if f.kind == "click":
                row["clicks"] += 1
            elif f.event_type == CONV[f.campaign]:
                row["conversions"] += 1
                if f.micros:
                    row["rev"][f.currency] += f.micros
        out = [
            {
                group_by: v,
                "clicks": r["clicks"],
                "conversions": r["conversions"],
                "revenue": money(r["rev"].get(CURRENCY, 0)),
                "revenueByCurrency": {c: money(m) for c, m in sorted(r["rev"].items())},
            }
            for v, r in rows.items()
        ]
        if group_by == "day":
            return sorted(out, key=lambda r: r["day"])
        return sorted(out, key=lambda r: (-r["clicks"], r[group_by]))

    def report(
        self, report_type: str, days: tuple[date, date], country: str | None = None
    ) -> list[dict[str, Any]]:
        attr = REPORT_ATTR[report_type]
        rows: dict[str, dict[str, int]] = {}
        for f in self.select(None, False, days):
            if f.kind == "bot" or (country and f.country != country):
                continue
            row = rows.setdefault(getattr(f, attr), dict.fromkeys((s for s, _ in STAGES), 0))
            if f.kind == "click":
                row["clicks"] += 1
            else:
                stage = stage_of(f.event_type, f.campaign)
                if stage:
                    row[stage] += 1
        ordered = sorted(rows.items(), key=lambda kv: (-kv[1]["clicks"], kv[0]))
        return [{report_type: v, **counts} for v, counts in ordered]


# --- traffic ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    slug: str
    ua: str
    method: str
    country: tuple[str | None, str]
    referer: tuple[str | None, str]
    utm_source: tuple[str | None, str | None]
    utm_medium: tuple[str | None, str]
    extra: list[tuple[str, str]]

    def params(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if self.utm_source[0] is not None:
            out.append(("utm_source", self.utm_source[0]))
        if self.utm_medium[0] is not None:
            out.append(("utm_medium", self.utm_medium[0]))
        return out + list(self.extra)

    def headers(self) -> dict[str, str]:
        headers = {"User-Agent": UAS[self.ua][0]}
        if self.country[0] is not None:
            headers["CF-IPCountry"] = self.country[0]
        if self.referer[0] is not None:
            headers["Referer"] = self.referer[0]
        return headers

    @property
    def source(self) -> str:
        return self.utm_source[1] or self.referer[1]


def make_visits(rng: random.Random, n: int) -> list[Visit]:
    slugs, slug_w = list(LINK_WEIGHTS), list(LINK_WEIGHTS.values())
    uas, ua_w = list(UA_WEIGHTS), list(UA_WEIGHTS.values())
    return [
        Visit(
            slug=rng.choices(slugs, slug_w)[0],
            ua=rng.choices(uas, ua_w)[0],
            method="HEAD" if rng.random() < 0.06 else "GET",
            country=rng.choice(COUNTRIES),
            referer=rng.choice(REFERRERS),
            utm_source=rng.choice(UTM_SOURCES),
            utm_medium=rng.choice(UTM_MEDIUMS),
            extra=rng.choice(EXTRA_PARAMS),
        )
        for _ in range(n)
    ]


CLICK_ID_RE = re.compile(r"^[0-9a-f]{24}$")


def check_redirect(
    visit: Visit, response: Any, tracking: bool, today: date
) -> tuple[Fact | None, str | None]:
    """Assert the redirect; return the click fact it should have recorded and its id."""
    assert response.status_code == 302, (visit, response.status_code, response.text)
    assert response.headers["cache-control"].startswith("no-store")
    campaign, destination, append = LINKS[visit.slug]
    device = UAS[visit.ua][1]
    segment = "default"
    if campaign == NEWS and device == "tablet":
        destination, segment = VARIANT_URL, VARIANT_ID
    location = urlsplit(response.headers["location"])
    query = parse_qsl(location.query, keep_blank_values=True)
    click_id = None
    if tracking and append:
        assert query and query[-1][0] == "fg_click", (visit, response.headers["location"])
        click_id = query.pop()[1]
        assert CLICK_ID_RE.match(click_id)
    assert "fg_click" not in dict(query), (visit, response.headers["location"])
    if device is not None or campaign != NEWS:  # a bot's device is not this test's business
        dest = urlsplit(destination)
        dest_query = parse_qsl(dest.query, keep_blank_values=True)
        own = {k for k, _ in dest_query}
        forwarded = [(k, v) for k, v in visit.params() if k != "fg_click" and k not in own]
        assert (location.scheme, location.netloc, location.path) == (
            dest.scheme,
            dest.netloc,
            dest.path,
        ), (visit, response.headers["location"])
        assert query == dest_query + forwarded, (visit, response.headers["location"])
    if not tracking:
        return None, None
    is_bot = UAS[visit.ua][2] or visit.method == "HEAD"
    fact = Fact(
        campaign=campaign,
        kind="bot" if is_bot else "click",
        day=today,
        slug=visit.slug,
        source=visit.source,
        medium=visit.utm_medium[1],
        country=visit.country[1],
        device=device or "?",
        segment=segment if device is not None else "?",
    )
    return fact, click_id


# --- conversions -----------------------------------------------------------------------------


@dataclass
class Planned:
    body: Any
    status: str  # created, duplicate, ignored, rejected
    code: str | None = None
    fact: Fact | None = None
    batch_only: bool = False


REJECTS = [
    "missing-type",
    "negative-value",
    "string-value",
    "short-currency",
    "unknown-field",
    "bad-event-type",
    "big-metadata",
    "unknown-campaign",
    "click-not-found",
    "campaign-mismatch",
    "no-target",
    "future",
    "not-an-object",
]


class ConversionPlan:
    def __init__(self, rng: random.Random, now: datetime, clicks: dict[str, list]):
        self.rng = rng
        self.now = now
        self.today = now.date()
        self.clicks = clicks  # "active" / "paused" → [(click id, Fact)]
        self.items: list[Planned] = []
        self.created: list[tuple[str, dict[str, Any], Fact]] = []
        self.n = 0

    def event_id(self) -> str:
        self.n += 1
        return f"ev-{self.n:05d}"

    def event_type(self, campaign: str) -> str:
        pool = ["view_item"] * 3 + ["microconversion", "add_to_cart", "add_to_cart"]
        pool += ["begin_checkout", "checkout", "page_view"] + [CONV[campaign]] * 3
        if campaign == LEADS:
            pool.append("lead")  # the goal type's default, overridden: counts nothing
        return self.rng.choice(pool)

    def add_value(self, body: dict[str, Any], campaign: str) -> tuple[str, int]:
        is_conversion = body["eventType"] == CONV[campaign]
        if not is_conversion and self.rng.random() > 0.3:
            return "", 0
        cents = self.rng.randint(100, 50_000)
        body["value"] = cents / 100 if self.rng.random() < 0.8 else cents // 100
        micros = cents * 10_000 if isinstance(body["value"], float) else (cents // 100) * 1_000_000
        currency = self.rng.choice([None, "USD", "usd", "EUR", "eur", "EUR"])
        if currency:
            body["currency"] = currency
        return (currency or CURRENCY).upper(), micros

    def good(
        self,
        campaign: str,
        click: tuple[str, Fact] | None,
        *,
        with_campaign: bool,
        occurred: datetime | None = None,
        bogus_click: bool = False,
        with_event_id: bool = True,
    ) -> None:
        body: dict[str, Any] = {"eventType": self.event_type(campaign)}
        if with_event_id:
            body["eventId"] = self.event_id()
        if click is not None:
            body["clickId"] = click[0]
        if bogus_click:
            body["clickId"] = "0" * 24
        if with_campaign:
            body["campaignId"] = campaign
        if occurred is not None:
            body["occurredAt"] = occurred.isoformat().replace("+00:00", "Z")
        if self.rng.random() < 0.2:
            body["metadata"] = {"orderId": self.rng.randint(1, 10**6), "items": [1, 2]}
        currency, micros = self.add_value(body, campaign)
        src = click[1] if click is not None else None
        fact = Fact(
            campaign=campaign,
            kind="event",
            day=(occurred or self.now).date(),
            slug=src.slug if src else "",
            source=src.source if src else "direct",
            medium=src.medium if src else "",
            country=src.country if src else "unknown",
            device=src.device if src else "unknown",
            segment=src.segment if src else "default",
            event_type=body["eventType"],
            currency=currency,
            micros=micros,
            attributed=src is not None,
        )
        self.items.append(Planned(body, "created", fact=fact))
        if with_event_id:
            self.created.append((body["eventId"], body, fact))

    def add(self, kind: str) -> None:
        rng = self.rng
        active = rng.choice([SHOP, LEADS, NEWS])
        if kind == "click":
            cid, fact = rng.choice(self.clicks["active"])
            self.good(fact.campaign, (cid, fact), with_campaign=False)
        elif kind == "click+campaign":
            cid, fact = rng.choice(self.clicks["active"])
            self.good(fact.campaign, (cid, fact), with_campaign=True)
        elif kind == "campaign":
            self.good(active, None, with_campaign=True, with_event_id=rng.random() > 0.1)
        elif kind == "bogus-click":
            self.good(active, None, with_campaign=True, bogus_click=True)
        elif kind == "old":
            self.good(active, None, with_campaign=True, occurred=self.now - timedelta(days=40))
        elif kind == "duplicate":
            if not self.created:
                return self.add("campaign")
            event_id, body, _ = rng.choice(self.created)
            again = dict(body)
            if "value" in again:
                again["value"] = 1.0  # a repeat is acknowledged, never re-counted
            self.items.append(Planned(again, "duplicate"))
        elif kind in ("draft", "paused"):
            campaign = DRAFT if kind == "draft" else PAUSED
            body = {"eventType": CONV[campaign], "eventId": self.event_id(), "campaignId": campaign}
            self.items.append(Planned(body, "ignored", "campaign_not_active"))
        elif kind == "paused-click":
            cid, fact = rng.choice(self.clicks["paused"])
            body = {"eventType": CONV[PAUSED], "eventId": self.event_id(), "clickId": cid}
            self.items.append(Planned(body, "ignored", "campaign_not_active"))
        else:
            self.items.append(self.reject(kind))

    def reject(self, kind: str) -> Planned:
        base = {"eventType": "purchase", "eventId": self.event_id(), "campaignId": SHOP}
        invalid = "invalid_request"
        shop_click = next(c for c in self.clicks["active"] if c[1].campaign == SHOP)[0]
        cases: dict[str, tuple[Any, str]] = {
            "missing-type": ({k: v for k, v in base.items() if k != "eventType"}, invalid),
            "negative-value": (base | {"value": -5}, invalid),
            "string-value": (base | {"value": "x"}, invalid),
            "short-currency": (base | {"value": 5, "currency": "US"}, invalid),
            "unknown-field": (base | {"coupon": "SPRING"}, invalid),
            "bad-event-type": (base | {"eventType": "add to cart"}, invalid),
            "big-metadata": (base | {"metadata": {"blob": "x" * 9000}}, invalid),
            "unknown-campaign": (base | {"campaignId": "no-such-campaign"}, "campaign_not_found"),
            "click-not-found": (
                {"eventType": "purchase", "eventId": base["eventId"], "clickId": "f" * 24},
                "click_not_found",
            ),
            "campaign-mismatch": (
                base | {"clickId": shop_click, "campaignId": LEADS},
                "campaign_mismatch",
            ),
            "no-target": ({"eventType": "purchase", "eventId": base["eventId"]}, invalid),
            "future": (
                base | {"occurredAt": (self.now + timedelta(days=1)).isoformat()},
                invalid,
            ),
            "not-an-object": ("purchase", invalid),
        }
        body, code = cases[kind]
        return Planned(body, "rejected", code, batch_only=kind == "not-an-object")


def plan_conversions(rng: random.Random, now: datetime, clicks: dict[str, list]) -> ConversionPlan:
    kinds = (
        ["click"] * 260
        + ["click+campaign"] * 50
        + ["campaign"] * 150
        + ["bogus-click"] * 10
        + ["old"] * 8
        + ["duplicate"] * 45
        + ["draft"] * 10
        + ["paused"] * 5
        + ["paused-click"] * 5
        + REJECTS * 2
    )
    rng.shuffle(kinds)
    plan = ConversionPlan(rng, now, clicks)
    for kind in kinds:
        plan.add(kind)
    return plan


async def post_conversions(client, handle: str, headers, plan: ConversionPlan, rng) -> None:
    """Post the plan in order: batches of various sizes and single events."""
    items, i = plan.items, 0
    while i < len(items):
        size = rng.choice([1, 1, 1, 1, 20, 60, 150, 250])
        group = items[i : i + size]
        i += len(group)
        url = f"/v2/handles/{handle}/conversions"
        if len(group) == 1 and not group[0].batch_only:
            (item,) = group
            response = await client.post(url, json=item.body, headers=headers)
            if item.status == "rejected":
                assert 400 <= response.status_code < 500, (item.body, response.text)
                assert response.json()["error"] == item.code, (item.body, response.text)
                continue
            expected = 201 if item.status == "created" else 200
            assert response.status_code == expected, (item.body, response.text)
            result = response.json()
            assert result["status"] == item.status, (item.body, result)
            _check_result(item, result)
            continue
        response = await client.post(url, json={"events": [g.body for g in group]}, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        results = body["results"]
        assert [r["index"] for r in results] == list(range(len(group)))
        for item, result in zip(group, results, strict=True):
            assert result["status"] == item.status, (item.body, result)
            _check_result(item, result)
        expected_counts = Counter(g.status for g in group)
        for status in ("created", "duplicate", "ignored", "rejected"):
            assert body[status] == expected_counts[status]


def _check_result(item: Planned, result: dict[str, Any]) -> None:
    if item.code:
        assert result["error"] == item.code, (item.body, result)
        assert result["message"]
    if item.status == "created":
        assert result["campaignId"] == item.fact.campaign
        assert result["attributed"] is item.fact.attributed
        if isinstance(item.body, dict) and "eventId" in item.body:
            assert result["eventId"] == item.body["eventId"]


# --- API views -------------------------------------------------------------------------------

FUNNEL_FIELDS = """
fragment F on Funnel {
  campaignId clicks qualifiedClicks conversions revenue currency confidence lastSeenAt
  revenueByCurrency { currency amount }
  stages { name count rate dropOff }
  source: breakdown(dimension: SOURCE) { value count }
  country: breakdown(dimension: COUNTRY) { value count }
  device: breakdown(dimension: DEVICE) { value count device }
}
"""


def as_graphql(f: dict[str, Any]) -> dict[str, Any]:
    out = {k: f[k] for k in ("campaignId", "clicks", "qualifiedClicks", "conversions")}
    out |= {k: f[k] for k in ("revenue", "currency", "confidence", "stages")}
    out["revenueByCurrency"] = [
        {"currency": c, "amount": a} for c, a in f["revenueByCurrency"].items()
    ]
    for dim in ("source", "country"):
        out[dim] = [{"value": b[dim], "count": b["count"]} for b in f["breakdown"][dim]]
    out["device"] = [
        {"value": b["device"], "count": b["count"], "device": b["device"].upper()}
        for b in f["breakdown"]["device"]
    ]
    return out


def without_last_seen(f: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in f.items() if k != "lastSeenAt"}


def ymd(d: date) -> str:
    return f"{d:%Y%m%d}"


# --- the test --------------------------------------------------------------------------------


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """All traffic comes from one test client address: no per-IP rate limit here."""
    return settings.model_copy(update={"rate_limit_enabled": False})


async def _avoid_midnight() -> None:
    """Every figure is one UTC day; never start within two minutes of midnight."""
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    if (midnight - now).total_seconds() < 120:
        await asyncio.sleep((midnight - now).total_seconds() + 1)


async def test_funnel_figures_match_an_independent_model(client, tenant, app, make_pat):
    await _avoid_midnight()
    rng = random.Random(SEED)
    h, jwt = tenant.handle, tenant.auth()
    now = datetime.now(UTC)
    today = now.date()
    model = Model()

    # Campaigns, links and a personalization rule.
    for cid, body in CAMPAIGN_BODIES.items():
        r = await client.post(
            f"/v2/handles/{h}/campaigns", json={"campaignId": cid, **body}, headers=jwt
        )
        assert r.status_code == 201, r.text
        assert r.json()["campaign"]["conversionEventType"] == CONV[cid]
    for slug, (cid, destination, append) in LINKS.items():
        body = {
            "destinationUrl": destination,
            "trackingPolicy": {"mode": "DIRECT", "appendContextParam": append},
        }
        if cid:
            body["campaignId"] = cid
        r = await client.put(f"/v2/handles/{h}/links/{slug}", json=body, headers=jwt)
        assert r.status_code in (200, 201), r.text
    r = await client.post(
        f"/v2/handles/{h}/personalization/rules",
        json={
            "ruleId": "tablets-news",
            "priority": 10,
            "when": {"campaignIn": [NEWS], "deviceIn": ["TABLET"]},
            "variant": {"id": VARIANT_ID, "destinationUrl": VARIANT_URL},
        },
        headers=jwt,
    )
    assert r.status_code == 201, r.text

    # Traffic: the paused campaign tracks until PAUSE_AFTER, then is paused.
    visits = make_visits(rng, N_REDIRECTS)
    clicks: dict[str, list[tuple[str, Fact]]] = {"active": [], "paused": []}
    tracked = 0
    for start in range(0, N_REDIRECTS, CONCURRENCY):
        if start == PAUSE_AFTER:
            r = await client.patch(
                f"/v2/handles/{h}/campaigns/{PAUSED}", json={"status": "PAUSED"}, headers=jwt
            )
            assert r.status_code == 200, r.text
        chunk = visits[start : start + CONCURRENCY]
        responses = await asyncio.gather(
            *(
                client.request(v.method, f"/{h}/{v.slug}", params=v.params(), headers=v.headers())
                for v in chunk
            )
        )
        active = {SHOP, LEADS, NEWS} | ({PAUSED} if start < PAUSE_AFTER else set())
        for visit, response in zip(chunk, responses, strict=True):
            fact, click_id = check_redirect(visit, response, LINKS[visit.slug][0] in active, today)
            if fact is None:
                continue
            tracked += 1
            model.facts.append(fact)
            if click_id and fact.kind == "click":
                clicks["paused" if fact.campaign == PAUSED else "active"].append((click_id, fact))
    assert len(clicks["active"]) > 300 and clicks["paused"]

    # No click row exists for links of DRAFT/PAUSED campaigns or without a campaign.
    async with app.state.services.sessions() as session:
        stored = (
            await session.execute(select(func.count()).select_from(Click).where(Click.handle == h))
        ).scalar_one()
    assert stored == tracked

    # Conversions, posted by the customer's backend with a PAT.
    pat = {"Authorization": f"Bearer {await make_pat(h, 'conversions.write')}"}
    plan = plan_conversions(rng, now, clicks)
    await post_conversions(client, h, pat, plan, rng)
    model.facts.extend(p.fact for p in plan.items if p.status == "created")
    assert sum(p.status == "created" for p in plan.items) > 450

    # Test conversions: excluded unless a query includes them (even on a DRAFT campaign).
    tests = [
        (SHOP, {"value": 10.5, "currency": "USD"}, "purchase", "USD", 10_500_000),
        (SHOP, {"eventType": "add_to_cart"}, "add_to_cart", "", 0),
        (LEADS, {"value": 20, "currency": "eur"}, "demo_request", "EUR", 20_000_000),
        (NEWS, {}, "newsletter_signup", "", 0),
        (DRAFT, {"value": 5}, "app_install", "USD", 5_000_000),
    ]
    for cid, body, event_type, currency, micros in tests:
        r = await client.post(
            f"/v2/handles/{h}/campaigns/{cid}/test-conversion", json=body, headers=jwt
        )
        assert r.status_code == 201, r.text
        assert r.json()["conversion"]["metadata"]["test"] is True
        assert r.json()["conversion"]["eventType"] == event_type
        model.facts.append(
            Fact(
                cid,
                "event",
                today,
                event_type=event_type,
                currency=currency,
                micros=micros,
                is_test=True,
            )
        )

    # Sanity of the scenario itself: every dimension is really exercised.
    qualified = [f for f in model.facts if f.kind == "click"]
    assert {f.device for f in qualified} == {"mobile", "tablet", "desktop"}
    assert {f.source for f in qualified} >= {
        "search",
        "social",
        "email",
        "direct",
        "referral",
        "newsletter",
        "google",
        "partner_a",
    }
    assert {f.country for f in qualified} == {"US", "GB", "DE", "FR", "unknown"}
    assert {f.segment for f in qualified} == {"default", VARIANT_ID}
    assert any(f.kind == "bot" for f in model.facts)
    conv = [f for f in model.facts if f.kind == "event" and f.event_type == CONV[f.campaign]]
    assert {f.currency for f in conv if f.micros} == {"USD", "EUR"}

    window = (today - timedelta(days=1), today + timedelta(days=1))
    window_param = f"{ymd(window[0])},{ymd(window[1])}"
    old_day = (now - timedelta(days=40)).date()

    await _check_rest_funnels(client, h, jwt, model, window, window_param)
    await _check_rest_groups(client, h, jwt, model, window, window_param)
    await _check_graphql(client, tenant, jwt, model, window, window_param)
    analytics_pat = {"Authorization": f"Bearer {await make_pat(h, 'analytics.read')}"}
    await _check_funnel_report(
        client, tenant, analytics_pat, model, window, window_param, today, old_day
    )


async def _check_rest_funnels(client, h, jwt, model: Model, window, window_param) -> None:
    base = f"/v2/handles/{h}/analytics?funnel=true"
    variants = [
        ("", False, None),
        ("&includeTest=true", True, None),
        (f"&dateRange={window_param}", False, window),
        (f"&date_range={window_param}&includeTest=true", True, window),
    ]
    for cid in ALL_CAMPAIGNS:
        for suffix, include_test, days in variants:
            r = await client.get(f"{base}&campaignId={cid}{suffix}", headers=jwt)
            assert r.status_code == 200, r.text
            (funnel,) = r.json()["funnel"]
            assert without_last_seen(funnel) == model.funnel(cid, include_test, days), (
                cid,
                suffix,
            )
            assert (funnel["lastSeenAt"] is not None) == model.has_data(cid, include_test, days)
    for suffix, include_test, days in variants:
        r = await client.get(base + suffix, headers=jwt)
        assert r.status_code == 200, r.text
        body = r.json()
        assert without_last_seen(body["aggregate"]) == model.funnel(None, include_test, days)
        expected = sorted(
            (model.funnel(cid, include_test, days) for cid in ALL_CAMPAIGNS),
            key=lambda f: (-f["qualifiedClicks"], f["campaignId"]),
        )
        assert [without_last_seen(f) for f in body["funnel"]] == expected, suffix
    # The aggregate of breakdowns sums to qualified clicks, per dimension.
    aggregate = model.funnel(None)
    for dim in ("source", "country", "device"):
        assert sum(b["count"] for b in aggregate["breakdown"][dim]) == aggregate["qualifiedClicks"]


async def _check_rest_groups(client, h, jwt, model: Model, window, window_param) -> None:
    for group_by in GROUP_ATTR:
        cases = [
            ("", None, False, None),
            (f"&campaignId={SHOP}", SHOP, False, None),
            (f"&campaignId={NEWS}&includeTest=true", NEWS, True, None),
            (f"&includeTest=true&dateRange={window_param}", None, True, window),
        ]
        for suffix, cid, include_test, days in cases:
            r = await client.get(
                f"/v2/handles/{h}/analytics?groupBy={group_by}{suffix}", headers=jwt
            )
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["groupBy"] == group_by
            assert body["campaignId"] == cid
            assert body["groups"] == model.groups(group_by, cid, include_test, days), (
                group_by,
                suffix,
            )
    # Segment groups of qualified clicks sum to qualified clicks.
    segments = model.groups("segment")
    assert sum(g["clicks"] for g in segments) == model.funnel(None)["qualifiedClicks"]
    assert {g["segment"] for g in segments} >= {"default", VARIANT_ID}


async def _check_graphql(client, tenant, jwt, model: Model, window, window_param) -> None:
    h = tenant.handle
    query = (
        FUNNEL_FIELDS
        + """
query($h: String!, $r: String!) {
  campaigns(handle: $h, first: 10) {
    edges { node {
      campaignId status
      funnel { ...F }
      withTest: funnel(includeTest: true) { ...F }
      ranged: funnel(dateRange: $r) { ...F }
    } }
  }
}"""
    )
    body = await gql(client, query, jwt, h=h, r=window_param)
    assert "errors" not in body, body
    nodes = [e["node"] for e in body["data"]["campaigns"]["edges"]]
    assert {n["campaignId"] for n in nodes} == set(ALL_CAMPAIGNS)
    for node in nodes:
        cid = node["campaignId"]
        assert node["status"] == {DRAFT: "DRAFT", PAUSED: "PAUSED"}.get(cid, "ACTIVE")
        for alias, include_test, days in (
            ("funnel", False, None),
            ("withTest", True, None),
            ("ranged", False, window),
        ):
            got = node[alias]
            assert without_last_seen(got) == as_graphql(model.funnel(cid, include_test, days)), (
                cid,
                alias,
            )
            assert (got["lastSeenAt"] is not None) == model.has_data(cid, include_test, days)

    query = (
        FUNNEL_FIELDS
        + """
query($h: String!, $c: String!) {
  all: analytics(handle: $h) { aggregate { ...F } funnels { ...F } }
  one: analytics(handle: $h, campaignId: $c, includeTest: true) {
    aggregate { ...F } funnels { ...F }
  }
}"""
    )
    body = await gql(client, query, jwt, h=h, c=LEADS)
    assert "errors" not in body, body
    data = body["data"]
    assert without_last_seen(data["all"]["aggregate"]) == as_graphql(model.funnel(None))
    expected = sorted(
        (model.funnel(cid) for cid in ALL_CAMPAIGNS),
        key=lambda f: (-f["qualifiedClicks"], f["campaignId"]),
    )
    assert [without_last_seen(f) for f in data["all"]["funnels"]] == [
        as_graphql(f) for f in expected
    ]
    leads = as_graphql(model.funnel(LEADS, include_test=True))
    assert without_last_seen(data["one"]["aggregate"]) == leads
    assert [without_last_seen(f) for f in data["one"]["funnels"]] == [leads]

    query = """
query($h: String!, $g: GroupBy!, $c: String, $t: Boolean!) {
  analyticsGroups(handle: $h, groupBy: $g, campaignId: $c, includeTest: $t) {
    value clicks conversions revenue
  }
}"""
    for group_by in GROUP_ATTR:
        for cid, include_test in ((None, False), (SHOP, True)):
            body = await gql(client, query, jwt, h=h, g=group_by.upper(), c=cid, t=include_test)
            assert "errors" not in body, body
            expected = [
                {
                    "value": g[group_by],
                    "clicks": g["clicks"],
                    "conversions": g["conversions"],
                    "revenue": g["revenue"],
                }
                for g in model.groups(group_by, cid, include_test)
            ]
            assert body["data"]["analyticsGroups"] == expected, (group_by, cid)

    query = """
query($a: String!, $t: String!, $r: String!, $s: Int, $l: Int, $c: String) {
  funnelReport(accountId: $a, reportType: $t, dateRange: $r, skip: $s, limit: $l, country: $c) {
    reportType total data rows { value clicks stages { name count } }
  }
}"""
    for report_type in REPORT_ATTR:
        for country, skip, limit in ((None, None, None), ("GB", None, None), (None, 1, 2)):
            body = await gql(
                client,
                query,
                jwt,
                a=tenant.account_id,
                t=report_type,
                r=window_param,
                s=skip,
                l=limit,
                c=country,
            )
            assert "errors" not in body, body
            report = body["data"]["funnelReport"]
            full = model.report(report_type, window, country)
            rows = full[(skip or 0) : (skip or 0) + (limit or 100)]
            assert report["reportType"] == report_type
            assert report["total"] == len(full)
            assert report["data"] == rows
            assert report["rows"] == [
                {
                    "value": row[report_type],
                    "clicks": row["clicks"],
                    "stages": [{"name": s, "count": row[s]} for s, _ in STAGES],
                }
                for row in rows
            ]


async def _check_funnel_report(
    client, tenant, headers, model: Model, window, window_param, today, old_day
) -> None:
    def url(report_type: str, date_range: str, **extra: Any) -> str:
        params = {
            "account_id": tenant.account_id,
            "report_type": report_type,
            "date_range": date_range,
            **extra,
        }
        return "/v1/funnel?" + "&".join(f"{k}={v}" for k, v in params.items())

    for report_type in REPORT_ATTR:
        for country_param, country in ((None, None), ("us", "US"), ("GB", "GB"), ("de", "DE")):
            extra = {"country": country_param} if country_param else {}
            r = await client.get(url(report_type, window_param, **extra), headers=headers)
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["status"] == "ok"
            expected = model.report(report_type, window, country)
            assert body["data"] == expected, (report_type, country)
            for row in body["data"]:
                assert set(row) == {report_type} | {s for s, _ in STAGES}
        # Pagination: pages of 3 concatenate to the whole report.
        full = model.report(report_type, window)
        pages: list[dict[str, Any]] = []
        for skip in range(0, len(full) + 3, 3):
            r = await client.get(
                url(report_type, window_param, skip=skip, limit=3), headers=headers
            )
            assert r.status_code == 200, r.text
            page = r.json()["data"]
            assert len(page) == min(3, max(len(full) - skip, 0))
            pages += page
        assert pages == full
        r = await client.get(url(report_type, window_param, limit=1), headers=headers)
        assert r.json()["data"] == full[:1]

    # Named ranges and the report type's case; the old events' day, alone.
    r = await client.get(url("source", "today"), headers=headers)
    assert r.json()["data"] == model.report("Source", (today, today))
    old = model.report("Campaign", (old_day, old_day))
    assert old and all(row["clicks"] == 0 for row in old)
    r = await client.get(url("Campaign", f"{ymd(old_day)},{ymd(old_day)}"), headers=headers)
    assert r.json()["data"] == old
    r = await client.get(url("Campaign", f"{ymd(old_day)},{ymd(today)}"), headers=headers)
    assert r.json()["data"] == model.report("Campaign", (old_day, today))
    # Test conversions never appear in the report.
    campaigns = {row["Campaign"] for row in model.report("Campaign", window)}
    assert DRAFT not in campaigns
