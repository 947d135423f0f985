"""Sessions that tell, once per commit, which handles their writes changed.

A session of a factory made with ``on_change`` records the handle of every row its flushes
add, change or delete, and of every INSERT, UPDATE or DELETE it executes (read from the
parameters, the WHERE clause or the RETURNING rows). After the commit it calls
``on_change(handle)`` once per handle, and ``commit()`` (or ``close()``) returns once what
those calls started (a shared cache's bump) has finished. A write whose handles cannot be
told reports ``ANY_HANDLE``: a change of every handle, never a missed one. Writes through
``session.connection()`` are not seen; go through ``session.execute``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable
from itertools import chain
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import (
    BinaryExpression,
    BindParameter,
    BooleanClauseList,
    TextClause,
)
from sqlmodel import col

from db.tables import Handle

ANY_HANDLE = "*"  # no handle is spelt so (resolvers.domain.HANDLE_RE)
ChangeSink = Callable[[str], Awaitable[Any] | None]

SINK = "funnelgate.on_change"  # Session.info: the factory's ChangeSink
_CHANGED = "funnelgate.changed"  # Session.info: handles written in this transaction
_SETTLING = "funnelgate.settling"  # Session.info: what the sink started at the last commit
_MULTI_VALUES = re.compile(r"^handle(?:_m\d+)?$")  # compiled names of .values() handles
_READS = re.compile(r"^\s*(?:select|show|explain)\b", re.IGNORECASE)


class TrackedSession(Session):
    """The synchronous session of a ChangeTrackingSession; the listeners below watch it."""


class ChangeTrackingSession(AsyncSession):
    sync_session_class = TrackedSession

    async def commit(self) -> None:
        await super().commit()
        await self._settled()

    async def close(self) -> None:
        # ``async with session.begin()`` commits without commit(); its close comes next.
        await super().close()
        await self._settled()

    async def _settled(self) -> None:
        pending = self.sync_session.info.pop(_SETTLING, None)
        if pending:
            await asyncio.gather(*pending)


def _record(session: Session, handles: Iterable[str]) -> None:
    session.info.setdefault(_CHANGED, set()).update(handles)


@event.listens_for(TrackedSession, "after_flush")
def _flushed(session: Session, _context: Any) -> None:
    if SINK in session.info:
        for row in chain(session.new, session.dirty, session.deleted):
            _record(session, _row_handles(session, row))


def _row_handles(session: Session, row: Any) -> Iterable[str]:
    handle = getattr(row, "handle", None)
    if isinstance(handle, str):
        return (handle,)
    table = getattr(row, "__tablename__", None)
    if table == "handles":
        return (row.name,)
    if table == "accounts":  # settings of the account (funnel stages): each of its handles
        if row in session.new:
            return ()  # nothing read before can depend on it
        names = session.connection().execute(
            select(col(Handle.name)).where(col(Handle.account_id) == row.id)
        )
        return list(names.scalars()) or (ANY_HANDLE,)
    return (ANY_HANDLE,)


@event.listens_for(TrackedSession, "do_orm_execute")
def _executing(state: ORMExecuteState) -> Any:
    if state.is_select or SINK not in state.session.info:
        return None
    statement = state.statement
    if isinstance(statement, TextClause):
        if not _READS.match(statement.text):
            _record(state.session, _parameter_handles(state.parameters) or [ANY_HANDLE])
        return None
    if not (state.is_insert or state.is_update or state.is_delete):
        return None
    handles = _parameter_handles(state.parameters)
    if handles is None and state.is_insert:
        handles = _values_handles(statement, state.session)
    if handles is None and not state.is_insert:
        handles = _where_handles(statement)
    if handles is None and _returns_handle(statement):
        # Only the rows tell (an UPDATE of ids a subquery picks): read them, hand on a copy.
        frozen = state.invoke_statement().freeze()
        column = list(frozen.metadata.keys).index("handle")
        _record(state.session, {row[column] for row in frozen.data})
        return frozen()
    _record(state.session, handles or [ANY_HANDLE])
    return None


def _parameter_handles(parameters: Any) -> set[str] | None:
    """From ``handle`` parameters: one per row, or an array of them (db.bulk's unnest)."""
    rows = parameters if isinstance(parameters, list | tuple) else [parameters or {}]
    handles: set[Any] = set()
    for row in rows:
        value = row.get("handle") if isinstance(row, dict) else None
        handles.update(value if isinstance(value, list | tuple) else [value])
    return handles if handles and all(isinstance(h, str) for h in handles) else None


def _values_handles(statement: Any, session: Session) -> set[str] | None:
    try:
        params = statement.compile(dialect=session.get_bind().dialect).params
    except Exception:  # noqa: BLE001 - a statement this cannot read: any handle
        return None
    handles = {v for k, v in params.items() if _MULTI_VALUES.match(k)}
    return handles if handles and all(isinstance(h, str) for h in handles) else None


def _where_handles(statement: Any) -> set[str] | None:
    """The handles a top-level ``handle = …`` or ``handle IN (…)`` condition allows."""
    where = statement.whereclause
    if where is None:
        return None
    table = getattr(statement.table, "name", None)
    conditions = (
        where.clauses
        if isinstance(where, BooleanClauseList) and where.operator is operators.and_
        else [where]
    )
    for condition in conditions:
        if not isinstance(condition, BinaryExpression):
            continue
        column, value = condition.left, condition.right
        if (
            getattr(column, "key", None) != "handle"
            or getattr(getattr(column, "table", None), "name", None) != table
            or not isinstance(value, BindParameter)
        ):
            continue
        if condition.operator is operators.eq and isinstance(value.value, str):
            return {value.value}
        if condition.operator is operators.in_op and value.expanding:
            handles = set(value.value or ())
            if all(isinstance(h, str) for h in handles):
                return handles
    return None


def _returns_handle(statement: Any) -> bool:
    return any(c["name"] == "handle" for c in statement.returning_column_descriptions)


@event.listens_for(TrackedSession, "after_commit")
def _committed(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint: the transaction goes on
        return
    handles = session.info.pop(_CHANGED, None)
    if not handles:
        return
    sink: ChangeSink = session.info[SINK]
    pending = [p for p in map(sink, sorted(handles)) if p is not None]
    if pending:
        session.info.setdefault(_SETTLING, []).extend(pending)


@event.listens_for(TrackedSession, "after_rollback")
def _rolled_back(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_CHANGED, None)
