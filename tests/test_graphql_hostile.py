"""Hostile GraphQL requests get a 4xx (or a GraphQL error) with a code, never an internal error.

Bodies are written by hand where ``json.dumps`` cannot write them (escaped lone surrogates,
nesting past its recursion limit).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import httpx
import pytest
import strawberry
from graphql import get_introspection_query, parse

from app.settings import Settings
from schema.engine.introspection import (
    IntrospectionLimiter,
    IntrospectionResults,
    introspection_problem,
)
from tests.conftest import gql
from tests.inprocess import serving

JSON_HEADERS = {"content-type": "application/json"}


@pytest.fixture(autouse=True)
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Any:
    """No request of this module may log a traceback at ERROR (an unexpected error)."""
    caplog.set_level(logging.ERROR)
    yield
    assert [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info] == []


async def post_raw(client: httpx.AsyncClient, body: str, **headers: str) -> httpx.Response:
    return await client.post("/graphql", content=body.encode(), headers=JSON_HEADERS | headers)


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body["errors"]]


async def test_a_lone_surrogate_in_the_query_text_is_a_400_with_a_code(client, tenant):
    for escaped in (r"\ud800", r"\udfff"):
        query = r"{ campaign(handle: \"" + tenant.handle + r"\", campaignId: \"x" + escaped
        response = await post_raw(
            client, '{"query": "' + query + r'\") { name } }"}', **tenant.auth()
        )
        assert response.status_code == 400, response.text
        assert codes(response.json()) == ["invalid_request"]
        assert "surrogate" in response.json()["errors"][0]["message"]


async def test_variables_or_extensions_nested_too_deep_are_refused_before_execution(client):
    deep = '{"a":' * 1000 + "1" + "}" * 1000
    query = '"query($v: JSON) { __typename }"'
    for field in ("variables", "extensions"):
        response = await post_raw(client, f'{{"query": {query}, "{field}": {{"v": {deep}}}}}')
        assert response.status_code == 400, response.text
        assert codes(response.json()) == ["invalid_request"]
        assert "nested deeper than 32 levels" in response.json()["errors"][0]["message"]
    # Past what any JSON decoder nests: malformed JSON, still a 400.
    deeper = "[" * 5000 + "]" * 5000
    response = await post_raw(client, f'{{"query": {query}, "variables": {{"v": {deeper}}}}}')
    assert response.status_code == 400
    # The same through GET's variables parameter.
    response = await client.get("/graphql", params={"query": "{ __typename }", "variables": deep})
    assert response.status_code == 400
    assert codes(response.json()) == ["invalid_request"]


async def test_nul_in_any_string_argument_never_reaches_a_resolver(client, tenant):
    auth = tenant.auth("ADMIN")
    # A GraphQL escape in the document: the parsed literal holds a NUL.
    literal = r'{ personalizationRule(handle: "%s", ruleId: "a\u0000") { ruleId } }'
    body = await gql(client, literal % tenant.handle, auth)
    assert body["data"] is None
    assert codes(body) == ["invalid_request"]
    assert "NUL" in body["errors"][0]["message"]
    # In an input object literal and in a variable's default value too.
    for query in (
        'mutation { createPersonalizationRule(handle: "%s", input: {name: "a\\u0000"}) '
        "{ ruleId } }",
        'query($r: String! = "\\u0000") { personalizationRule(handle: "%s", ruleId: $r) '
        "{ ruleId } }",
    ):
        body = await gql(client, query.replace("%s", tenant.handle), auth)
        assert "invalid_request" in codes(body), body
    # In a variable: refused before anything runs.
    query = "query($r: String!) { personalizationRule(handle: $h, ruleId: $r) { ruleId } }"
    query = query.replace("query($r", "query($h: String!, $r")
    for value in ("a\x00", "\x00"):
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": {"h": tenant.handle, "r": value}},
            headers=auth,
        )
        assert response.status_code == 400
        assert codes(response.json()) == ["invalid_request"]
    # A raw NUL in the query text.
    response = await client.post("/graphql", json={"query": "{ __typename }\x00"}, headers=auth)
    assert response.status_code == 400
    assert codes(response.json()) == ["invalid_request"]


async def test_a_subscription_over_http_is_refused_with_a_code(client, tenant):
    subscription = (
        f'subscription {{ campaignFunnel(handle: "{tenant.handle}", campaignId: "x") '
        "{ campaignId } }"
    )
    for send in (
        client.post("/graphql", json={"query": subscription}, headers=tenant.auth()),
        client.get("/graphql", params={"query": subscription}, headers=tenant.auth()),
    ):
        response = await send
        assert response.status_code == 400, response.text
        assert codes(response.json()) == ["invalid_request"]
        assert "websocket" in response.json()["errors"][0]["message"]


def _full_introspection_selection() -> tuple[str, str]:
    """graphql-core's full introspection query split into its __schema selection and its
    fragments."""
    query = get_introspection_query(descriptions=True)
    head, fragments = query[: query.index("fragment")], query[query.index("fragment") :]
    selection = head[head.index("__schema") + len("__schema") :].strip()
    return selection[: selection.rindex("}")].strip(), fragments


async def test_many_aliased_full_introspections_are_refused_quickly(client):
    selection, fragments = _full_introspection_selection()
    aliases = " ".join(f"a{i}: __schema {selection}" for i in range(30))
    query = f"query {{ {aliases} }}\n{fragments}"
    started = time.perf_counter()
    response = await client.post("/graphql", json={"query": query})
    elapsed = time.perf_counter() - started
    body = response.json()
    assert body["data"] is None
    assert codes(body) == ["QUERY_TOO_COMPLEX"]
    assert len(response.content) < 1000
    assert elapsed < 1.0  # refused before execution (it took ~1.5 s to answer 3 MB)


def test_introspection_depth_counts_an_of_type_chain_once() -> None:
    # __schema 1, types 2, fields 3, args 4, type 5, and nine ofType levels count as 6
    assert introspection_problem(parse(get_introspection_query()), None, 6) is None
    assert "depth of 5" in introspection_problem(parse(get_introspection_query()), None, 5)
    deeper = (
        "{ __schema { types { fields { args { type { fields { args { type { name } } } } } } } } }"
    )
    assert "depth of 7" in introspection_problem(parse(deeper), None, 7)


async def test_the_configured_depth_limit_applies_to_introspection(settings: Settings) -> None:
    async with serving(settings, graphql_max_depth=5) as c:
        body = await gql(c, get_introspection_query())
    assert body["data"] is None
    assert codes(body) == ["QUERY_TOO_COMPLEX"]


async def test_standard_introspection_queries_still_answer(client):
    graphiql_like = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )
    for query in (get_introspection_query(), graphiql_like):
        for _ in range(2):  # the second one comes from the introspection cache
            response = await client.post("/graphql", json={"query": query})
            assert response.status_code == 200
            body = response.json()
            assert "errors" not in body, body.get("errors")
            names = {t["name"] for t in body["data"]["__schema"]["types"]}
            assert {"Query", "Mutation", "Campaign"} <= names
            assert body["extensions"]["cost"]["requested"] == 2000
    # A BI tool asking for one type at a time.
    body = await gql(client, '{ __type(name: "Campaign") { name fields { name } } }')
    assert body["data"]["__type"]["name"] == "Campaign"


async def test_introspection_only_results_are_served_from_the_per_schema_cache() -> None:
    @strawberry.type
    class Query:
        hello: str = "hi"

    results = IntrospectionResults()
    schema = strawberry.Schema(Query, extensions=[lambda: IntrospectionLimiter(12, results)])
    first = await schema.execute(get_introspection_query())
    second = await schema.execute(get_introspection_query())
    assert first.errors is None and second.data == first.data
    assert results.hits == 1
    # Operations selecting data are never cached.
    await schema.execute("{ hello __typename }")
    await schema.execute("{ hello __typename }")
    assert results.hits == 1


async def test_operation_name_must_be_a_storable_string(client):
    for name in (5, {"a": 1}, "Op\x00"):
        response = await client.post(
            "/graphql",
            content=json.dumps({"query": "query Op { __typename }"})[:-1]
            + f', "operationName": {json.dumps(name)}}}',
            headers=JSON_HEADERS,
        )
        assert response.status_code == 400
        assert codes(response.json()) == ["invalid_request"]


@pytest.mark.parametrize(
    ("content", "params"),
    [
        (b"", None),  # an empty body
        (b"not json", None),
        (b'{"variables": {}}', None),  # no query
        (b'"just a string"', None),
        (None, {"variables": "[[["}),  # a GET whose variables are not JSON
    ],
)
async def test_a_request_strawberry_cannot_read_gets_the_graphql_error_shape(
    client, content, params
):
    if content is None:
        r = await client.get("/graphql", params={"query": "{ __typename }", **params})
    else:
        r = await client.post(
            "/graphql", content=content, headers={"content-type": "application/json"}
        )
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/json")
    (error,) = r.json()["errors"]
    assert error["extensions"]["code"] == "invalid_request" and error["message"]


async def test_client_mistakes_are_not_logged_as_errors(client, tenant, caplog):
    """A refused input, a validation error and a domain error are the sender's problem: no
    ERROR record (Strawberry logs every error of a result at ERROR by default)."""
    caplog.set_level(logging.INFO)
    queries = [
        f'{{ personalizationRule(handle: "{tenant.handle}", ruleId: "a\\u0000") {{ ruleId }} }}',
        "{ noSuchField }",
        f'{{ campaign(handle: "{tenant.handle}", campaignId: "nope-nope") {{ campaignId }} }}',
    ]
    for query in queries:
        r = await client.post("/graphql", json={"query": query}, headers=tenant.auth("ADMIN"))
        assert r.status_code == 200 and r.json()["errors"], r.text
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage()[:200] for r in errors]
    assert any("graphql request refused" in r.getMessage() for r in caplog.records)
