"""Opaque keyset cursors shared by every paginated list."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, or_

from resolvers.errors import InvalidInput

T = TypeVar("T")
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


def newest_first_after(after: str, created_column: Any, id_column: Any) -> Any:
    """The keyset condition for the page after ``after`` in (created, id) descending order."""
    created, last_id = decode_cursor(after, 2)
    try:
        created_at = datetime.fromisoformat(created)
    except ValueError as exc:
        raise InvalidInput("Invalid cursor.") from exc
    return or_(
        created_column < created_at,
        and_(created_column == created_at, id_column < last_id),
    )
