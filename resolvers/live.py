"""Live funnels: who waits for which campaign, and a coalescing watcher.

Ingest touches the campaigns of every committed batch; subscribers wake up, recompute the
funnel from the rollups and push it at most once per ``min_interval``. A periodic re-check
also catches changes committed by other gateway processes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from resolvers.context import Context
from resolvers.funnels import Funnel, campaign_funnel

_Key = tuple[str, str]


class ChangeHub:
    """In-process notification of campaigns whose figures changed."""

    def __init__(self) -> None:
        self._events: dict[_Key, asyncio.Event] = {}
        self._waiters: dict[_Key, int] = {}

    def touch(self, handle: str, campaign_ids: set[str]) -> None:
        for cid in campaign_ids:
            event = self._events.get((handle, cid))
            if event is not None:
                event.set()

    async def wait(self, handle: str, campaign_id: str, timeout: float) -> bool:
        """True when touched within ``timeout`` seconds."""
        key = (handle, campaign_id)
        event = self._events.setdefault(key, asyncio.Event())
        self._waiters[key] = self._waiters.get(key, 0) + 1
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            event.clear()
            self._waiters[key] -= 1
            if not self._waiters[key]:
                del self._waiters[key]
                self._events.pop(key, None)


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
    """Yield the funnel now, then again whenever it changes (at most once per interval)."""
    funnel = await campaign_funnel(ctx, handle, campaign_id, date_range, include_test)
    yield funnel
    last, last_push = _fingerprint(funnel), time.monotonic()
    hub: ChangeHub | None = getattr(ctx.services, "change_hub", None)
    while True:
        if hub is not None:
            await hub.wait(handle, campaign_id, recheck_interval)
        else:
            await asyncio.sleep(recheck_interval)
        # Coalesce: a burst of events within the interval becomes one push.
        delay = min_interval - (time.monotonic() - last_push)
        if delay > 0:
            await asyncio.sleep(delay)
        funnel = await campaign_funnel(ctx, handle, campaign_id, date_range, include_test)
        current = _fingerprint(funnel)
        if current != last:
            last, last_push = current, time.monotonic()
            yield funnel
