"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.openapi import operation
from app.rest.shapes import LivenessProbe, ReadinessProbe
from db import dead_letters


@operation(summary="Liveness probe", tags=["probes"], responses={200: LivenessProbe})
async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


@operation(
    summary="Readiness probe: the database answers",
    tags=["probes"],
    responses={200: ReadinessProbe, 503: ReadinessProbe},
)
async def readyz(request: Request) -> Response:
    """503 when the database does not answer; reports a degraded ingest and its journal."""
    services = request.app.state.services
    ingest = services.ingest
    ingest_status: dict[str, object] = {
        "degraded": bool(getattr(ingest, "degraded", False)),
        "journalDepth": getattr(ingest, "journal_depth", 0),
        "queueDepth": getattr(ingest, "depth", 0),
    }
    body: dict[str, object] = {"ingest": ingest_status}
    try:
        async with asyncio.timeout(2):
            async with services.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
                # Refused for their data, not for the database: counted, never "degraded".
                ingest_status["deadLetters"] = await dead_letters.count(conn)
    except Exception as exc:  # noqa: BLE001 - any database failure means not ready
        body |= {"status": "unavailable", "database": str(exc)[:200] or type(exc).__name__}
        return JSONResponse(body, status_code=503)
    body |= {"status": "degraded" if ingest_status["degraded"] else "ok", "database": "ok"}
    return JSONResponse(body)


ROUTES = [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]
