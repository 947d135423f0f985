"""Counts and times GraphQL operations by name and type (metrics in app/runtime/telemetry.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from app.runtime import telemetry


class MetricsExtension(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        elapsed = time.perf_counter() - started
        ctx = self.execution_context
        name = telemetry.GRAPHQL_OPERATION_NAME((ctx.operation_name or "anonymous")[:64])
        try:
            kind = ctx.operation_type.value
        except Exception:  # noqa: BLE001 - no parsable document, or no such operation
            kind = "unknown"
        failed = bool(ctx.pre_execution_errors) or ctx.result is None or bool(ctx.result.errors)
        telemetry.GRAPHQL_OPERATIONS.labels(name, kind, "error" if failed else "ok").inc()
        telemetry.GRAPHQL_LATENCY.labels(name, kind).observe(elapsed)
