"""Route analytics reads to a PostgreSQL streaming replica while it is up and caught up.

Writes, and reads that need read-your-writes, always use the primary. The replica is
checked in the background; a replica that is down, or lags by more than ``max_lag_s``,
is skipped until it recovers, and a read that fails on it is retried on the primary.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

log = logging.getLogger("funnelgate.replica")
T = TypeVar("T")
_REPLICA_ERRORS = (OperationalError, InterfaceError, DBAPIError, OSError, TimeoutError)


class ReadRouter:
    def __init__(
        self,
        primary_engine: AsyncEngine,
        primary: async_sessionmaker[AsyncSession],
        replica_engine: AsyncEngine,
        replica: async_sessionmaker[AsyncSession],
        *,
        max_lag_s: float = 1.0,
        check_interval_s: float = 0.5,
    ) -> None:
        self._primary_engine = primary_engine
        self.primary = primary
        self._replica_engine = replica_engine
        self.replica = replica
        self.max_lag_s = max_lag_s
        self._interval = check_interval_s
        self.healthy = False
        self.last_lag_s: float | None = None
        self._task: asyncio.Task[None] | None = None

    async def check(self) -> bool:
        """Healthy when the replica answers and has replayed the primary's WAL, or lags
        less than ``max_lag_s`` behind its last replayed transaction."""
        try:
            async with asyncio.timeout(2):
                async with self._primary_engine.connect() as conn:
                    primary_lsn = (
                        await conn.execute(text("SELECT pg_current_wal_lsn()"))
                    ).scalar_one()
                async with self._replica_engine.connect() as conn:
                    caught_up, lag = (
                        await conn.execute(
                            text(
                                "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(),"
                                " CAST(CAST(:lsn AS TEXT) AS pg_lsn)) >= 0,"
                                " EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())"
                            ),
                            {"lsn": _lsn_text(primary_lsn)},
                        )
                    ).one()
        except _REPLICA_ERRORS as exc:
            if self.healthy:
                log.warning("read replica unavailable, reading from the primary: %s", exc)
            self.healthy = False
            self.last_lag_s = None
            return False
        self.last_lag_s = 0.0 if caught_up else (float(lag) if lag is not None else None)
        self.healthy = bool(caught_up) or (
            self.last_lag_s is not None and self.last_lag_s <= self.max_lag_s
        )
        return self.healthy

    async def start(self) -> None:
        await self.check()
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="replica-check")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        await self._replica_engine.dispose()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.check()

    async def run(self, read: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run ``read`` on the replica when healthy, else (or on failure) on the primary."""
        if self.healthy:
            try:
                async with self.replica() as session:
                    return await read(session)
            except _REPLICA_ERRORS as exc:
                log.warning("replica read failed, retrying on the primary: %s", exc)
                self.healthy = False
        async with self.primary() as session:
            return await read(session)


def _lsn_text(lsn: Any) -> str:
    """asyncpg returns pg_lsn as an int; PostgreSQL parses the 'X/Y' text form."""
    if isinstance(lsn, int):
        return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"
    return str(lsn)
