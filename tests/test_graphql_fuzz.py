"""GraphQL fuzzing over the real schema (hypothesis-graphql) against an app with data.

Every generated query and mutation is valid against the schema; the gateway may answer
with validation errors (depth, cost, aliases) or domain errors (forbidden, not found,
invalid input), but never with an internal error or a 5xx. Arguments called ``handle``,
``campaignId`` and ``slug`` are mostly pointed at the tenant's real data, so resolvers get
past the access checks; the rest keep their generated values.

Examples are derandomized (stable in CI); FUNNELGATE_FUZZ_EXAMPLES raises the count
(default 300 per backend).
"""

from __future__ import annotations

import functools
import os
from datetime import UTC

import graphql
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis_graphql import mutations, nodes, queries

from schema import build_schema
from tests.factories import post_campaign_with_link

EXAMPLES = int(os.environ.get("FUNNELGATE_FUZZ_EXAMPLES", "300"))
CAMPAIGN = "fuzz-camp"
SLUG = "fuzz"

CUSTOM_SCALARS = {
    "DateTime": st.datetimes(timezones=st.just(UTC)).map(lambda d: nodes.String(d.isoformat())),
    "JSON": st.one_of(
        st.builds(nodes.Object, st.just([])),
        st.text(max_size=20).map(nodes.String),
        st.integers().map(nodes.Int),
    ),
}


def _pointed(document: graphql.DocumentNode, real: dict[str, str]) -> str:
    """Print ``document`` with most handle/campaignId/slug arguments set to real values.

    Which ones keep their generated value depends only on that value, so the output is as
    deterministic as the generator."""

    class Point(graphql.Visitor):
        def enter_argument(self, node: graphql.ArgumentNode, *_: object) -> object:
            value = node.value
            if (
                node.name.value in real
                and isinstance(value, graphql.StringValueNode)
                and len(value.value) % 4 != 3
            ):
                return graphql.ArgumentNode(
                    name=node.name, value=graphql.StringValueNode(value=real[node.name.value])
                )
            return None

    return graphql.print_ast(graphql.visit(document, Point()))


@functools.lru_cache(maxsize=1)
def generate(schema_sdl: str, count: int) -> tuple[graphql.DocumentNode, ...]:
    """``count`` operations (generated once per session, shared by both backends)."""
    strategy = st.one_of(
        queries(schema_sdl, custom_scalars=CUSTOM_SCALARS, print_ast=lambda d: d),
        mutations(schema_sdl, custom_scalars=CUSTOM_SCALARS, print_ast=lambda d: d),
    )
    out: list[graphql.DocumentNode] = []

    @hypothesis_settings(
        max_examples=count,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(document: graphql.DocumentNode) -> None:
        out.append(document)

    collect()
    return tuple(out)


@pytest.fixture
def settings(settings):
    # One token sends every operation: the per-token rate limit is not under test here.
    return settings.model_copy(update={"rate_limit_enabled": False})


async def _seed(client, tenant) -> dict[str, str]:
    h = tenant.auth("ADMIN")
    base = f"/v2/handles/{tenant.handle}"
    await post_campaign_with_link(client, tenant.handle, h, CAMPAIGN, SLUG, status="ACTIVE")
    ua = {"user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0"}
    for i in range(5):
        r = await client.get(f"/{tenant.handle}/{SLUG}?utm_source=s{i % 2}", headers=ua)
        assert r.status_code == 302
    r = await client.post(
        f"{base}/conversions",
        json={"eventType": "purchase", "campaignId": CAMPAIGN, "value": 5, "eventId": "fz-1"},
        headers=h,
    )
    assert r.status_code in (200, 201), r.text
    return {"handle": tenant.handle, "campaignId": CAMPAIGN, "slug": SLUG}


async def test_fuzzed_operations_never_hit_an_internal_error(client, tenant, settings, caplog):
    real = await _seed(client, tenant)
    documents = generate(build_schema(settings).as_str(), EXAMPLES)
    operations = [_pointed(d, real) for d in documents]
    assert len(set(operations)) > EXAMPLES // 2, "the generator produced too few distinct ops"
    headers = tenant.auth("ADMIN")
    codes: dict[str, int] = {}
    answered = 0  # operations that ran without any error
    failures: list[str] = []
    for query in operations:
        r = await client.post("/graphql", json={"query": query}, headers=headers)
        if r.status_code >= 500:
            failures.append(f"HTTP {r.status_code} for:\n{query}\n{r.text[:500]}")
            continue
        body = r.json()
        answered += not body.get("errors")
        for error in body.get("errors") or []:
            code = (error.get("extensions") or {}).get("code", "?")
            codes[code] = codes.get(code, 0) + 1
            if code == "internal_error":
                failures.append(f"internal_error for:\n{query}\n{error}")
        if len(failures) >= 3:
            break
    assert not failures, "\n\n".join(failures)
    assert "unexpected GraphQL error" not in caplog.text
    # The run got past validation into the resolvers, both to answers and to domain errors.
    assert answered > 0 and sum(v for k, v in codes.items() if k.islower()) > 0, codes


@pytest.mark.parametrize("value", ["abc", "ab"])
def test_pointing_keeps_some_generated_values(value):
    document = graphql.parse(f'{{ campaigns(handle: "{value}") {{ totalCount }} }}')
    printed = _pointed(document, {"handle": "real"})
    assert ('"real"' in printed) is (len(value) % 4 != 3)


@pytest.mark.parametrize(
    "operation",
    [
        '{ webhook(handle: "$h", id: "a\\u0000b") { id } }',
        '{ webhookDeliveries(handle: "$h", subscriptionId: "a\\u0000") { totalCount } }',
        'mutation { redeliverWebhook(handle: "$h", deliveryId: "\\u0000") { id } }',
        'mutation { revokeAccessToken(handle: "$h", id: "x\\u0000") { id } }',
    ],
)
async def test_ids_with_nul_are_refused_not_internal_errors(client, tenant, operation):
    """Found by the fuzz run on PostgreSQL, whose text type cannot hold NUL: the GraphQL edge
    refuses every string literal the databases cannot store, before any resolver runs."""
    code = "invalid_request"
    query = operation.replace("$h", tenant.handle)
    r = await client.post("/graphql", json={"query": query}, headers=tenant.auth("ADMIN"))
    assert r.status_code == 200
    assert [e["extensions"]["code"] for e in r.json()["errors"]] == [code], r.text
