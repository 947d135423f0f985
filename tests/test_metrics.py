"""/metrics (Prometheus), the request id header and the JSON access log."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.logs import json_formatter
from app.main import create_app
from app.runtime import telemetry
from app.settings import Settings
from tests.conftest import Tenant, gql
from tests.factories import make_campaign_with_link


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, frozenset[Any]], float]:
    """``{(sample name, labels): value}`` from GET /metrics."""
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: dict[tuple[str, frozenset[Any]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_requests_are_counted_by_route_template_not_raw_path(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    route = "/v2/handles/{handle}/campaigns"
    name = "funnelgate_http_requests_total"
    before = await scrape(client)
    for _ in range(3):
        r = await client.get(f"/v2/handles/{tenant.handle}/campaigns", headers=tenant.auth())
        assert r.status_code == 200
    await client.get(f"/v2/handles/{tenant.handle}/campaigns")  # 401
    await client.get("/no/such/route/here")
    after = await scrape(client)

    assert value(after, name, method="GET", route=route, status="200") - value(
        before, name, method="GET", route=route, status="200"
    ) == pytest.approx(3)
    assert value(after, name, method="GET", route=route, status="401") > value(
        before, name, method="GET", route=route, status="401"
    )
    assert value(after, name, method="GET", route="<unmatched>", status="404") > 0
    assert (
        value(after, "funnelgate_http_request_duration_seconds_count", method="GET", route=route)
        >= 4
    )
    assert not any(tenant.handle in str(labels) for _, labels in after)


async def test_graphql_operations_are_counted_by_name(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    ok = ("funnelgate_graphql_operations_total", "CampaignsForMetrics", "query", "ok")
    before = await scrape(client)
    body = await gql(
        client,
        "query CampaignsForMetrics($h: String!) { campaigns(handle: $h) { totalCount } }",
        tenant.auth(),
        h=tenant.handle,
    )
    assert "errors" not in body, body
    await gql(client, "query BrokenForMetrics { noSuchField }", tenant.auth())
    after = await scrape(client)

    labels = dict(zip(("operation", "type", "outcome"), ok[1:], strict=True))
    assert value(after, ok[0], **labels) - value(before, ok[0], **labels) == pytest.approx(1)
    assert value(after, ok[0], operation="BrokenForMetrics", type="query", outcome="error") >= 1
    latency = "funnelgate_graphql_operation_duration_seconds_count"
    assert value(after, latency, operation="CampaignsForMetrics", type="query") >= 1


async def test_sql_statements_are_counted(client: httpx.AsyncClient, tenant: Tenant) -> None:
    before = await scrape(client)
    await client.get(f"/v2/handles/{tenant.handle}/campaigns", headers=tenant.auth())
    after = await scrape(client)
    name = "funnelgate_sql_statements_total"
    assert value(after, name, verb="select") > value(before, name, verb="select")


async def test_a_recorded_click_shows_in_the_ingest_batch_metrics(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await make_campaign_with_link(
        client,
        tenant,
        "metrics-cmp",
        "go",
        destination="https://example.com/",
        goal_type="LEAD_CAPTURE",
        status="ACTIVE",
    )
    before = await scrape(client)
    r = await client.get(f"/{tenant.handle}/go")
    assert r.status_code == 302
    after = await scrape(client)

    batches = "funnelgate_ingest_click_batch_size_count"
    assert value(after, batches) - value(before, batches) == pytest.approx(1)
    assert value(after, "funnelgate_ingest_click_batch_size_sum") > value(
        before, "funnelgate_ingest_click_batch_size_sum"
    )
    assert value(after, "funnelgate_ingest_queue_depth") == 0  # the click is committed
    assert ("funnelgate_ingest_journal_depth", frozenset()) in after
    assert (
        value(
            after,
            "funnelgate_http_requests_total",
            method="GET",
            route="/{handle}/{slug}",
            status="302",
        )
        >= 1
    )


async def test_webhook_outcomes_are_exposed(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")
    assert "# TYPE funnelgate_webhook_deliveries_total counter" in response.text


def test_apps_built_again_share_one_registry_without_clashing(settings: Settings) -> None:
    first, second = create_app(settings), create_app(settings)
    assert first is not second  # no "Duplicated timeseries in CollectorRegistry"
    assert telemetry.REGISTRY is not prometheus_client.REGISTRY


async def test_a_request_id_is_generated_and_echoed(client: httpx.AsyncClient) -> None:
    first = await client.get("/healthz")
    second = await client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_a_provided_request_id_is_kept(client: httpx.AsyncClient, tenant: Tenant) -> None:
    r = await client.get("/healthz", headers={"X-Request-ID": "req-2024.01:abc_42"})
    assert r.headers["x-request-id"] == "req-2024.01:abc_42"
    # Error responses carry it too.
    r = await client.get(f"/v2/handles/{tenant.handle}/campaigns", headers={"X-Request-ID": "e1"})
    assert r.status_code == 401
    assert r.headers["x-request-id"] == "e1"


async def test_a_malformed_request_id_is_replaced(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"X-Request-ID": "x" * 500})
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])


@pytest.fixture
def access_lines() -> Iterator[io.StringIO]:
    """The access log as JSON lines, formatted the way ``funnelgate serve`` formats it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    logger = logging.getLogger("funnelgate.access")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_each_request_logs_one_json_access_line(
    client: httpx.AsyncClient, tenant: Tenant, access_lines: io.StringIO
) -> None:
    r = await client.get(
        f"/v2/handles/{tenant.handle}/campaigns",
        headers={**tenant.auth(), "X-Request-ID": "access-log-test"},
    )
    assert r.status_code == 200
    lines = [json.loads(line) for line in access_lines.getvalue().splitlines()]
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == "access-log-test"
    assert line["method"] == "GET"
    assert line["route"] == "/v2/handles/{handle}/campaigns"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["level"] == "info" and line["logger"] == "funnelgate.access"
