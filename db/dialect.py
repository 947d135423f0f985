"""Row locking and dialect checks: what differs between PostgreSQL and SQLite, named once.

PostgreSQL locks rows. SQLite locks the whole database for a writer and has no ``FOR
UPDATE``: SQLAlchemy renders none for it, so the locking clauses below cost nothing there.
But a SQLite transaction only reads, in autocommit, until its first write, so a
read-then-write that must run alone takes the write lock first (``write_lock``).
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

S = TypeVar("S", bound=Select[Any])


def is_postgresql(source: Any) -> bool:
    """Whether ``source`` (a session, session factory, engine or connection) is PostgreSQL."""
    if isinstance(source, async_sessionmaker):
        source = source.kw.get("bind")
    bind = getattr(source, "bind", source)
    return bind is not None and bind.dialect.name == "postgresql"


def locked_for_update(query: S) -> S:
    """``query`` locking the rows it reads until commit: ``FOR UPDATE`` on PostgreSQL,
    nothing on SQLite (see write_lock)."""
    return query.with_for_update()


def skip_locked(query: S, *of: Any) -> S:
    """``query`` claiming its rows and passing over those another transaction holds, so
    concurrent workers take disjoint batches: ``FOR UPDATE [OF of] SKIP LOCKED`` on
    PostgreSQL. Nothing on SQLite, where the UPDATE that claims them holds the write lock."""
    return query.with_for_update(of=of or None, skip_locked=True)


async def write_lock(session: AsyncSession, column: Any, *where: Any) -> None:
    """On SQLite, take the database write lock now, so that what this transaction reads
    next stays as read until commit: a no-op UPDATE setting ``column`` to itself on the
    rows ``where`` picks. Nothing on PostgreSQL, where locked_for_update locks the rows."""
    if is_postgresql(session):
        return
    await session.execute(
        update(column.class_)
        .where(*where)
        .values({column: column})
        .execution_options(synchronize_session=False)
    )
