"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


def _utc(value: datetime) -> datetime:
    # Naive means UTC: everything stored is UTC, and SQLite hands values back naive.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """``TIMESTAMP WITH TIME ZONE`` (``DATETIME`` on SQLite) read back as aware UTC datetimes.

    Values are written as UTC: naive UTC text on SQLite, which has no time zone type, so
    an aware value of any offset is stored as the same instant. The DDL is ``impl``'s.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = _utc(value)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else _utc(value)
