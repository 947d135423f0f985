"""Prometheus metrics, framework-free so that resolvers and workers can record them too.

All metrics live on one ``REGISTRY`` made once per process (not prometheus_client's global
one): apps built again and again in tests share these objects instead of registering twice.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

if TYPE_CHECKING:  # app.runtime.ingest imports this module
    from app.runtime.ingest import IngestWriter

REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

HTTP_REQUESTS = Counter(
    "funnelgate_http_requests",
    "HTTP requests by route template, method and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "funnelgate_http_request_duration_seconds",
    "Time to the end of the response body, by route template and method.",
    ["method", "route"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
GRAPHQL_OPERATIONS = Counter(
    "funnelgate_graphql_operations",
    "GraphQL operations by name, type and outcome (ok, error).",
    ["operation", "type", "outcome"],
    registry=REGISTRY,
)
GRAPHQL_LATENCY = Histogram(
    "funnelgate_graphql_operation_duration_seconds",
    "GraphQL operation execution time by name and type.",
    ["operation", "type"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
SQL_STATEMENTS = Counter(
    "funnelgate_sql_statements",
    "SQL statements sent to the database, by verb.",
    ["verb"],
    registry=REGISTRY,
)
INGEST_BATCH_SIZE = Histogram(
    "funnelgate_ingest_click_batch_size",
    "Clicks per group-commit batch.",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000),
    registry=REGISTRY,
)
INGEST_QUEUE_DEPTH = Gauge(
    "funnelgate_ingest_queue_depth",
    "Clicks waiting for a group commit.",
    registry=REGISTRY,
)
INGEST_JOURNAL_DEPTH = Gauge(
    "funnelgate_ingest_journal_depth",
    "Clicks in the local journal, waiting for the database to take them.",
    registry=REGISTRY,
)
INGEST_DEAD_LETTERS = Counter(
    "funnelgate_ingest_dead_letters",
    "Acknowledged clicks the database refused for their data, set aside in the dead_letters "
    "table (by kind: click, journal_line).",
    ["kind"],
    registry=REGISTRY,
)
INGEST_REFUSED = Counter(
    "funnelgate_ingest_refused_events",
    "Events a group commit refused for their data after splitting its batch (by kind: "
    "click, conversion); the rest of the batch committed.",
    ["kind"],
    registry=REGISTRY,
)
WEBHOOK_DELIVERIES = Counter(
    "funnelgate_webhook_deliveries",
    "Webhook delivery attempts by outcome: delivered, retry (failed, will retry), "
    "gave_up (failed, no attempts left), refused (URL not allowed).",
    ["outcome"],
    registry=REGISTRY,
)

_SQL_VERBS = frozenset({"select", "insert", "update", "delete", "with", "begin", "commit"})


def sql_verb(statement: str) -> str:
    """The statement's first keyword when it is a common one, else ``other``."""
    head = statement.lstrip()[:8].split(None, 1)
    verb = head[0].lower() if head else ""
    return verb if verb in _SQL_VERBS else "other"


class BoundedLabel:
    """Keeps a client-chosen label (a GraphQL operation name) from growing without bound:
    after ``limit`` distinct values, new ones are reported as ``other``."""

    def __init__(self, limit: int = 200) -> None:
        self._limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) >= self._limit:
                return "other"
            self._seen.add(value)
        return value


GRAPHQL_OPERATION_NAME = BoundedLabel()


def watch_ingest(writer: IngestWriter) -> None:
    """Point the queue and journal gauges at ``writer`` (the latest app's), weakly held."""
    ref = weakref.ref(writer)

    def reader(attribute: str) -> Callable[[], float]:
        def read() -> float:
            target = ref()
            return float(getattr(target, attribute, 0) or 0) if target is not None else 0.0

        return read

    INGEST_QUEUE_DEPTH.set_function(reader("depth"))
    INGEST_JOURNAL_DEPTH.set_function(reader("journal_depth"))
