"""Opaque keyset cursors shared by every paginated list."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import ColumnElement, DateTime, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, QueryableAttribute

from resolvers.errors import InvalidInput

T = TypeVar("T")
R = TypeVar("R")
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next: bool
    total: int

    @property
    def end_cursor(self) -> str | None:
        return self.cursors[-1] if self.cursors else None

    @property
    def next_cursor(self) -> str | None:
        return self.end_cursor if self.has_next else None


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE_SIZE
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise InvalidInput(f"Page size must be between 1 and {MAX_PAGE_SIZE}.")
    return first


def encode_cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, length: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("Invalid cursor.") from exc
    if not isinstance(key, list) or len(key) != length or not all(isinstance(k, str) for k in key):
        raise InvalidInput("Invalid cursor.")
    if any("\x00" in k for k in key):
        raise InvalidInput("Invalid cursor.")
    return key


async def keyset_page(
    session: AsyncSession,
    model: type[R],
    where: Sequence[ColumnElement[bool]],
    key: Sequence[Mapped[Any]],
    *,
    descending: bool = False,
    first: int | None = None,
    after: str | None = None,
) -> Page[R]:
    """One page of ``model`` rows matching ``where``, ordered by the ``key`` columns (which
    must identify a row), after the row whose cursor is ``after``; with the total count.

    The cursor is the row's key values (datetimes as ISO text), so a page never repeats or
    skips a row however many are inserted before it.
    """
    size = page_size(first)
    total = await session.execute(select(func.count()).select_from(model).where(*where))
    query = select(model).where(*where)
    if after:
        query = query.where(_beyond(key, _decode_key(after, key), descending))
    query = query.order_by(*(column.desc() if descending else column for column in key))
    rows = list((await session.execute(query.limit(size + 1))).scalars().all())
    has_next = len(rows) > size
    rows = rows[:size]
    names = [cast(QueryableAttribute[Any], column).key for column in key]  # col() says Mapped
    cursors = [encode_cursor([_key_text(getattr(row, name)) for name in names]) for row in rows]
    return Page(rows, cursors, has_next, total.scalar_one())


def _key_text(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _decode_key(cursor: str, key: Sequence[Any]) -> list[Any]:
    values: list[Any] = decode_cursor(cursor, len(key))
    for i, column in enumerate(key):
        if _is_datetime(column):
            try:
                values[i] = datetime.fromisoformat(values[i])
            except ValueError as exc:
                raise InvalidInput("Invalid cursor.") from exc
    return values


def _is_datetime(column: Any) -> bool:
    column_type = getattr(column.type, "impl_instance", column.type)  # a TypeDecorator's
    return isinstance(column_type, DateTime)


def _beyond(key: Sequence[Any], values: Sequence[Any], descending: bool) -> Any:
    """Rows after ``values`` in the lexicographic order of ``key``."""
    column, value = key[0], values[0]
    past = column < value if descending else column > value
    if len(key) == 1:
        return past
    return or_(past, and_(column == value, _beyond(key[1:], values[1:], descending)))
