"""Static query cost: computed before execution, enforced, reported in extensions.cost."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from graphql import get_introspection_query, parse

from app.settings import Settings
from schema import build_schema
from schema.engine.cost import operation_cost
from tests.inprocess import serving


@pytest.fixture(scope="module")
def graphql_schema() -> Any:
    return build_schema(Settings())._schema


def cost(schema: Any, query: str, variables: dict[str, Any] | None = None) -> int | None:
    return operation_cost(schema, parse(query), None, variables)


# Each expected figure is worked out by hand in the comment beside it: a field costs 1, and
# what a list selects counts once per item (its first/limit, else 10).
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # campaign 1 + campaignId 1 + name 1
        ('{ campaign(handle: "a", campaignId: "b") { campaignId name } }', 3),
        # campaigns 1 + edges (1 + 5 x node (1 + campaignId 1)) + pageInfo (1 + 1)
        (
            '{ campaigns(handle: "a", first: 5) { edges { node { campaignId } } '
            "pageInfo { hasNextPage } } }",
            1 + (1 + 5 * 2) + 2,
        ),
        # no first: the default page of 10
        ('{ campaigns(handle: "a") { edges { node { campaignId } } } }', 1 + (1 + 10 * 2)),
        # a plain list without a size argument: 10 items
        ('{ personalizationRules(handle: "a") { ruleId priority } }', 1 + 10 * 2),
        # analytics 1 + funnels (1 + 10 x stages (1 + 10 x name 1))
        ('{ analytics(handle: "a") { funnels { stages { name } } } }', 1 + (1 + 10 * (1 + 10))),
        # limit on a report: rows take it
        (
            '{ funnelReport(accountId: "a", reportType: "Source", dateRange: "today", limit: 3)'
            " { total rows { value } } }",
            1 + 1 + (1 + 3 * 1),
        ),
        # __schema costs SCHEMA_COST whatever it selects; __type counts like other fields
        ("{ __schema { types { name fields { name } } } }", 2000),
        # __type 1 + name 1 + fields (1 + 10 x name 1)
        ('{ __type(name: "Query") { name fields { name } } }', 1 + 1 + (1 + 10 * 1)),
        ("{ __typename }", 0),
    ],
)
def test_cost_of_an_operation(graphql_schema: Any, query: str, expected: int) -> None:
    assert cost(graphql_schema, query) == expected


def test_page_size_from_variables_and_their_defaults(graphql_schema: Any) -> None:
    query = 'query($n: Int = 7) { campaigns(handle: "a", first: $n) { edges { node { name } } } }'
    assert cost(graphql_schema, query) == 1 + (1 + 7 * 2)
    assert cost(graphql_schema, query, {"n": 3}) == 1 + (1 + 3 * 2)


def test_fragments_cost_what_they_select_each_time_they_are_spread(graphql_schema: Any) -> None:
    query = """
    query {
      a: campaign(handle: "h", campaignId: "x") { ...C }
      b: campaign(handle: "h", campaignId: "y") { ...C }
    }
    fragment C on Campaign { campaignId funnel { stages { name count } } }
    """
    # each campaign: 1 + campaignId 1 + funnel (1 + stages (1 + 10 x 2))
    assert cost(graphql_schema, query) == 2 * (1 + 1 + (1 + (1 + 10 * 2)))


def test_the_named_operation_is_the_one_priced(graphql_schema: Any) -> None:
    document = parse(
        'query Small { campaign(handle: "a", campaignId: "b") { name } } '
        'query Big { campaigns(handle: "a", first: 100) { edges { node { name } } } }'
    )
    assert operation_cost(graphql_schema, document, "Small") == 2
    assert operation_cost(graphql_schema, document, "Big") == 1 + (1 + 100 * 2)
    assert operation_cost(graphql_schema, document, "Missing") is None


def test_graphiql_introspection_fits_the_default_limit(graphql_schema: Any) -> None:
    assert cost(graphql_schema, get_introspection_query()) == 2000 <= Settings().graphql_max_cost


async def test_every_response_reports_the_cost_and_the_limit(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": '{ campaign(handle: "nobody", campaignId: "x") { name } }'}
    )
    assert response.status_code == 200
    assert response.json()["extensions"]["cost"] == {"requested": 2, "limit": 10000}


async def test_an_operation_over_the_limit_is_refused_before_it_runs(settings: Settings) -> None:
    query = '{ campaigns(handle: "nobody", first: 50) { edges { node { campaignId name } } } }'
    async with serving(settings, graphql_max_cost=100) as c:
        response = await c.post("/graphql", json={"query": query})
    body = response.json()
    assert body["data"] is None
    (error,) = body["errors"]
    requested = 1 + (1 + 50 * 3)
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX", "cost": requested, "limit": 100}
    assert "exceeds the limit of 100" in error["message"]
    assert body["extensions"]["cost"] == {"requested": requested, "limit": 100}


async def test_mutations_are_priced_too(settings: Settings) -> None:
    mutation = 'mutation { setFunnelStages(handle: "x", stagesInput: []) { name eventTypes } }'
    async with serving(settings, graphql_max_cost=5) as c:
        response = await c.post("/graphql", json={"query": mutation})
    body = response.json()
    # setFunnelStages 1 + 10 x (name 1 + eventTypes 1)
    assert body["extensions"]["cost"] == {"requested": 21, "limit": 5}
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


async def test_invalid_queries_get_validation_errors_not_a_price(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ noSuchField }"})
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "graphql_validation_failed"
    assert "cost" not in (body.get("extensions") or {})
