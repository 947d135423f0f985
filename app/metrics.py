"""``GET /metrics`` and what feeds it: SQL and ingest instrumentation (request timing is
app/middleware/metrics.py; the metric objects are in app/runtime/telemetry.py).

Each worker process counts its own requests: with ``--workers N`` a scrape sees one worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import event
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.openapi import Reply, operation
from app.runtime import telemetry

if TYPE_CHECKING:
    from app.runtime.services import Services


def instrument(services: Services) -> None:
    """Count the SQL statements of ``services.engine``; read the ingest queue depth."""

    def count_statement(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        telemetry.SQL_STATEMENTS.labels(telemetry.sql_verb(statement)).inc()

    event.listen(services.engine.sync_engine, "before_cursor_execute", count_statement)
    telemetry.watch_ingest(services.ingest)


@operation(
    summary="Prometheus metrics",
    tags=["meta"],
    responses={200: Reply("Prometheus text format.", {"type": "string"}, media_type="text/plain")},
)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(telemetry.REGISTRY), media_type=CONTENT_TYPE_LATEST)


ROUTES = [Route("/metrics", metrics, methods=["GET"])]
