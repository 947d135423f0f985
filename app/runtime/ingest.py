"""Group commit: concurrent redirects and conversion posts share one transaction.

Each request enqueues its work and waits for the batch that carries it to commit, so an
answered redirect means a committed click and an acknowledged conversion a committed one.
While one batch commits, the next one gathers; a batch ends with one aggregated rollup
upsert per rollup table. Under overload the bounded queue refuses work (503) instead of
growing.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.runtime.journal import ClickJournal
from app.runtime.telemetry import INGEST_BATCH_SIZE, INGEST_DEAD_LETTERS, INGEST_REFUSED
from db.dead_letters import click_letter, set_aside, unreadable_letter
from db.faults import is_data_error, is_transaction_conflict
from db.rollups.batch import ClickLane
from db.tables import ClickRecord
from resolvers.errors import DomainError, InvalidInput, Overloaded, Unavailable
from resolvers.recording import ConversionBatch, write_batch

if TYPE_CHECKING:
    from resolvers.accounts import AccountInfo
    from resolvers.conversions import ConversionInput, ConversionResult

log = logging.getLogger("funnelgate.ingest")
# Tries of a batch that deadlocked with another writer lane before its waiters hear of it.
CONFLICT_RETRIES = 3


@dataclass
class IngestStats:
    batches: int = 0
    clicks: int = 0
    conversion_batches: int = 0
    failures: int = 0
    last_batch_size: int = 0
    journaled: int = 0
    replayed: int = 0
    dead_lettered: int = 0


@dataclass
class _ClickJob:
    click: ClickRecord
    future: asyncio.Future[None]


@dataclass
class _ConversionJob(ConversionBatch):
    future: asyncio.Future[list[ConversionResult]]
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = max(len(self.events), 1)


class IngestWriter:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        batch_max: int = 500,
        linger_ms: float = 0.0,
        queue_max: int = 20_000,
        journal: ClickJournal | None = None,
        commit_budget_s: float = 2.0,
        probe_interval_s: float = 1.0,
        writers: int = 1,
        conversion_timeout_s: float = 30.0,
        on_commit: Callable[[str, set[str]], object] | None = None,
    ) -> None:
        """``on_commit(handle, campaign ids)`` reports each committed batch's changes (the
        change hub's ``events_recorded``): these sessions track no statements."""
        self._sessions = sessions
        self.journal = journal
        self._budget = commit_budget_s
        self._conversion_timeout = conversion_timeout_s
        self._probe_interval = probe_interval_s
        # Degraded: the database failed a batch; clicks go to the journal until it is back.
        self.degraded = False
        self._journal_lock = asyncio.Lock()
        self._recovery: asyncio.Task[None] | None = None
        self._batch_max = batch_max
        self._linger = linger_ms / 1000
        self._queue: asyncio.Queue[_ClickJob | _ConversionJob | None] = asyncio.Queue(
            maxsize=queue_max
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._writers = writers
        self.stats = IngestStats()
        self._replay_set_aside = 0  # journaled clicks replay set aside, for its count
        self._on_commit = on_commit

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    @property
    def journal_depth(self) -> int:
        return self.journal.depth if self.journal else 0

    async def start(self) -> None:
        # Several writers keep batches in flight while one waits on its commit; rollup rows
        # are always locked in key order, so concurrent batches cannot deadlock.
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(
                    self._run(ClickLane(self._sessions.kw["bind"])), name=f"ingest-writer-{i}"
                )
                for i in range(self._writers)
            ]
        if self.journal is not None and self._recovery is None:
            self._recovery = asyncio.create_task(self._recover_loop(), name="journal-replay")

    async def stop(self) -> None:
        """Flush what is queued, then stop."""
        if self._recovery is not None:
            self._recovery.cancel()
            try:
                await self._recovery
            except asyncio.CancelledError:
                pass
            self._recovery = None
        if self._tasks:
            for _ in self._tasks:
                await self._queue.put(None)
            await asyncio.gather(*self._tasks)
            self._tasks = []
        if self.journal is not None:
            self.journal.close()

    async def _submit(self, job: _ClickJob | _ConversionJob) -> None:
        if not self._tasks:
            await self.start()
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull as exc:
            raise Overloaded("Ingest queue full, retry shortly") from exc

    async def record(self, click: ClickRecord) -> None:
        """Return once ``click`` is committed; Overloaded when the queue is full."""
        job = _ClickJob(click, asyncio.get_running_loop().create_future())
        await self._submit(job)
        await job.future

    async def record_conversions(
        self,
        account: AccountInfo,
        handle: str,
        events: Sequence[ConversionInput | DomainError],
        *,
        is_test: bool = False,
    ) -> list[ConversionResult]:
        """Return the per-event results once the batch carrying them has committed."""
        future = asyncio.get_running_loop().create_future()
        job = _ConversionJob(account, handle, list(events), is_test, future)
        await self._submit(job)
        return await job.future

    async def _run(self, lane: ClickLane) -> None:
        try:
            await self._drain(lane)
        finally:
            await lane.close()

    async def _drain(self, lane: ClickLane) -> None:
        stopping = False
        while not stopping:
            job = await self._queue.get()
            if job is None:
                break
            batch = [job]
            size = _size(job)
            if self._linger:
                await asyncio.sleep(self._linger)
            while size < self._batch_max:
                try:
                    nxt = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if nxt is None:
                    stopping = True
                    break
                batch.append(nxt)
                size += _size(nxt)
            await self._write(batch, lane)

    async def _write(
        self, batch: list[_ClickJob | _ConversionJob], lane: ClickLane | None = None
    ) -> None:
        clicks = [j.click for j in batch if isinstance(j, _ClickJob)]
        conversion_jobs = [j for j in batch if isinstance(j, _ConversionJob)]
        if self.degraded and self.journal is not None:
            await self._journal_batch(batch, clicks, conversion_jobs, None)
            return
        if not (clicks and conversion_jobs):
            await self._commit(batch, clicks, conversion_jobs, lane)
            return
        # Clicks and conversions commit separately (clicks first, so a conversion may name
        # a click of the same batch): clicks within the short budget that keeps redirects
        # answering, conversions within their own, longer timeout.
        click_jobs = [j for j in batch if isinstance(j, _ClickJob)]
        if not await self._commit(click_jobs, clicks, [], lane):
            await self._journal_batch(conversion_jobs, [], conversion_jobs, None)
            return
        await self._commit(list(conversion_jobs), [], conversion_jobs, lane)

    async def _commit(
        self,
        batch: Sequence[_ClickJob | _ConversionJob],
        clicks: list[ClickRecord],
        conversion_jobs: list[_ConversionJob],
        lane: ClickLane | None = None,
    ) -> bool:
        """One transaction; every job's future is resolved. False if it did not commit.

        A batch the database refuses for its data is split until the bad events stand
        alone: every good event commits, each bad one is refused on its own (its request
        gets a 4xx; a click is set aside as a dead letter). Only a database that cannot be
        reached (or does not answer within the budget) sends clicks to the journal.
        """
        # A click batch that cannot commit within the budget goes to the journal; a
        # conversion batch (a larger write, not journaled) gets a longer timeout.
        budget = self._budget if clicks else max(self._budget, self._conversion_timeout)
        try:
            results = await self._write_retrying_conflicts(clicks, conversion_jobs, lane, budget)
        except Exception as exc:  # noqa: BLE001 - every waiter must hear about it
            self.stats.failures += 1
            if is_data_error(exc):
                log.warning(
                    "ingest batch of %d jobs refused for its data (%s); splitting it",
                    len(batch),
                    _describe(exc),
                )
                await self._isolate(batch, lane, exc)
                return True
            log.exception("ingest batch of %d jobs failed", len(batch))
            if self.journal is not None:
                if clicks:
                    self.degraded = True
                await self._journal_batch(batch, clicks, conversion_jobs, exc)
                return False
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(exc)
            return False
        self._committed(batch, clicks, results)
        return True

    async def _write_retrying_conflicts(
        self,
        clicks: list[ClickRecord],
        conversion_jobs: list[_ConversionJob],
        lane: ClickLane | None,
        budget: float,
    ) -> dict[int, list[ConversionResult]]:
        """``write_batch``, again after a deadlock with another writer lane: two batches
        that share event ids (one client's concurrent retries) may lock them in crossed
        order; PostgreSQL rolls one back, and the same batch then commits."""
        for attempt in range(1, CONFLICT_RETRIES):
            try:
                return await asyncio.wait_for(
                    write_batch(self._sessions, clicks, conversion_jobs, lane), budget
                )
            except Exception as exc:
                if not is_transaction_conflict(exc):
                    raise
                log.info("ingest batch crossed another transaction (%s); retrying", exc)
                await asyncio.sleep(random.uniform(0, 0.02 * attempt))
        # The last try: whatever it raises is the batch's failure.
        return await asyncio.wait_for(
            write_batch(self._sessions, clicks, conversion_jobs, lane), budget
        )

    def _committed(
        self,
        batch: Sequence[_ClickJob | _ConversionJob],
        clicks: list[ClickRecord],
        results: dict[int, list[ConversionResult]],
    ) -> None:
        self.stats.batches += 1
        self.stats.clicks += len(clicks)
        self.stats.conversion_batches += sum(isinstance(j, _ConversionJob) for j in batch)
        self.stats.last_batch_size = len(batch)
        if clicks:
            INGEST_BATCH_SIZE.observe(len(clicks))
        touched: dict[str, set[str]] = {}
        for c in clicks:
            if c.campaign_id:
                touched.setdefault(c.handle, set()).add(c.campaign_id)
        for job in batch:
            if job.future.done():
                continue
            if isinstance(job, _ClickJob):
                job.future.set_result(None)
            else:
                job_results = results[id(job)]
                touched.setdefault(job.handle, set()).update(
                    r.campaign_id for r in job_results if r.status == "created" and r.campaign_id
                )
                job.future.set_result(job_results)
        if self._on_commit is not None:
            for handle, campaign_ids in touched.items():
                self._on_commit(handle, campaign_ids)

    async def _isolate(
        self, batch: Sequence[_ClickJob | _ConversionJob], lane: ClickLane | None, cause: Exception
    ) -> None:
        """Commit what ``batch`` holds apart from the events that made it fail."""
        if len(batch) > 1:
            middle = len(batch) // 2
            for part in (batch[:middle], batch[middle:]):
                await self._commit(
                    part,
                    [j.click for j in part if isinstance(j, _ClickJob)],
                    [j for j in part if isinstance(j, _ConversionJob)],
                    lane,
                )
            return
        (job,) = batch
        if isinstance(job, _ConversionJob):
            await self._isolate_events(job, lane, cause)
        else:
            await self._refuse_click(job, cause)

    async def _isolate_events(
        self, job: _ConversionJob, lane: ClickLane | None, cause: Exception
    ) -> None:
        """Split one request's conversion events; the ones the database refuses are
        answered ``rejected`` (a single event: the request's 400) and the rest commit."""
        if len(job.events) == 1:
            INGEST_REFUSED.labels("conversion").inc()
            if not job.future.done():
                job.future.set_exception(_refusal("The event", cause))
            return
        middle = len(job.events) // 2
        loop = asyncio.get_running_loop()
        results: list[ConversionResult] = []
        for offset, events in ((0, job.events[:middle]), (middle, job.events[middle:])):
            part = _ConversionJob(
                job.account, job.handle, events, job.is_test, loop.create_future()
            )
            await self._commit([part], [], [part], lane)
            try:
                part_results = part.future.result()
            except DomainError as exc:
                if len(events) != 1 or exc.status >= 500:
                    _settle(job.future, exc)
                    return
                part_results = [_rejected(0, events[0], exc)]
            except Exception as exc:  # noqa: BLE001 - the database went away meanwhile
                _settle(job.future, exc)
                return
            for result in part_results:
                result.index += offset
            results.extend(part_results)
        if not job.future.done():
            job.future.set_result(results)

    async def _refuse_click(self, job: _ClickJob, cause: Exception) -> None:
        """A click the database refuses for its data: set aside as a dead letter."""
        INGEST_REFUSED.labels("click").inc()
        try:
            await self._set_aside([job.click], cause)
        except Exception as exc:  # noqa: BLE001 - the database went away meanwhile
            log.warning("dead letter not written (%s)", _describe(exc))
            if self.journal is not None:
                await self._journal_batch([job], [job.click], [], exc)
                return
        _settle(job.future, _refusal("The click", cause))

    async def _set_aside(self, clicks: list[ClickRecord], cause: Exception) -> None:
        await set_aside(self._sessions, [click_letter(c, _describe(cause)) for c in clicks])
        self.stats.dead_lettered += len(clicks)
        INGEST_DEAD_LETTERS.labels("click").inc(len(clicks))
        log.warning("%d click(s) set aside as dead letters: %s", len(clicks), _describe(cause))

    async def _journal_batch(
        self,
        batch: Sequence[_ClickJob | _ConversionJob],
        clicks: list[ClickRecord],
        conversion_jobs: list[_ConversionJob],
        cause: BaseException | None,
    ) -> None:
        """Clicks are acknowledged once fsync'd to the journal; conversions get a 503."""
        unavailable = Unavailable("Database unavailable; retry the conversions shortly.")
        for conversion_job in conversion_jobs:
            if not conversion_job.future.done():
                conversion_job.future.set_exception(unavailable)
        if not clicks:
            return
        assert self.journal is not None
        try:
            async with self._journal_lock:
                await asyncio.to_thread(self.journal.append, clicks)
        except Exception as exc:  # noqa: BLE001 - disk full or similar: nothing holds them
            log.exception("journal append failed; %d clicks not recorded", len(clicks))
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        self.stats.journaled += len(clicks)
        for job in batch:
            if isinstance(job, _ClickJob) and not job.future.done():  # conversions: above
                job.future.set_result(None)

    async def replay_journal(self) -> int:
        """Drain journal files into the database; raise if the database is still down.

        Clicks the database refuses for their data (and lines that cannot be read) are set
        aside as dead letters, so that one bad record never holds the journal back.
        """
        if self.journal is None:
            return 0
        async with self._journal_lock:
            set_aside_before = self._replay_set_aside
            replayed = await self.journal.replay(self._replay_chunk, self._set_aside_line)
            replayed -= self._replay_set_aside - set_aside_before
        self.stats.replayed += replayed
        return replayed

    async def _replay_chunk(self, chunk: list[ClickRecord]) -> None:
        try:
            await asyncio.wait_for(write_batch(self._sessions, chunk, []), self._budget * 5)
        except Exception as exc:
            if not is_data_error(exc):
                raise  # still unavailable: the file stays for the next replay
            if len(chunk) == 1:
                INGEST_REFUSED.labels("click").inc()
                await self._set_aside(chunk, exc)
                self._replay_set_aside += 1
                return
            middle = len(chunk) // 2
            await self._replay_chunk(chunk[:middle])
            await self._replay_chunk(chunk[middle:])

    async def _set_aside_line(self, line: str, cause: Exception) -> None:
        await set_aside(self._sessions, [unreadable_letter(line, _describe(cause))])
        self.stats.dead_lettered += 1
        INGEST_DEAD_LETTERS.labels("journal_line").inc()
        log.warning("unreadable journal line set aside as a dead letter: %s", _describe(cause))

    async def _recover_loop(self) -> None:
        """Replay orphaned journals at start, then whenever the database comes back."""
        while True:
            if self.degraded or (self.journal is not None and self.journal.has_files()):
                try:
                    await self.replay_journal()
                    self.degraded = False
                except Exception:  # noqa: BLE001 - still down: keep journaling, retry later
                    log.warning("database still unavailable; clicks stay in the journal")
            await asyncio.sleep(self._probe_interval)


# Kept for callers that only write clicks.
ClickWriter = IngestWriter


def _describe(exc: BaseException) -> str:
    """The error's type and first line: enough for a log line or a dead letter."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


def _refusal(what: str, cause: BaseException) -> InvalidInput:
    return InvalidInput(f"{what} could not be stored: {_describe(cause)}")


def _rejected(
    index: int, event: ConversionInput | DomainError, exc: DomainError
) -> ConversionResult:
    from resolvers.conversions import ConversionResult

    event_id = getattr(event, "event_id", None)
    return ConversionResult(index, "rejected", event_id, code=exc.code, message=exc.message)


def _settle(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


def _size(job: _ClickJob | _ConversionJob) -> int:
    return 1 if isinstance(job, _ClickJob) else job.size
