"""Unit tests of the fault-tolerance parts: stale link values while the database fails, the
journal depth /readyz reports, and click batches kept apart from slow conversion batches."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest

import app.runtime.ingest as ingest_module
from app.runtime.ingest import IngestWriter
from app.runtime.journal import ClickJournal
from app.runtime.stalecache import StaleOnErrorLoader
from app.runtime.ttlcache import TTLCache
from tests.factories import click_record


class FlakyLoader:
    def __init__(self) -> None:
        self.calls = 0
        self.fail: BaseException | None = None
        self.delay = 0.0
        self.value = "v1"

    async def __call__(self, key: str) -> str:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return f"{key}:{self.value}"


async def test_a_failed_reload_serves_the_last_value_and_a_first_load_still_fails():
    source = FlakyLoader()
    cache = TTLCache(StaleOnErrorLoader(source, timeout_s=1.0), ttl=0)
    assert await cache.get("a") == "a:v1"
    source.fail = ConnectionRefusedError("database down")
    assert await cache.get("a") == "a:v1"
    with pytest.raises(ConnectionRefusedError):
        await cache.get("never-loaded")
    source.fail = None
    source.value = "v2"
    assert await cache.get("a") == "a:v2"


async def test_a_slow_reload_serves_the_last_value_and_refreshes_it_when_it_completes():
    source = FlakyLoader()
    loader = StaleOnErrorLoader(source, timeout_s=0.05)
    assert await loader("a") == "a:v1"
    # The reload takes far longer than the callers' 0.05 s wait, so that a loaded machine
    # cannot blur "served the last value" into "waited for the reload".
    source.delay, source.value = 1.0, "v2"
    started = time.monotonic()
    results = await asyncio.gather(*(loader("a") for _ in range(5)))
    assert results == ["a:v1"] * 5 and time.monotonic() - started < 0.5
    assert source.calls == 2, "concurrent reloads of one key share one database query"
    await asyncio.sleep(1.1)  # the background reload finishes
    source.delay, source.fail = 0, ConnectionRefusedError("down")
    assert await loader("a") == "a:v2"
    assert loader.stale_served == 6


async def test_values_older_than_max_stale_are_not_served():
    source = FlakyLoader()
    loader = StaleOnErrorLoader(source, timeout_s=1.0, max_stale_s=0.05)
    await loader("a")
    await asyncio.sleep(0.1)
    source.fail = OSError("down")
    with pytest.raises(OSError):
        await loader("a")


def _click(i: int):
    return click_record(i, prefix="d")


async def test_journal_depth_counts_files_left_by_a_dead_process(tmp_path):
    crashed = ClickJournal(tmp_path)
    crashed.append([_click(1), _click(2)])
    crashed.append([_click(3)])
    assert crashed.depth == 3
    crashed._file.close()  # as the kernel does when the process dies: the lock goes
    with open(next(tmp_path.glob("clicks-*.jsonl")), "a") as f:
        f.write('{"torn":')  # never acknowledged, never counted
    restarted = ClickJournal(tmp_path)
    assert restarted.depth == 3, "a restarted process reports the journal it will replay"
    live = ClickJournal(tmp_path)
    live.append([_click(4)])
    assert ClickJournal(tmp_path).depth == 3, "a live process's file is its own to count"
    seen: list[str] = []

    async def write(chunk):
        seen.extend(c.id for c in chunk)

    assert await restarted.replay(write) == 3 and restarted.depth == 0
    assert live.depth == 1
    live.rotate()
    assert live.depth == 1  # rotated, not yet replayed
    assert await live.replay(write) == 1 and live.depth == 0


OK = SimpleNamespace(status="created", campaign_id="cmp")


async def test_a_slow_conversion_batch_does_not_push_its_batchs_clicks_to_the_journal(
    tmp_path, monkeypatch
):
    calls: list[tuple[int, int]] = []

    async def fake_write_batch(sessions, clicks, conversion_jobs, lane=None):
        calls.append((len(clicks), len(conversion_jobs)))
        if conversion_jobs:
            await asyncio.sleep(0.3)  # longer than the click budget
        return {id(j): [OK] for j in conversion_jobs}

    monkeypatch.setattr(ingest_module, "write_batch", fake_write_batch)
    writer = IngestWriter(
        None, journal=ClickJournal(tmp_path), commit_budget_s=0.1, conversion_timeout_s=5
    )
    writer._tasks = [asyncio.create_task(asyncio.sleep(0))]  # queue now, drain by hand
    click = asyncio.ensure_future(writer.record(_click(1)))
    conversion = asyncio.ensure_future(
        writer.record_conversions(SimpleNamespace(id="a"), "h", [object()])
    )
    await asyncio.sleep(0)
    batch = [writer._queue.get_nowait(), writer._queue.get_nowait()]
    await writer._write(batch)
    assert await click is None and await conversion == [OK]
    assert calls == [(1, 0), (0, 1)]
    assert writer.degraded is False and writer.journal_depth == 0
    writer.journal.close()


class _Deadlock(Exception):
    sqlstate = "40P01"  # what asyncpg's DeadlockDetectedError carries


async def test_a_batch_that_deadlocks_with_another_lane_is_written_again(monkeypatch):
    """Concurrent batches sharing event ids may lock them in crossed order; PostgreSQL
    rolls one back. Its waiters must get their results, not a 503."""
    attempts: list[int] = []

    async def deadlocking_once(sessions, clicks, conversion_jobs, lane=None):
        attempts.append(len(conversion_jobs))
        if len(attempts) == 1:
            raise _Deadlock("deadlock detected")
        return {id(j): [OK] for j in conversion_jobs}

    monkeypatch.setattr(ingest_module, "write_batch", deadlocking_once)
    writer = IngestWriter(None)
    writer._tasks = [asyncio.create_task(asyncio.sleep(0))]  # queue now, drain by hand
    conversion = asyncio.ensure_future(
        writer.record_conversions(SimpleNamespace(id="a"), "h", [object()])
    )
    await asyncio.sleep(0)
    await writer._write([writer._queue.get_nowait()])
    assert await conversion == [OK]
    assert attempts == [1, 1] and writer.stats.failures == 0


async def test_a_batch_that_keeps_deadlocking_fails_after_bounded_tries(monkeypatch):
    attempts: list[int] = []

    async def always_deadlocking(sessions, clicks, conversion_jobs, lane=None):
        attempts.append(1)
        raise _Deadlock("deadlock detected")

    monkeypatch.setattr(ingest_module, "write_batch", always_deadlocking)
    writer = IngestWriter(None)
    writer._tasks = [asyncio.create_task(asyncio.sleep(0))]
    conversion = asyncio.ensure_future(
        writer.record_conversions(SimpleNamespace(id="a"), "h", [object()])
    )
    await asyncio.sleep(0)
    await writer._write([writer._queue.get_nowait()])
    with pytest.raises(Exception):  # noqa: B017 - the writer's own outage error, any type
        await conversion
    assert len(attempts) == ingest_module.CONFLICT_RETRIES


def test_postgresqls_deadlock_and_serialization_failure_are_conflicts_not_data_errors():
    from asyncpg.exceptions import DeadlockDetectedError, SerializationError

    from db.faults import is_data_error, is_transaction_conflict

    for error in (DeadlockDetectedError("deadlock detected"), SerializationError("conflict")):
        assert is_transaction_conflict(error) and not is_data_error(error)
    assert not is_transaction_conflict(_Deadlock.__mro__[1]("other"))
