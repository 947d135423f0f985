"""What the databases can store, checked once at the edge.

Every value that reaches SQLite or PostgreSQL passes through these checks before anything
is queued or written: a value the database would refuse (a NUL, a lone surrogate, a date
outside the year range, an integer past its column) is the sender's error, a 400 with a
code, never a failed batch that other tenants' events share.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from resolvers.errors import InvalidInput

# PostgreSQL ``text`` cannot hold NUL; UTF-8 (both databases) cannot hold a lone surrogate.
_UNSTORABLE_RE = re.compile("[\x00\ud800-\udfff]")

INT4_MAX = 2**31 - 1  # PostgreSQL ``integer``
INT8_MAX = 2**63 - 1  # PostgreSQL ``bigint``

# Earliest and latest instants an event may carry. Both databases and Python's datetime end
# at year 9999; a margin on each side keeps every timezone and day arithmetic in range.
MIN_TIMESTAMP = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIMESTAMP = datetime(9000, 1, 1, tzinfo=UTC)

# JSON nesting accepted in documents the gateway stores or parses (metadata, page schemas,
# GraphQL variables, MCP arguments): deep enough for any real document, far from the
# interpreter's recursion limit.
MAX_JSON_DEPTH = 32


def unstorable_reason(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None when it can."""
    match = _UNSTORABLE_RE.search(text)
    if match is None:
        return None
    return (
        "must not contain NUL characters"
        if match.group() == "\x00"
        else ("must not contain unpaired surrogate characters")
    )


def check_text(value: str, field: str) -> str:
    """``value`` unchanged, or InvalidInput naming ``field``."""
    reason = unstorable_reason(value)
    if reason is not None:
        raise InvalidInput(f"{field}: {reason}")
    return value


def check_int(value: int, field: str, *, low: int = -INT8_MAX - 1, high: int = INT8_MAX) -> int:
    if not low <= value <= high:
        raise InvalidInput(f"{field}: must be between {low} and {high}")
    return value


def check_timestamp(value: datetime, field: str) -> datetime:
    """``value`` as an aware UTC datetime within the storable range (naive means UTC)."""
    try:
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        utc = aware.astimezone(UTC)
    except (OverflowError, ValueError) as exc:  # e.g. 0001-01-01T00:00:00+14:00
        raise InvalidInput(f"{field}: out of range") from exc
    if not MIN_TIMESTAMP <= utc < MAX_TIMESTAMP:
        raise InvalidInput(
            f"{field}: must lie between {MIN_TIMESTAMP.date()} and {MAX_TIMESTAMP.date()}"
        )
    return utc


def json_problem(
    value: Any, *, max_depth: int = MAX_JSON_DEPTH, check_text: bool = True
) -> str | None:
    """Why a decoded JSON document cannot be stored (too deep, unstorable text), or None.

    Iterative, so that a document nested thousands deep is measured without recursion.
    ``check_text=False`` measures the depth only.
    """
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, str):
            if not check_text:
                continue
            reason = unstorable_reason(node)
            if reason is not None:
                return f"{path or 'value'}: {reason}"
            continue
        if isinstance(node, dict | list):
            if depth > max_depth:
                return f"nested deeper than {max_depth} levels"
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in items:
                child_path = f"{path}.{key}" if path else str(key)
                if check_text and isinstance(key, str):
                    reason = unstorable_reason(key)
                    if reason is not None:
                        return f"{child_path}: key {reason}"
                stack.append((child, depth + 1, child_path))
    return None


def check_json(value: Any, field: str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    problem = json_problem(value, max_depth=max_depth)
    if problem is not None:
        raise InvalidInput(f"{field}.{problem}" if field else problem)
    return value
