"""Live funnels: who waits for which campaign, and a coalescing watcher.

Every committed write reports its handle (and campaigns) to the ChangeHub: ingest batches
through their commit callback, everything else through the sessions (db.changes).
Subscribers wake up, recompute the funnel from the rollups and push it at most once per
``min_interval``. A periodic re-check
also catches changes committed by other gateway processes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from typing import Any

from db.changes import ANY_HANDLE
from resolvers.auth import recheck
from resolvers.context import Context
from resolvers.domain import utcnow
from resolvers.funnels import Funnel, campaign_funnel

_Key = tuple[str, str]
# listener(handle, campaign ids or None); may return work beyond this process to await.
Listener = Callable[[str, Collection[str] | None], Awaitable[Any] | None]
log = logging.getLogger("funnelgate.changes")


class ChangeHub:
    """The one change signal of this process: every committed write reports the handle it
    changed (and the campaigns, when it knows them); caches and live funnels listen here."""

    def __init__(self) -> None:
        self._events: dict[_Key, asyncio.Event] = {}
        self._waiters: dict[_Key, int] = {}
        self._listeners: list[Listener] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def touch(
        self, handle: str, campaign_ids: Collection[str] | None = None
    ) -> asyncio.Task[None] | None:
        """Report a committed write: ``campaign_ids`` of ``handle`` changed, or anything of it
        when None (``ANY_HANDLE``: of every handle). Returns the listeners' work beyond this
        process (a shared cache's bump) for the writer to await, if there is any."""
        if handle == ANY_HANDLE:
            keys: Collection[_Key] = list(self._events)
        elif campaign_ids is None:
            keys = [key for key in self._events if key[0] == handle]
        else:
            keys = [(handle, cid) for cid in campaign_ids]
        for key in keys:
            event = self._events.get(key)
            if event is not None:
                event.set()
        pending = []
        for listener in self._listeners:
            try:
                work = listener(handle, campaign_ids)
            except Exception:  # the write committed: report, never fail it
                log.exception("change listener failed")
                continue
            if work is not None:
                pending.append(work)
        if not pending:
            return None
        task = asyncio.get_running_loop().create_task(_settle(pending))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

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


async def _settle(pending: list[Awaitable[Any]]) -> None:
    for result in await asyncio.gather(*pending, return_exceptions=True):
        if isinstance(result, Exception):  # the write committed: report, never fail it
            log.warning("change listener failed: %r", result)


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
    hub: ChangeHub | None = getattr(ctx.services, "change_hub", None)
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
