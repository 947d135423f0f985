"""Keep redirects answering while the database fails or hangs: a loader that falls back to
the last value it loaded for a key.

The link and rules caches (app/runtime/ttlcache.py) expire after half a second, so that a
change made through another process shows within a second. Their loaders are wrapped here:
when a reload fails, or takes longer than ``timeout_s``, the last value loaded for that key
(at most ``max_stale_s`` old) is returned instead, and the cache keeps it for one TTL before
trying again, so requests do not each wait on a database that does not answer. A reload that
times out keeps running in the background (one per key) and, if it succeeds, refreshes the
last value. A key that never loaded successfully still fails as before.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

log = logging.getLogger("funnelgate.cache")


class StaleOnErrorLoader(Generic[K, V]):
    def __init__(
        self,
        load: Callable[[K], Awaitable[V]],
        *,
        timeout_s: float = 1.0,
        max_stale_s: float = 3600.0,
        max_entries: int = 100_000,
        name: str = "cache",
    ) -> None:
        self._load = load
        self._timeout = timeout_s
        self._max_stale = max_stale_s
        self._max = max_entries
        self._name = name
        self._good: OrderedDict[K, tuple[float, V]] = OrderedDict()  # key -> (loaded at, value)
        self._running: dict[K, asyncio.Task[V]] = {}
        self._failing = False
        self.stale_served = 0

    async def __call__(self, key: K) -> V:
        good = self._good.get(key)
        if good is not None and time.monotonic() - good[0] > self._max_stale:
            del self._good[key]
            good = None
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(self._load_and_remember(key))
            self._running[key] = task
            task.add_done_callback(lambda t: self._finished(key, t))
        if good is None:
            return await asyncio.shield(task)
        try:
            return await asyncio.wait_for(asyncio.shield(task), self._timeout)
        except Exception as exc:  # noqa: BLE001 - any failure to load: serve the last value
            if not self._failing:
                self._failing = True
                log.warning("%s reload failed, serving last loaded values: %r", self._name, exc)
            self.stale_served += 1
            return good[1]

    async def _load_and_remember(self, key: K) -> V:
        value = await self._load(key)
        self._good[key] = (time.monotonic(), value)
        self._good.move_to_end(key)
        while len(self._good) > self._max:
            self._good.popitem(last=False)
        if self._failing:
            self._failing = False
            log.warning("%s reloads succeed again", self._name)
        return value

    def _finished(self, key: K, task: asyncio.Task[V]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        if not task.cancelled():
            task.exception()  # retrieved here: a late failure is not an unhandled error

    def forget(self, key: K) -> None:
        """A local write changed ``key``: never serve its old value."""
        self._good.pop(key, None)

    def forget_all(self) -> None:
        self._good.clear()
