"""A local durable journal for clicks that cannot reach the database in time.

One append-only JSON-lines file per gateway process, fsync'd per batch, held under an
exclusive ``flock`` while its process writes it. A file nobody holds is orphaned (its
process stopped, crashed or rotated it away) and any process may replay it. Replays are
idempotent: click ids are unique and only newly inserted clicks reach the rollups.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from db.tables import Click, ClickRecord, table_of

log = logging.getLogger("funnelgate.journal")
REPLAY_CHUNK = 500
_COLUMNS = tuple(col.name for col in table_of(Click).columns)


def _encode(click: ClickRecord) -> str:
    row = {name: getattr(click, name) for name in _COLUMNS}
    row["occurred_at"] = click.occurred_at.isoformat()
    row["day"] = click.day.isoformat()
    return json.dumps(row, separators=(",", ":"))


def _decode(line: str) -> ClickRecord:
    row: dict[str, Any] = json.loads(line)
    row["occurred_at"] = datetime.fromisoformat(row["occurred_at"])
    row["day"] = date.fromisoformat(row["day"])
    return ClickRecord(**row)


class ClickJournal:
    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = None
        self._path: Path | None = None
        self._pending = 0  # lines written to our current file since it was opened
        # Clicks in files nobody holds (rotated, or left by a stopped or crashed process),
        # as of the last scan or replay: a process restarted after a crash reports them.
        self._orphaned = self.count_orphaned()

    @property
    def depth(self) -> int:
        """Clicks journaled and not yet replayed: our current file plus orphaned files."""
        if self._orphaned and not any(
            path != self._path for path in self.directory.glob("clicks-*.jsonl")
        ):
            self._orphaned = 0  # another process replayed them
        return self._pending + self._orphaned

    def count_orphaned(self) -> int:
        """Complete lines in the journal files no live process holds."""
        total = 0
        for path in self.directory.glob("clicks-*.jsonl"):
            if path == self._path and self._file is not None:
                continue
            try:
                handle = open(path, "rb")  # noqa: SIM115 - closed below
            except FileNotFoundError:
                continue
            with handle:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live process writes it and counts it itself
                total += handle.read().count(b"\n")
        return total

    def _open(self) -> IO[str]:
        if self._file is None:
            self._path = self.directory / f"clicks-{os.getpid()}-{secrets.token_hex(4)}.jsonl"
            self._file = open(self._path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
            self._pending = 0
        return self._file

    def append(self, clicks: list[ClickRecord]) -> None:
        """Write and fsync ``clicks``; once this returns they survive a crash."""
        handle = self._open()
        handle.write("".join(_encode(c) + "\n" for c in clicks))
        handle.flush()
        os.fsync(handle.fileno())
        self._pending += len(clicks)

    def rotate(self) -> None:
        """Close the current file so that it becomes replayable."""
        if self._file is not None:
            self._file.close()  # releases the lock
            self._file = None
            self._path = None
            self._orphaned += self._pending
            self._pending = 0

    def close(self) -> None:
        self.rotate()

    async def replay(
        self,
        write: Callable[[list[ClickRecord]], Awaitable[Any]],
        set_aside: Callable[[str, Exception], Awaitable[Any]] | None = None,
    ) -> int:
        """Replay every unheld journal file through ``write``; return clicks replayed.

        A file is deleted only after all its clicks were written, so a crash mid-replay
        leaves it for the next replay (which skips what is already in the database). A line
        that cannot be decoded goes to ``set_aside`` (or is skipped with a warning) instead
        of holding the file back for ever.
        """
        self.rotate()
        replayed = await self._replay(write, set_aside)
        # Recounted only after a full pass (cheap then: what is left is held by live
        # processes); a failed pass leaves the count as it was, minus the files it drained.
        self._orphaned = self.count_orphaned()
        return replayed

    async def _replay(
        self,
        write: Callable[[list[ClickRecord]], Awaitable[Any]],
        set_aside: Callable[[str, Exception], Awaitable[Any]] | None,
    ) -> int:
        replayed = 0
        for path in sorted(self.directory.glob("clicks-*.jsonl")):
            try:
                # A corrupt byte must not stop the file: it decodes to U+FFFD, and the line
                # is then refused by the database or by the decoder and set aside.
                handle = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115
            except FileNotFoundError:
                continue
            try:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live process still writes it
                if not path.exists():
                    continue  # replayed and removed by another process meanwhile
                chunk: list[ClickRecord] = []
                lines = 0
                for line in handle:
                    if not line.endswith("\n"):
                        break  # torn last line of a crash: it was never acknowledged
                    lines += 1
                    try:
                        chunk.append(_decode(line))
                    except (ValueError, TypeError, KeyError) as exc:  # corrupt: never readable
                        if set_aside is None:
                            log.warning("unreadable journal line skipped: %s", exc)
                        else:
                            await set_aside(line.rstrip("\n"), exc)
                        continue
                    if len(chunk) >= REPLAY_CHUNK:
                        await write(chunk)
                        replayed += len(chunk)
                        chunk = []
                if chunk:
                    await write(chunk)
                    replayed += len(chunk)
                path.unlink(missing_ok=True)
                self._orphaned = max(0, self._orphaned - lines)
            finally:
                handle.close()
        if replayed:
            log.info("replayed %d journaled clicks", replayed)
        return replayed

    def has_files(self) -> bool:
        return any(self.directory.glob("clicks-*.jsonl"))


async def to_thread_append(journal: ClickJournal, clicks: list[ClickRecord]) -> None:
    await asyncio.to_thread(journal.append, clicks)
