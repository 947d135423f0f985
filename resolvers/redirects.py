"""Following a short link: resolve it (cached), personalise it, record the click."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from db.rollups.writes import local_day
from db.tables import Account, Campaign, ClickRecord, Handle, Link
from resolvers.domain import CampaignStatus, utcnow
from resolvers.errors import DomainError, Overloaded
from resolvers.ports import ClickRecorder, LinkLookup, RulesLookup
from resolvers.traffic import (
    classify_user_agent,
    normalise_country,
    traffic_source,
    visitor_id,
)

CLICK_PARAM = "fg_click"
log = logging.getLogger("funnelgate.redirect")


@dataclass(frozen=True)
class LinkTarget:
    account_id: str
    timezone: ZoneInfo
    handle: str
    slug: str
    destination_url: str
    campaign_id: str | None
    campaign_status: str | None
    append_context_param: bool

    @property
    def tracking(self) -> bool:
        return self.campaign_status == CampaignStatus.ACTIVE.value


@dataclass(frozen=True)
class Visit:
    """What the HTTP layer knows about one request to a short link."""

    method: str
    user_agent: str
    referrer: str | None
    ip: str
    country_header: str | None
    query: list[tuple[str, str]]


@dataclass(frozen=True)
class Redirect:
    location: str
    click_id: str | None


def link_loader(
    sessions: async_sessionmaker[AsyncSession],
) -> Callable[[tuple[str, str]], Awaitable[LinkTarget | None]]:
    async def load(key: tuple[str, str]) -> LinkTarget | None:
        handle, slug = key
        async with sessions() as session:
            row = (
                await session.execute(
                    select(Link, col(Campaign.status), col(Account.timezone))
                    .join(Handle, col(Handle.name) == col(Link.handle))
                    .join(Account, col(Account.id) == col(Handle.account_id))
                    .outerjoin(
                        Campaign,
                        (col(Campaign.handle) == col(Link.handle))
                        & (col(Campaign.campaign_id) == col(Link.campaign_id)),
                    )
                    .where(col(Link.handle) == handle, col(Link.slug) == slug)
                )
            ).first()
        if row is None:
            return None
        link, status, tz = row
        return LinkTarget(
            link.account_id,
            ZoneInfo(tz),
            link.handle,
            link.slug,
            link.destination_url,
            link.campaign_id,
            status,
            link.append_context_param,
        )

    return load


def with_params(url: str, extra: list[tuple[str, str]]) -> str:
    """Add query parameters the destination does not already set."""
    if not extra:
        return url
    parts = urlsplit(url)
    present = {k for k, _ in parse_qsl(parts.query, keep_blank_values=True)}
    added = urlencode([(k, v) for k, v in extra if k not in present])
    if not added:
        return url
    # Append to the destination's query as it is: re-encoding it would break signed URLs.
    query = f"{parts.query}&{added}" if parts.query else added
    return urlunsplit(parts._replace(query=query))


@lru_cache(maxsize=2048)
def forwarded_location(destination: str, forwarded: tuple[tuple[str, str], ...]) -> str:
    """``with_params`` for the visit's own parameters: a link's visitors mostly arrive with
    the same utm tags, so the parse and re-encode is done once per combination."""
    return with_params(destination, list(forwarded))


def build_click(
    target: LinkTarget,
    visit: Visit,
    *,
    salt: str,
    segment: str,
    device: str,
    is_bot: bool,
    source: str,
    country: str,
    destination: str,
    now: datetime | None = None,
) -> ClickRecord:
    now = now or utcnow()
    params = dict(visit.query)
    return ClickRecord(
        account_id=target.account_id,
        id=secrets.token_hex(12),
        handle=target.handle,
        slug=target.slug,
        campaign_id=target.campaign_id,
        occurred_at=now,
        day=local_day(now, target.timezone),
        visitor_id=visitor_id(salt, visit.ip, visit.user_agent),
        country=country,
        device=device.lower(),
        source=source,
        medium=(params.get("utm_medium") or "").strip().lower()[:128],
        is_bot=is_bot,
        segment=segment,
        destination_url=destination[:2048],
    )


@dataclass(frozen=True)
class RedirectPorts:
    """What following a link needs of the running gateway (built in app/runtime/services.py)."""

    links: LinkLookup
    rules: RulesLookup | None
    clicks: ClickRecorder
    visitor_salt: str


async def follow_link(
    ports: RedirectPorts, handle: str, slug: str, visit: Visit
) -> Redirect | None:
    """None for an unknown link. A link of a non-ACTIVE campaign redirects without a click."""
    target = await ports.links.get((handle, slug))
    if target is None:
        return None
    ua = classify_user_agent(visit.user_agent)
    is_bot = ua.is_bot or visit.method == "HEAD"
    source = traffic_source(dict(visit.query).get("utm_source"), visit.referrer)
    country = normalise_country(visit.country_header)
    destination, segment = target.destination_url, "default"
    if ports.rules is not None:
        from resolvers.personalization import choose_variant

        rule = choose_variant(
            await ports.rules.get(handle),
            campaign_id=target.campaign_id,
            device=ua.device,
            country=country,
            source=source,
        )
        if rule is not None:
            destination, segment = rule.destination_url, rule.variant_id
    forwarded = tuple((k, v) for k, v in visit.query if k != CLICK_PARAM)
    location = forwarded_location(destination, forwarded)
    if not target.tracking:
        return Redirect(location, None)
    click = build_click(
        target,
        visit,
        salt=ports.visitor_salt,
        segment=segment,
        device=ua.device,
        is_bot=is_bot,
        source=source,
        country=country,
        destination=location,
    )
    try:
        await ports.clicks.record(click)
    except Overloaded:
        raise
    except DomainError as exc:  # refused for its data and set aside as a dead letter
        log.warning("click on %s/%s not recorded: %s", handle, slug, exc.message)
        return Redirect(location, None)
    except Exception:  # noqa: BLE001 - the visitor still gets the destination
        log.exception("click on %s/%s not recorded", handle, slug)
        return Redirect(location, None)
    if target.append_context_param:
        location = with_params(location, [(CLICK_PARAM, click.id)])
    return Redirect(location, click.id)
