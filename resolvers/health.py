"""Campaign health: readiness checks a marketer runs before going live."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlmodel import col

from db.tables import Campaign, Link, RollupCampaignDaily
from resolvers.accounts import account_for_handle
from resolvers.campaigns import load_campaign
from resolvers.context import Context
from resolvers.domain import (
    EVENT_TYPE_RE,
    GOAL_DEFAULTS,
    KNOWN_TRACKING_PRESETS,
    CampaignStatus,
    CheckStatus,
    GoalType,
    Readiness,
)
from resolvers.principal import READ_CAMPAIGNS, authorize


@dataclass(frozen=True)
class Check:
    name: str
    status: CheckStatus
    detail: str


@dataclass(frozen=True)
class HealthReport:
    campaign_id: str
    checks: list[Check]

    @property
    def readiness(self) -> Readiness:
        failed = any(c.status is CheckStatus.FAIL for c in self.checks)
        return Readiness.NOT_READY if failed else Readiness.READY


def _tracking_preset(c: Campaign) -> Check:
    if c.tracking_preset in KNOWN_TRACKING_PRESETS:
        return Check(
            "tracking_preset", CheckStatus.PASS, f"Using tracking preset '{c.tracking_preset}'."
        )
    return Check(
        "tracking_preset",
        CheckStatus.WARN,
        f"Tracking preset '{c.tracking_preset}' is custom: make sure your site sends it.",
    )


def _event_type(c: Campaign) -> Check:
    if not EVENT_TYPE_RE.fullmatch(c.conversion_event_type):
        return Check(
            "conversion_event_type",
            CheckStatus.FAIL,
            f"Event type '{c.conversion_event_type}' is not a valid event name.",
        )
    default = GOAL_DEFAULTS[GoalType(c.goal_type)][1]
    if c.conversion_event_type != default:
        return Check(
            "conversion_event_type",
            CheckStatus.PASS,
            f"Using event type '{c.conversion_event_type}' "
            f"(overrides the {c.goal_type} default '{default}').",
        )
    return Check(
        "conversion_event_type", CheckStatus.PASS, f"Using event type '{c.conversion_event_type}'."
    )


def _primary_link(c: Campaign, link: Link | None) -> Check:
    if not c.primary_slug:
        return Check("primary_link", CheckStatus.FAIL, "No primary link configured.")
    if link is None:
        return Check(
            "primary_link", CheckStatus.FAIL, f"Primary link '{c.primary_slug}' does not exist."
        )
    if link.campaign_id != c.campaign_id:
        owner = f"campaign '{link.campaign_id}'" if link.campaign_id else "no campaign"
        return Check(
            "primary_link",
            CheckStatus.FAIL,
            f"Primary link '{c.primary_slug}' belongs to {owner}, not to this one.",
        )
    return Check("primary_link", CheckStatus.PASS, f"Primary link configured: {c.primary_slug}")


def _context_param(link: Link | None) -> Check:
    if link is not None and link.append_context_param:
        return Check(
            "click_context",
            CheckStatus.PASS,
            "Primary link appends the click context (fg_click) for exact attribution.",
        )
    return Check(
        "click_context",
        CheckStatus.WARN,
        "Primary link does not append fg_click: conversions cannot name their click.",
    )


def _status(c: Campaign) -> Check:
    if c.status == CampaignStatus.ACTIVE.value:
        return Check("campaign_status", CheckStatus.PASS, "Campaign is ACTIVE and tracking.")
    if c.status == CampaignStatus.PAUSED.value:
        return Check(
            "campaign_status",
            CheckStatus.WARN,
            "Campaign is PAUSED: links redirect but nothing is tracked.",
        )
    return Check(
        "campaign_status", CheckStatus.WARN, "Campaign is DRAFT: activate it to start tracking."
    )


def _activity(clicks: int, conversions: int) -> list[Check]:
    click = (
        Check("first_click", CheckStatus.PASS, f"{clicks} click(s) recorded.")
        if clicks
        else Check(
            "first_click", CheckStatus.WARN, "No click recorded yet: click the short link once."
        )
    )
    conv = (
        Check(
            "first_conversion",
            CheckStatus.PASS,
            f"{conversions} conversion(s) received, test ones included.",
        )
        if conversions
        else Check(
            "first_conversion",
            CheckStatus.WARN,
            "No conversion received yet: post a test conversion.",
        )
    )
    return [click, conv]


async def campaign_health(ctx: Context, handle: str, campaign_id: str) -> HealthReport:
    authorize(ctx.principal, handle, READ_CAMPAIGNS)
    async with ctx.sessions() as session:
        await account_for_handle(session, handle)
        campaign = await load_campaign(session, handle, campaign_id)
        link = None
        if campaign.primary_slug:
            link = (
                await session.execute(
                    select(Link).where(
                        col(Link.handle) == handle, col(Link.slug) == campaign.primary_slug
                    )
                )
            ).scalar_one_or_none()
        totals = dict(
            (
                await session.execute(
                    select(col(RollupCampaignDaily.kind), func.sum(col(RollupCampaignDaily.count)))
                    .where(
                        col(RollupCampaignDaily.handle) == handle,
                        col(RollupCampaignDaily.campaign_id) == campaign_id,
                    )
                    .group_by(col(RollupCampaignDaily.kind))
                )
            )
            .tuples()
            .all()
        )
    clicks = int(totals.get("click") or 0) + int(totals.get("bot") or 0)
    conversions = int(totals.get("event") or 0)
    checks = [
        _tracking_preset(campaign),
        _event_type(campaign),
        _primary_link(campaign, link),
        _context_param(link),
        _status(campaign),
        *_activity(clicks, conversions),
    ]
    return HealthReport(campaign_id, checks)
