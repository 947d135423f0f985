"""Domain vocabulary shared by every adapter: enums, defaults, patterns and small helpers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any


class GoalType(str, Enum):
    PRODUCT_SALE = "PRODUCT_SALE"
    LEAD_CAPTURE = "LEAD_CAPTURE"
    NEWSLETTER = "NEWSLETTER"
    AFFILIATE_CLICKOUT = "AFFILIATE_CLICKOUT"
    APP_INSTALL = "APP_INSTALL"


class CampaignStatus(str, Enum):
    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"


class Role(str, Enum):
    VIEWER = "VIEWER"
    CREATOR = "CREATOR"
    ADMIN = "ADMIN"

    @property
    def rank(self) -> int:
        return _ROLE_RANK[self]


_ROLE_RANK = {Role.VIEWER: 1, Role.CREATOR: 2, Role.ADMIN: 3}


class TrackingMode(str, Enum):
    DIRECT = "DIRECT"


class Readiness(str, Enum):
    READY = "READY"
    NOT_READY = "NOT_READY"


class CheckStatus(str, Enum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"


GOAL_DEFAULTS: dict[GoalType, tuple[str, str]] = {
    GoalType.PRODUCT_SALE: ("ga4_purchase", "purchase"),
    GoalType.LEAD_CAPTURE: ("ga4_lead", "lead"),
    GoalType.NEWSLETTER: ("ga4_sign_up", "newsletter_signup"),
    GoalType.AFFILIATE_CLICKOUT: ("custom_webhook", "affiliate_click"),
    GoalType.APP_INSTALL: ("ga4_app_install", "app_install"),
}
KNOWN_TRACKING_PRESETS = {preset for preset, _ in GOAL_DEFAULTS.values()}

# A create may start ACTIVE; after that only these moves are allowed.
STATUS_TRANSITIONS: dict[CampaignStatus, set[CampaignStatus]] = {
    CampaignStatus.DRAFT: {CampaignStatus.ACTIVE},
    CampaignStatus.ACTIVE: {CampaignStatus.PAUSED},
    CampaignStatus.PAUSED: {CampaignStatus.ACTIVE},
}

QUICK_START = [
    "Share the short URL in your campaign channel.",
    "Click once to validate click/context tracking.",
    "Post one conversion event to complete activation.",
]

# Check identifiers with ``fullmatch``: ``$`` also matches before a trailing newline, so
# ``match`` would take "abc\n". The patterns keep ``^…$`` for the OpenAPI document.
CAMPAIGN_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{2,63}$")
HANDLE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,62}$")
SLUG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$")
ACCOUNT_ID_RE = re.compile(r"^[0-9a-f]{24}$")
EVENT_TYPE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")

# Paths the gateway serves itself: a handle of that name would shadow them.
RESERVED_HANDLES = frozenset(
    {
        "v1",
        "v2",
        "v3",
        "graphql",
        "app",
        "mcp",
        "metrics",
        "healthz",
        "readyz",
        "openapi.json",
        "openapi",
        "docs",
        "static",
        "api",
        "admin",
        "login",
        "logout",
        "favicon.ico",
        "robots.txt",
        "well-known",
        ".well-known",
        "public",
        "assets",
    }
)

DEFAULT_FUNNEL_STAGES: list[dict[str, Any]] = [
    {"name": "clicks", "eventTypes": []},
    {"name": "microconversions", "eventTypes": ["microconversion", "view_item"]},
    {"name": "add-to-cart", "eventTypes": ["add_to_cart"]},
    {"name": "checkout", "eventTypes": ["begin_checkout", "checkout"]},
    # An empty list on the conversions stage means "the campaign's conversionEventType".
    {"name": "conversions", "eventTypes": []},
]

PAT_SCOPES = frozenset(
    {
        "analytics.read",
        "analytics.*",
        "pages.read",
        "pages.write",
        "conversions.write",
        "campaigns.read",
        "campaigns.write",
    }
)


# How far ahead of the server's clock an event's own timestamp may be (clock skew).
EVENT_FUTURE_TOLERANCE = timedelta(minutes=5)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime; naive means UTC. Columns already read back so
    (db.types.UtcDateTime): this is for values from elsewhere (input, raw SQL text)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return as_utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")
