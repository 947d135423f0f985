"""A bounded async read-through cache with a short TTL.

Several gateway processes may serve one database; a short TTL is what makes a change made
through another process visible here within a second, without a pub/sub channel. Local
writes invalidate at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    def __init__(self, load: Callable[[K], Awaitable[V]], ttl: float, max_entries: int = 100_000):
        self._load = load
        self._ttl = ttl
        self._max = max_entries
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._inflight: dict[K, asyncio.Future[V]] = {}
        # Bumped by invalidate/clear: a load that started before a bump may have read the
        # old row, so its result is handed to its own waiters but never stored.
        self._epoch = 0

    async def get(self, key: K) -> V:
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        epoch = self._epoch
        try:
            value = await self._load(key)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            if self._inflight.get(key) is future:
                del self._inflight[key]
        future.set_result(value)
        if epoch != self._epoch:
            return value
        self._entries[key] = (time.monotonic() + self._ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return value

    def invalidate(self, key: K) -> None:
        self._epoch += 1
        self._entries.pop(key, None)
        self._inflight.pop(key, None)  # later callers start a fresh load

    def invalidate_where(self, stale: Callable[[K], bool]) -> None:
        """Drop every entry (and load in flight) whose key ``stale`` picks."""
        self._epoch += 1
        for key in [k for k in self._entries if stale(k)]:
            del self._entries[key]
        for key in [k for k in self._inflight if stale(k)]:
            del self._inflight[key]

    def clear(self) -> None:
        self._epoch += 1
        self._entries.clear()
        self._inflight.clear()
