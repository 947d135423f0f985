"""The change hub: the one change signal of this process.

Every committed write reports its handle (and campaigns) here: ingest batches through
their commit callback, everything else through the tracked sessions (db.changes). The link
and rule caches, the GraphQL response cache and live subscriptions listen here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from db.changes import ANY_HANDLE

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
        self._listeners: list[tuple[Listener, bool]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def listen(self, listener: Listener, *, recorded_events: bool = True) -> None:
        """Call ``listener(handle, campaign_ids)`` after each committed write; with
        ``recorded_events=False`` not after a batch that only recorded clicks and conversions
        (what a cache of links or rules need not hear, hundreds of times a second)."""
        self._listeners.append((listener, recorded_events))

    def events_recorded(self, handle: str, campaign_ids: Collection[str]) -> None:
        """Report a committed ingest batch: clicks and conversions of these campaigns."""
        self.touch(handle, campaign_ids, events_only=True)

    def touch(
        self,
        handle: str,
        campaign_ids: Collection[str] | None = None,
        *,
        events_only: bool = False,
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
        for listener, hears_events in self._listeners:
            if events_only and not hears_events:
                continue
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
