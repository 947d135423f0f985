"""Allow-list mode: only operations registered ahead of time run, whatever the transport.

The registry is a JSON file, either ``{sha256: query}`` or an Apollo persisted query manifest
(``{"format": "apollo-persisted-query-manifest", "operations": [{"id", "body"}, ...]}``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

NOT_ALLOWED = "PERSISTED_QUERY_NOT_ALLOWED"
NOT_ALLOWED_MESSAGE = (
    "This operation is not registered; only registered operations run on this server."
)


def query_hash(query: str) -> str:
    """The Apollo persisted-query id: hex sha256 of the exact query text."""
    return hashlib.sha256(query.encode()).hexdigest()


def load_allowlist(path: str | Path) -> dict[str, str]:
    """Read the registry; refuse a file whose ids are not the sha256 of their query."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if _is_manifest(data):
        entries = {op["id"]: op["body"] for op in data.get("operations", [])}
    elif isinstance(data, dict):
        entries = data
    else:
        raise ValueError(f"{path}: expected a JSON object of {{sha256: query}}")
    registry: dict[str, str] = {}
    for digest, query in entries.items():
        if not isinstance(query, str) or query_hash(query) != str(digest).lower():
            raise ValueError(f"{path}: entry {digest!r} is not the sha256 of its query")
        registry[query_hash(query)] = query
    return registry


def _is_manifest(data: object) -> bool:
    return isinstance(data, dict) and data.get("format") == "apollo-persisted-query-manifest"


def register_operations(path: str | Path, queries: list[str]) -> list[str]:
    """Add ``queries`` to the ``{sha256: query}`` registry at ``path``; return their hashes."""
    path = Path(path)
    registry: dict[str, str] = {}
    if path.exists():
        if _is_manifest(json.loads(path.read_text(encoding="utf-8"))):
            raise ValueError(f"{path}: an Apollo manifest; regenerate it with Apollo's tooling")
        registry = load_allowlist(path)
    digests = [query_hash(query) for query in queries]
    registry.update(zip(digests, queries, strict=True))
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(registry, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    partial.replace(path)
    return digests


class OperationAllowList(SchemaExtension):
    """Refuses any operation whose text is not registered, before validation says anything
    about the schema. List it after ``ValidationCache``, whose errors it replaces."""

    def __init__(self, registered: frozenset[str]) -> None:
        self.registered = registered

    def on_validate(self) -> Iterator[None]:
        query = self.execution_context.query
        if query is None or query_hash(query) not in self.registered:
            self.execution_context.pre_execution_errors = [
                GraphQLError(NOT_ALLOWED_MESSAGE, extensions={"code": NOT_ALLOWED})
            ]
        yield
