"""Group commit for clicks: concurrent redirects share one transaction.

Each redirect enqueues its click and waits for the batch that carries it to commit, so an
answered redirect means a committed click. While one batch commits, the next one gathers;
under overload the bounded queue refuses new clicks instead of growing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.engine import insert_for
from db.rollups import apply_rollups
from db.tables import Click
from resolvers.errors import Overloaded

log = logging.getLogger("funnelgate.ingest")


@dataclass
class IngestStats:
    batches: int = 0
    clicks: int = 0
    failures: int = 0
    last_batch_size: int = 0


class ClickWriter:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        batch_max: int = 500,
        linger_ms: float = 0.0,
        queue_max: int = 20_000,
    ) -> None:
        self._sessions = sessions
        self._batch_max = batch_max
        self._linger = linger_ms / 1000
        self._queue: asyncio.Queue[tuple[Click, asyncio.Future[None]] | None] = asyncio.Queue(
            maxsize=queue_max
        )
        self._task: asyncio.Task[None] | None = None
        self.stats = IngestStats()
        self.on_commit: list = []  # callbacks(handle -> set[campaign_id])

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="click-writer")

    async def stop(self) -> None:
        """Flush what is queued, then stop."""
        if self._task is None:
            return
        await self._queue.put(None)
        await self._task
        self._task = None

    async def record(self, click: Click) -> None:
        """Return once ``click`` is committed; Overloaded when the queue is full."""
        if self._task is None:
            await self.start()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((click, future))
        except asyncio.QueueFull as exc:
            raise Overloaded("Click queue full, retry shortly") from exc
        await future

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            item = await self._queue.get()
            if item is None:
                break
            batch = [item]
            if self._linger:
                await asyncio.sleep(self._linger)
            while len(batch) < self._batch_max:
                try:
                    nxt = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if nxt is None:
                    stopping = True
                    break
                batch.append(nxt)
            await self._write(batch)

    async def _write(self, batch: list[tuple[Click, asyncio.Future[None]]]) -> None:
        clicks = [c for c, _ in batch]
        try:
            await write_clicks(self._sessions, clicks)
        except Exception as exc:  # noqa: BLE001 - every waiter must hear about it
            self.stats.failures += 1
            log.exception("click batch of %d failed", len(batch))
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        self.stats.batches += 1
        self.stats.clicks += len(batch)
        self.stats.last_batch_size = len(batch)
        for _, future in batch:
            if not future.done():
                future.set_result(None)
        touched: dict[str, set[str]] = {}
        for c in clicks:
            if c.campaign_id:
                touched.setdefault(c.handle, set()).add(c.campaign_id)
        for callback in self.on_commit:
            for handle, campaign_ids in touched.items():
                callback(handle, campaign_ids)


async def write_clicks(sessions: async_sessionmaker[AsyncSession], clicks: list[Click]) -> int:
    """Insert ``clicks`` and their rollups in one transaction; returns how many were new.

    Only clicks this call really inserted reach the rollups, so a replayed click id is never
    counted twice.
    """
    async with sessions() as session:
        insert = insert_for(session)
        result = await session.execute(
            insert(Click.__table__)
            .on_conflict_do_nothing(index_elements=["account_id", "id"])
            .returning(Click.__table__.c.id),
            [_row(c) for c in clicks],
        )
        inserted = set(result.scalars().all())
        await apply_rollups(session, [c for c in clicks if c.id in inserted], [])
        await session.commit()
    return len(inserted)


def _row(click: Click) -> dict[str, object]:
    return {col.name: getattr(click, col.name) for col in Click.__table__.columns}
