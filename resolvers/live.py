"""Live funnels: who waits for which campaign, and a coalescing watcher.

Every committed write reports its handle (and campaigns) to the change hub
(app/runtime/changes.py). Subscribers wake up, recompute the funnel from the rollups and push
it at most once per ``min_interval``. A periodic re-check also catches changes committed by
other gateway processes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from resolvers.auth import recheck
from resolvers.context import Context
from resolvers.domain import utcnow
from resolvers.funnels import Funnel, campaign_funnel


def _fingerprint(f: Funnel) -> tuple[object, ...]:
    return (
        f.clicks,
        f.qualified_clicks,
        tuple(sorted(f.stage_counts.items())),
        f.conversions,
        tuple(sorted(f.revenue_micros.items())),
        f.last_seen_at,
    )


async def watch_campaign_funnel(
    ctx: Context,
    handle: str,
    campaign_id: str,
    *,
    date_range: str | None = None,
    include_test: bool = False,
    min_interval: float = 1.0,
    recheck_interval: float = 5.0,
) -> AsyncIterator[Funnel]:
    """Yield the funnel now, then again whenever it changes (at most once per interval).

    The caller's token is checked again before every look: the watch ends with
    Unauthenticated once it has expired or been revoked, at its expiry at the latest.
    """
    await recheck(ctx)  # the connection may have outlived its token already
    funnel = await campaign_funnel(ctx, handle, campaign_id, date_range, include_test)
    yield funnel
    last, last_push = _fingerprint(funnel), time.monotonic()
    hub = ctx.changes
    while True:
        timeout = _until_expiry(ctx, recheck_interval)
        if hub is not None:
            await hub.wait(handle, campaign_id, timeout)
        else:
            await asyncio.sleep(timeout)
        # Coalesce: a burst of events within the interval becomes one push.
        delay = min_interval - (time.monotonic() - last_push)
        if delay > 0:
            await asyncio.sleep(delay)
        await recheck(ctx)
        funnel = await campaign_funnel(ctx, handle, campaign_id, date_range, include_test)
        current = _fingerprint(funnel)
        if current != last:
            last, last_push = current, time.monotonic()
            yield funnel


def _until_expiry(ctx: Context, longest: float) -> float:
    """Seconds to wait at most: ``longest``, or less when the token expires sooner."""
    expires_at = ctx.principal.expires_at if ctx.principal is not None else None
    if expires_at is None:
        return longest
    return max(0.0, min(longest, (expires_at - utcnow()).total_seconds()))
