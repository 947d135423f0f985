"""Automatic persisted queries (Apollo protocol) and allow-list mode."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from typer.testing import CliRunner

from app.cli import cli
from app.main import create_app
from app.settings import Settings
from schema import build_schema
from tests.conftest import Tenant
from tests.factories import make_campaign
from tests.inprocess import serving

REDIS_URL = "redis://127.0.0.1:6379/15"
CAMPAIGNS = """query Campaigns($handle: String!) {
  campaigns(handle: $handle) { edges { node { campaignId goalType } } }
}"""
TYPENAME = "query Ping { __typename }"


def sha(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def persisted(query: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha(query)}}


async def get_by_hash(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, **headers: str
) -> httpx.Response:
    params = {"extensions": json.dumps(persisted(query))}
    if variables is not None:
        params["variables"] = json.dumps(variables)
    return await client.get("/graphql", params=params, headers=headers)


@pytest.fixture
async def campaign(client: httpx.AsyncClient, tenant: Tenant) -> str:
    await make_campaign(client, tenant, "apq-one", goal_type="LEAD_CAPTURE", expect=(200, 201))
    return "apq-one"


async def test_unknown_hash_answers_persisted_query_not_found(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"extensions": persisted("{ nothing }")})
    assert response.status_code == 200
    assert response.json() == {
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
            }
        ]
    }


async def test_a_query_sent_with_its_hash_then_runs_by_hash_alone_over_post_and_get(
    client: httpx.AsyncClient, tenant: Tenant, campaign: str
) -> None:
    variables = {"handle": tenant.handle}
    auth = tenant.auth()
    first = await client.post(
        "/graphql",
        json={"query": CAMPAIGNS, "variables": variables, "extensions": persisted(CAMPAIGNS)},
        headers=auth,
    )
    assert first.status_code == 200
    expected = first.json()["data"]
    assert expected["campaigns"]["edges"][0]["node"]["campaignId"] == campaign

    by_post = await client.post(
        "/graphql", json={"variables": variables, "extensions": persisted(CAMPAIGNS)}, headers=auth
    )
    assert by_post.status_code == 200
    assert by_post.json()["data"] == expected

    # httpx sends Accept: */*, which alone would have opened GraphiQL.
    by_get = await get_by_hash(client, CAMPAIGNS, variables, **auth)
    assert by_get.status_code == 200
    assert by_get.headers["content-type"].startswith("application/json")
    assert by_get.json()["data"] == expected


async def test_hash_that_does_not_match_the_query_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": TYPENAME, "extensions": persisted("{ somethingElse }")}
    )
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"
    # Nothing was stored under the claimed hash.
    missing = await client.post("/graphql", json={"extensions": persisted("{ somethingElse }")})
    assert missing.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


@pytest.mark.parametrize(
    "extension",
    [
        {"version": 2, "sha256Hash": "0" * 64},
        {"version": 1, "sha256Hash": "not-a-hash"},
        "a string",
    ],
)
async def test_malformed_persisted_query_extension_is_a_400(
    client: httpx.AsyncClient, extension: Any
) -> None:
    response = await client.post("/graphql", json={"extensions": {"persistedQuery": extension}})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_INVALID"


async def test_a_mutation_by_hash_over_get_is_refused(client: httpx.AsyncClient) -> None:
    mutation = 'mutation { deleteLink(handle: "nobody", slug: "x") }'
    await client.post("/graphql", json={"query": mutation, "extensions": persisted(mutation)})
    response = await get_by_hash(client, mutation)
    assert response.status_code in (400, 405)


async def test_the_local_store_forgets_the_least_recently_used(settings: Settings) -> None:
    other = "query Other { __typename }"
    async with serving(settings, graphql_apq_cache_size=1) as c:
        for query in (TYPENAME, other):
            response = await c.post(
                "/graphql", json={"query": query, "extensions": persisted(query)}
            )
            assert response.status_code == 200
        assert (await c.post("/graphql", json={"extensions": persisted(other)})).json()["data"]
        evicted = await c.post("/graphql", json={"extensions": persisted(TYPENAME)})
        assert evicted.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_persisted_queries_can_be_turned_off(settings: Settings) -> None:
    async with serving(settings, graphql_apq=False) as c:
        response = await c.post("/graphql", json={"extensions": persisted(TYPENAME)})
        assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_SUPPORTED"
        assert (await c.post("/graphql", json={"query": TYPENAME})).json()["data"]


async def test_queries_stored_by_one_worker_run_by_hash_on_another_through_redis(
    settings: Settings, redis_conn: aioredis.Redis
) -> None:
    shared = {"redis_url": REDIS_URL, "redis_key_prefix": f"fgtest-{uuid.uuid4().hex[:8]}"}
    async with serving(settings, **shared) as one, serving(settings, **shared) as two:
        stored = await one.post(
            "/graphql", json={"query": TYPENAME, "extensions": persisted(TYPENAME)}
        )
        assert stored.json()["data"] == {"__typename": "Query"}
        response = await two.post("/graphql", json={"extensions": persisted(TYPENAME)})
        assert response.json()["data"] == {"__typename": "Query"}
    assert await redis_conn.exists(f"{shared['redis_key_prefix']}:apq:{sha(TYPENAME)}")


# --- allow-list mode ------------------------------------------------------------------------


@pytest.fixture
def allowlist(tmp_path: Path) -> Path:
    path = tmp_path / "operations.json"
    path.write_text(json.dumps({sha(CAMPAIGNS): CAMPAIGNS, sha(TYPENAME): TYPENAME}))
    return path


async def test_allowlist_runs_registered_operations_by_hash_or_by_text(
    settings: Settings, allowlist: Path, tenant: Tenant, campaign: str
) -> None:
    variables = {"handle": tenant.handle}
    auth = tenant.auth()
    async with serving(
        settings, graphql_allowlist=True, graphql_allowlist_file=str(allowlist)
    ) as c:
        by_hash = await c.post(
            "/graphql",
            json={"variables": variables, "extensions": persisted(CAMPAIGNS)},
            headers=auth,
        )
        assert by_hash.json()["data"]["campaigns"]["edges"][0]["node"]["campaignId"] == campaign
        by_get = await get_by_hash(c, CAMPAIGNS, variables, **auth)
        assert by_get.json()["data"] == by_hash.json()["data"]
        by_text = await c.post("/graphql", json={"query": TYPENAME})
        assert by_text.json()["data"] == {"__typename": "Query"}


@pytest.mark.parametrize(
    "body",
    [
        {"query": "{ __typename }"},  # ad hoc, valid
        {"query": "{ noSuchField }"},  # ad hoc, invalid: no validation error leaks
        {"extensions": persisted("{ __typename }")},  # unknown hash
        {"query": "{ __typename }", "extensions": persisted("{ __typename }")},  # no sign-up
    ],
)
async def test_allowlist_refuses_anything_unregistered(
    settings: Settings, allowlist: Path, body: dict[str, Any]
) -> None:
    async with serving(
        settings, graphql_allowlist=True, graphql_allowlist_file=str(allowlist)
    ) as c:
        for _ in range(2):  # the second try proves nothing got stored by the first
            response = await c.post("/graphql", json=body)
            (error,) = response.json()["errors"]
            assert error["extensions"] == {"code": "PERSISTED_QUERY_NOT_ALLOWED"}
            assert response.json().get("data") is None


async def test_allowlist_is_enforced_by_the_schema_itself(
    settings: Settings, allowlist: Path
) -> None:
    """Subscriptions over websockets bypass the HTTP view: the schema must refuse too."""
    schema = build_schema(
        settings.model_copy(
            update={"graphql_allowlist": True, "graphql_allowlist_file": str(allowlist)}
        )
    )
    refused = await schema.execute("{ __typename }")
    assert refused.errors and refused.errors[0].extensions == {
        "code": "PERSISTED_QUERY_NOT_ALLOWED"
    }
    allowed = await schema.execute(TYPENAME)
    assert allowed.errors is None and allowed.data == {"__typename": "Query"}
    stream = await schema.subscribe(
        'subscription { campaignFunnel(handle: "a", campaignId: "b") { clicks } }'
    )
    try:
        first = await anext(aiter(stream))
    finally:
        await stream.aclose()
    assert first.errors and first.errors[0].extensions == {"code": "PERSISTED_QUERY_NOT_ALLOWED"}


async def test_allowlist_accepts_an_apollo_manifest(settings: Settings, tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [
                    {"id": sha(TYPENAME), "name": "Ping", "type": "query", "body": TYPENAME}
                ],
            }
        )
    )
    async with serving(settings, graphql_allowlist=True, graphql_allowlist_file=str(manifest)) as c:
        response = await c.post("/graphql", json={"extensions": persisted(TYPENAME)})
        assert response.json()["data"] == {"__typename": "Query"}


def test_allowlist_with_a_wrong_hash_or_no_file_refuses_to_start(
    settings: Settings, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"0" * 64: TYPENAME}))
    with pytest.raises(ValueError, match="not the sha256"):
        create_app(
            settings.model_copy(
                update={"graphql_allowlist": True, "graphql_allowlist_file": str(bad)}
            )
        )
    with pytest.raises(ValueError, match="ALLOWLIST_FILE"):
        create_app(settings.model_copy(update={"graphql_allowlist": True}))


def test_cli_registers_operations_and_refuses_invalid_ones(tmp_path: Path) -> None:
    operation = tmp_path / "ping.graphql"
    operation.write_text(TYPENAME)
    registry = tmp_path / "operations.json"
    result = CliRunner().invoke(
        cli, ["graphql", "register", str(operation), "--allowlist", str(registry)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.split()[0] == sha(TYPENAME)
    assert json.loads(registry.read_text()) == {sha(TYPENAME): TYPENAME}

    broken = tmp_path / "broken.graphql"
    broken.write_text("{ noSuchField }")
    result = CliRunner().invoke(
        cli, ["graphql", "register", str(broken), "--allowlist", str(registry)]
    )
    assert result.exit_code == 2
    assert json.loads(registry.read_text()) == {sha(TYPENAME): TYPENAME}
