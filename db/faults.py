"""Tell a write that failed because of its data from one that failed because of the database.

A data error (a value the database refuses, a constraint, a value past a column's range) is
the fault of the rows written: the same rows fail again, other rows do not. An availability
error (a lost connection, a timeout, a server restart, a locked SQLite file) says nothing
about the rows: the same write may succeed later. Ingest splits a batch on the first kind
and journals or retries on the second, so one bad row never stops other tenants' traffic.
"""

from __future__ import annotations

import sqlite3

# SQLSTATE classes caused by the values written: data exception, integrity constraint
# violation, program limit exceeded (e.g. an index row too large).
_DATA_SQLSTATE_CLASSES = ("22", "23", "54")
# Raised in Python while binding or converting parameters (asyncpg's DataError is a
# ValueError; sqlite3 raises UnicodeEncodeError for a lone surrogate).
_DATA_PYTHON_ERRORS = (ValueError, OverflowError, TypeError, UnicodeError)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        orig = getattr(current, "orig", None)  # SQLAlchemy's wrapper of the driver error
        current = (
            orig if isinstance(orig, BaseException) else (current.__cause__ or current.__context__)
        )
    return seen


# Deadlock detected, serialization failure: two transactions crossed; the loser is rolled
# back and the same write, tried again, succeeds.
_CONFLICT_SQLSTATES = ("40P01", "40001")


def is_transaction_conflict(exc: BaseException) -> bool:
    """True when ``exc`` is a deadlock or serialization failure: retry the transaction."""
    for link in _chain(exc):
        sqlstate = getattr(link, "sqlstate", None) or getattr(link, "pgcode", None)
        if sqlstate in _CONFLICT_SQLSTATES:
            return True
    return False


def is_data_error(exc: BaseException) -> bool:
    """True when ``exc`` was caused by the values written, not by the database's state."""
    for link in _chain(exc):
        if isinstance(link, OSError | TimeoutError | ConnectionError):
            return False
        sqlstate = getattr(link, "sqlstate", None) or getattr(link, "pgcode", None)
        if isinstance(sqlstate, str) and len(sqlstate) == 5:
            return sqlstate[:2] in _DATA_SQLSTATE_CLASSES
        if isinstance(link, sqlite3.IntegrityError | sqlite3.DataError):
            return True
        if isinstance(link, sqlite3.Error):
            return False  # e.g. "database is locked": the file, not the rows
        if isinstance(link, _DATA_PYTHON_ERRORS):
            return True
    return False
