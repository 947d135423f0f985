"""The dead-letter table: acknowledged events the database refused, set aside for good.

A click is acknowledged by its redirect (or by the journal) before it reaches the
database; if the database then refuses it for its data, retrying cannot help and dropping
it silently would hide it. It is kept here as ASCII JSON (storable whatever it holds), with
the reason, counted in ``/metrics`` and ``/readyz``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from db.engine import insert_for
from db.tables import ClickRecord, DeadLetter, table_of

_ERROR_MAX = 500


def _ascii(text: str, limit: int) -> str:
    """``text`` as ASCII without NUL (escapes for the rest): always storable."""
    escaped = text.replace("\x00", "\\0").encode("ascii", "backslashreplace").decode("ascii")
    return escaped[:limit]


def click_letter(click: ClickRecord, error: BaseException | str) -> dict[str, Any]:
    """A dead-letter row for ``click``."""
    row = asdict(click)
    return _letter("click", str(row.get("account_id") or ""), str(row.get("id") or ""), row, error)


def unreadable_letter(line: str, error: BaseException | str) -> dict[str, Any]:
    """A dead-letter row for a journal line that cannot even be decoded."""
    digest = hashlib.sha256(line.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return _letter("journal_line", "", "line_" + digest, {"line": line}, error)


def _letter(
    kind: str, account_id: str, ident: str, payload: dict[str, Any], error: BaseException | str
) -> dict[str, Any]:
    reason = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return {
        "account_id": _ascii(account_id, 24),
        "id": _ascii(ident, 40) or hashlib.sha256(repr(payload).encode()).hexdigest()[:40],
        "kind": kind,
        # ensure_ascii escapes NUL and lone surrogates: the text is storable on both databases.
        "payload": json.dumps(payload, default=str, ensure_ascii=True, sort_keys=True),
        "error": _ascii(reason, _ERROR_MAX),
        "created_at": datetime.now(UTC),
    }


async def set_aside(sessions: async_sessionmaker[AsyncSession], rows: list[dict[str, Any]]) -> None:
    """Store ``rows`` (from click_letter / unreadable_letter); a repeat is kept once."""
    if not rows:
        return
    async with sessions() as session:
        insert = insert_for(session)
        await session.execute(
            insert(table_of(DeadLetter)).on_conflict_do_nothing(
                index_elements=["account_id", "id"]
            ),
            rows,
        )
        await session.commit()


async def count(connection: AsyncConnection) -> int:
    result = await connection.execute(select(func.count()).select_from(table_of(DeadLetter)))
    return int(result.scalar_one())
