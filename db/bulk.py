"""Multi-row writes as ONE statement with a fixed text on PostgreSQL.

``INSERT … SELECT * FROM unnest($1::text[], …)`` sends a batch as one array per column:
a single round trip whose SQL never changes with the batch size, so asyncpg's prepared
statement cache always hits. SQLite keeps SQLAlchemy's executemany path.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Integer, Table, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.types import TypeDecorator


def _pg_array_type(column: Any) -> str:
    kind = column.type
    if isinstance(kind, TypeDecorator):  # db.types.UtcDateTime: the type it stores as
        kind = kind.impl_instance
    if isinstance(kind, Boolean):
        return "boolean[]"
    if isinstance(kind, BigInteger):
        return "bigint[]"
    if isinstance(kind, Integer):
        return "integer[]"
    if isinstance(kind, DateTime):
        return "timestamptz[]"
    if isinstance(kind, Date):
        return "date[]"
    return "text[]"


@lru_cache(maxsize=64)
def _unnest_statement(table: Table, columns: tuple[str, ...], conflict: str) -> Any:
    """Built once per shape: the statement object, so its cache key is computed once too."""
    # Parameters named after their columns: a tracked session reads the handles off them.
    casts = ", ".join(f"CAST(:{name} AS {_pg_array_type(table.c[name])})" for name in columns)
    names = ", ".join(f'"{name}"' for name in columns)
    return text(f'INSERT INTO "{table.name}" ({names}) SELECT * FROM unnest({casts}) {conflict}')


async def pg_insert_unnest(
    conn: AsyncSession | AsyncConnection,
    table: Table,
    rows: list[dict[str, Any]],
    conflict: str,
) -> Any:
    """Insert ``rows`` (all with the same keys) with ``conflict`` appended verbatim
    (``ON CONFLICT …`` and optionally ``RETURNING …``)."""
    columns = tuple(rows[0])
    params = {name: [row[name] for row in rows] for name in columns}
    return await conn.execute(_unnest_statement(table, columns, conflict), params)


@lru_cache(maxsize=64)
def pg_unnest_sql(table: Table, columns: tuple[str, ...], conflict: str) -> str:
    """The same statement with positional ``$n`` parameters, for a raw asyncpg connection."""
    casts = ", ".join(
        f"${i + 1}::{_pg_array_type(table.c[name])}" for i, name in enumerate(columns)
    )
    names = ", ".join(f'"{name}"' for name in columns)
    return f'INSERT INTO "{table.name}" ({names}) SELECT * FROM unnest({casts}) {conflict}'
