"""One client's bad input hurts no one else: hostile values on every REST route, GraphQL root
field and MCP tool.

The routes come from the app's own OpenAPI document, the GraphQL fields from introspection
and the tools from ``tools/list``, so a new route, field or tool is covered the day it is
added. Each gets a sweep (every slot some hostile value, every hostile value some slot)
and hypothesis-drawn cases with one to three hostile values (tests/hostile.py). Every
answer must be a non-5xx with no internal error, and every refusal must carry a code and a
message in its route family's shape. Meanwhile a second tenant (the *bystander*) clicks
its short link and posts conversions before, during and after the run: each must get its
201 or 302 and be counted exactly, and ``/readyz`` must stay 200 and not degraded.

Cases are derandomized, so a run is the same on every machine; FUNNELGATE_HOSTILE_CASES
raises the number of drawn cases (default 60 per REST tag, three times that for GraphQL and
for MCP).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import graphql
import httpx
import pytest

from db.tables import Handle
from tests.conftest import gql
from tests.factories import post_campaign_with_link
from tests.hostile import (
    Failures,
    Ids,
    JsonSchemas,
    Mutation,
    Slot,
    case_label,
    dumps,
    get_path,
    graphql_problem,
    mcp_problem,
    plan,
    resolve,
    rest_problem,
    set_path,
    sweep,
    url_text,
)
from tests.inprocess import app_client

# Drawn cases per REST tag, for GraphQL and for MCP (on top of the sweeps).
DRAWN_REST = int(os.environ.get("FUNNELGATE_HOSTILE_CASES", "60"))
DRAWN = 3 * DRAWN_REST
BROWSER = {
    "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36"
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}
ALL_SCOPES = (
    "analytics.read",
    "pages.read",
    "pages.write",
    "conversions.write",
    "campaigns.read",
    "campaigns.write",
)
# OpenAPI tags, one test each; test_every_documented_route_is_swept keeps the list whole.
TAGS = (
    "campaigns",
    "links",
    "conversions",
    "tokens",
    "analytics",
    "personalization",
    "pages",
    "webhooks",
    "redirect",
    "graphql",
    "mcp",
    "probes",
    "meta",
    "console",
)


@pytest.fixture
def settings(settings):
    # Thousands of requests on one token are the point here, not a limit breach.
    return settings.model_copy(update={"rate_limit_enabled": False})


@pytest.fixture
async def client(app):
    """conftest's client, except that an exception escaping the app is its 500 answer
    instead of an error raised here, so that one run reports every failing request."""
    async with app_client(app, raise_app_exceptions=False) as c:
        yield c


# --- the two tenants ------------------------------------------------------------------------


async def _ok(response: httpx.Response, *statuses: int) -> Any:
    assert response.status_code in statuses, (
        f"{response.request.method} {response.request.url}: {response.text[:300]}"
    )
    return response.json() if response.content else None


async def _arrange(
    client: httpx.AsyncClient, account: str, handle: str, jwt: str, prefix: str
) -> Ids:
    """A tenant with an ACTIVE campaign, a short link, a page, a rule, a webhook, a token."""
    headers = {"Authorization": f"Bearer {jwt}"}
    base = f"/v2/handles/{handle}"
    campaign, slug = f"{prefix}-camp", f"{prefix}-link"
    await post_campaign_with_link(
        client, handle, headers, campaign, slug, status="ACTIVE", conversionEventType="purchase"
    )
    await _ok(
        await client.put(
            f"{base}/site-structure/campaigns/{campaign}",
            json={"page": {"slug": slug, "title": "Hostile"}, "schema": {"blocks": []}},
            headers=headers,
        ),
        200,
        201,
    )
    rule = await _ok(
        await client.post(
            f"{base}/personalization/rules",
            json={"variant": {"id": "v1", "destinationUrl": "https://shop.example.com/v1"}},
            headers=headers,
        ),
        201,
    )
    hook = await _ok(
        await client.post(
            f"{base}/webhooks",
            json={"url": "https://hooks.example.com/in", "events": ["conversion.tested"]},
            headers=headers,
        ),
        201,
    )
    token = await _ok(
        await client.post(
            f"{base}/tokens", json={"scopes": ["analytics.read"], "name": "spare"}, headers=headers
        ),
        201,
    )
    return Ids(
        account=account,
        handle=handle,
        campaign=campaign,
        slug=slug,
        rule=_find_id(rule, "ruleId"),
        webhook=_find_id(hook, "id"),
        token=_find_id(token, "id"),
        delivery=f"{prefix}-delivery",  # deliveries need the worker; a well-formed miss
    )


def _find_id(doc: Any, key: str) -> str:
    """The first ``key`` in a response envelope (``{"rule": {"ruleId": …}}`` and the like)."""
    if isinstance(doc, dict):
        if isinstance(doc.get(key), str):
            return doc[key]
        for value in doc.values():
            found = _find_id(value, key)
            if found:
                return found
    return ""


@dataclass
class Bystander:
    """The other tenant's ordinary traffic: every click a 302, every conversion a 201, and
    each counted exactly in its funnel."""

    client: httpx.AsyncClient
    ids: Ids
    jwt: str
    clicks: int = 0
    conversions: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.jwt}"}

    async def click(self) -> None:
        r = await self.client.get(
            f"/{self.ids.handle}/{self.ids.slug}?utm_source=newsletter", headers=BROWSER
        )
        if r.status_code == 302:
            self.clicks += 1
        else:
            self.problems.append(f"bystander click: HTTP {r.status_code} {r.text[:200]}")

    async def convert(self) -> None:
        body = {
            "eventType": "purchase",
            "campaignId": self.ids.campaign,
            "eventId": f"by-{uuid.uuid4().hex}",
            "value": 10,
            "currency": "USD",
        }
        r = await self.client.post(
            f"/v2/handles/{self.ids.handle}/conversions", json=body, headers=self.headers
        )
        if r.status_code == 201:
            self.conversions += 1
        else:
            self.problems.append(f"bystander conversion: HTTP {r.status_code} {r.text[:200]}")

    async def visit(self) -> None:
        await asyncio.gather(self.click(), self.convert())

    async def alongside(self, request: Any) -> Any:
        """Send ``request`` (a coroutine) while the bystander clicks and converts."""
        answer, *_ = await asyncio.gather(request, self.click(), self.convert())
        return answer

    async def verify(self, failures: Failures) -> None:
        """After the run: readiness is plain ok and the bystander's funnel is exact."""
        await self.visit()
        ready = await self.client.get("/readyz")
        if ready.status_code != 200 or ready.json().get("status") != "ok":
            failures.add("readiness", f"/readyz HTTP {ready.status_code}: {ready.text[:300]}")
        r = await self.client.get(
            f"/v2/handles/{self.ids.handle}/analytics",
            params={"funnel": "true", "campaignId": self.ids.campaign},
            headers=self.headers,
        )
        funnel = r.json()["funnel"][0] if r.status_code == 200 else {}
        counted = (funnel.get("clicks"), funnel.get("conversions"))
        if counted != (self.clicks, self.conversions):
            failures.add(
                "bystander funnel",
                f"sent {self.clicks} clicks and {self.conversions} conversions, "
                f"counted {counted}: HTTP {r.status_code} {r.text[:200]}",
            )
        for problem in self.problems:
            failures.add("bystander traffic", problem)


@dataclass
class World:
    client: httpx.AsyncClient
    attacker: Ids
    victim: Ids
    bystander: Bystander
    jwt: str  # the attacker's ADMIN JWT
    pat: str  # the attacker's PAT with every scope
    victim_pat: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.jwt}"}


@pytest.fixture
async def world(client, tenant, ctx, make_pat) -> World:
    jwt, victim_jwt = tenant.jwt("ADMIN"), tenant.jwt("ADMIN", handle=tenant.other_handle)
    async with ctx.sessions() as session:  # no route serves another account's id
        other_account = (await session.get(Handle, tenant.other_handle)).account_id
    attacker = await _arrange(client, tenant.account_id, tenant.handle, jwt, "hx")
    victim = await _arrange(client, other_account, tenant.other_handle, victim_jwt, "vx")
    bystander = Bystander(client, victim, victim_jwt)
    await bystander.visit()  # before
    return World(
        client,
        attacker,
        victim,
        bystander,
        jwt,
        await make_pat(tenant.handle, *ALL_SCOPES),
        await make_pat(tenant.other_handle, *ALL_SCOPES),
    )


# --- REST: every operation of the OpenAPI document -----------------------------------------

PATH_IDS = {"handle", "campaign_id", "slug", "rule_id", "webhook_id", "token_id", "delivery_id"}
QUERY_VALID = {
    "status": "ACTIVE",
    "limit": "10",
    "skip": "0",
    "version": "1",
    "funnel": "true",
    "groupBy": "source",
    "dateRange": "last_7_days",
    "date_range": "last_7_days",
    "includeTest": "false",
    "report_type": "Source",
    "country": "US",
    "utm_source": "news",
    "utm_medium": "email",
    "query": "{ __typename }",
    "path": "index.html",
}
# Sent with every request of the operation; the other query parameters only as slots.
QUERY_BASE = {"account_id", "report_type", "date_range", "funnel", "query"}
BODY_HINTS = {
    "destinationUrl": "https://shop.example.com/",
    "url": "https://hooks.example.com/hostile",
    "eventType": "purchase",
    "currency": "USD",
    "scopes": "analytics.read",
    "events": "conversion.created",
    "title": "Hostile",
    "stages": [{"name": "clicks", "eventTypes": []}, {"name": "conversions", "eventTypes": []}],
    "variant": {"id": "v2", "destinationUrl": "https://shop.example.com/v2"},
    "campaignId": "hx-camp",  # the attacker's campaign (see the world fixture)
    "query": "{ __typename }",
    "jsonrpc": "2.0",
    "method": "tools/list",
}
# Optional fields a valid body carries, by schema title: an event names its campaign, a link
# stays on its campaign (so that its clicks are recorded).
BODY_OPTIONAL = {"ConversionInput": ("campaignId",), "LinkUpsert": ("campaignId",)}
# /mcp documents only "an object": a JSON-RPC request, so that hostile values reach the tools.
MCP_BODY = {
    "type": "object",
    "required": ["jsonrpc", "id", "method"],
    "properties": {
        "jsonrpc": {"type": "string"},
        "id": {"type": "integer"},
        "method": {"type": "string"},
        "params": {"type": "object", "properties": {"name": {"type": "string"}}},
    },
}


def _family(path: str, tag: str) -> str:
    if path.startswith("/v1/"):
        return "v1"
    return {"graphql": "graphql", "mcp": "mcp", "redirect": "redirect"}.get(tag, "v2")


@dataclass(frozen=True)
class RestOp:
    method: str
    template: str
    tag: str
    params: tuple[tuple[str, str], ...]  # (in, name)
    body: dict[str, Any] | None
    schemas: JsonSchemas

    def __str__(self) -> str:
        return f"{self.method} {self.template}"

    @property
    def family(self) -> str:
        return _family(self.template, self.tag)

    def slots(self) -> list[Slot]:
        out = [Slot(where, (name,), str(self)) for where, name in self.params]
        if self.body is not None:
            out += self.schemas.slots(self.body, "body", (), str(self))
        return out

    def valid(self, ids: Ids, slot: Slot, body: Any) -> Any:
        if slot.where == "body":
            return get_path(body, slot.path)
        name = slot.name
        if name in PATH_IDS or name in {"account_id", "campaignId"}:
            return ids.id_for(name, str(self))
        return QUERY_VALID.get(name)


def rest_operations(document: dict[str, Any]) -> list[RestOp]:
    schemas = JsonSchemas(document["components"]["schemas"], BODY_HINTS, BODY_OPTIONAL)
    out = []
    for template, methods in document["paths"].items():
        for method, op in methods.items():
            if method not in {"get", "post", "put", "patch", "delete", "head"}:
                continue
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body and op["tags"][0] == "mcp":
                body = {"schema": MCP_BODY}
            out.append(
                RestOp(
                    method.upper(),
                    template,
                    op["tags"][0],
                    tuple((p["in"], p["name"]) for p in op.get("parameters", [])),
                    body["schema"] if body else None,
                    schemas,
                )
            )
    # Deletes last, so the earlier cases still find what they point at.
    return sorted(out, key=lambda o: o.method == "DELETE")


def rest_request(op: RestOp, world: World, muts: Sequence[Mutation]) -> tuple[str, str, str]:
    """(url, body text, label) of ``op`` with the hostile values of ``muts``."""
    ids = world.attacker
    path_values = {n: ids.id_for(n, str(op)) for w, n in op.params if w == "path"}
    path_values |= {n: QUERY_VALID[n] for n in path_values if n in QUERY_VALID}
    query = {n: op.valid(ids, Slot(w, (n,)), None) for w, n in op.params if n in QUERY_BASE}
    body = op.schemas.example(op.body) if op.body is not None else None
    applied = []
    for slot, hostile in muts:
        value = resolve(hostile, slot, op.valid(ids, slot, body), world.victim)
        applied.append((slot, hostile, value))
        if slot.where == "path":
            path_values[slot.name] = value
        elif slot.where == "query":
            query[slot.name] = value
        else:
            body = set_path(body, slot.path, value)
    url = op.template
    for name, value in path_values.items():
        url = url.replace("{" + name + "}", url_text(value))
    if query:
        url += "?" + "&".join(f"{quote(k)}={url_text(v)}" for k, v in query.items())
    text = dumps(body) if body is not None else ""
    return url, text, f"{op.method} {op.template} with {case_label(applied)}"


async def send_rest(world: World, op: RestOp, url: str, text: str) -> httpx.Response:
    headers = dict(world.headers)
    if op.family == "mcp":
        headers = {"Authorization": f"Bearer {world.pat}", **MCP_HEADERS}
    if text:
        headers["Content-Type"] = "application/json"
    return await world.client.request(
        op.method, url, content=text.encode() if text else None, headers=headers
    )


async def _document(world: World) -> dict[str, Any]:
    return await _ok(await world.client.get("/openapi.json"), 200)


async def test_every_documented_route_is_swept(world):
    document = await _document(world)
    ops = rest_operations(document)
    assert {op.tag for op in ops} <= set(TAGS), "a new OpenAPI tag: add it to TAGS"
    assert all(op.slots() or not op.params for op in ops)


@pytest.mark.parametrize("tag", TAGS)
async def test_rest_routes_answer_hostile_input_with_a_4xx_in_their_shape(world, tag):
    ops = [op for op in rest_operations(await _document(world)) if op.tag == tag]
    assert ops, f"no documented operation is tagged {tag}"
    failures = Failures()
    for n, (op, muts) in enumerate(plan(ops, RestOp.slots, DRAWN_REST)):
        url, text, label = rest_request(op, world, muts)
        sending = send_rest(world, op, url, text)
        r = await (world.bystander.alongside(sending) if n % 25 == 0 else sending)
        problem = (
            mcp_problem(r.status_code, r.text)
            if op.family == "mcp"
            else rest_problem(
                op.family, r.status_code, r.headers.get("content-type", ""), r.text, op.method
            )
        )
        failures.check(problem, label, r.status_code, r.text)
    await world.bystander.verify(failures)
    assert not failures.items, failures.report()


# --- short-link clicks with hostile query values ----------------------------------------------

CLICK_QUERIES = [
    "utm_source=%00",
    "utm_source=a%00b&utm_medium=%00",
    "utm_source=%ED%A0%80",
    "utm_campaign=%01%1b%7f",
    "utm_source=news%0A",
    "utm_source=" + "x" * 24_000,
    "utm_content=" + "%F0%9F%98%80" * 2_000,
    "utm_source=%FF%FE",
    "utm_term=9223372036854775808&fg_click=%00",
    "utm_source=" + "%5B" * 2000,
    "%00=%00",
]


@pytest.mark.parametrize("with_referrer", [False, True], ids=["plain", "hostile-referrer"])
async def test_clicks_with_hostile_query_values_leave_other_tenants_unharmed(world, with_referrer):
    """A NUL in utm_source once failed the shared click batch and, on PostgreSQL, put the
    process in degraded mode: the bystander's clicks and conversions were refused or lost."""
    failures = Failures()
    headers = dict(BROWSER)
    if with_referrer:
        headers["referer"] = "https://evil.example.com/\x7f" + "r" * 5000
    for query in CLICK_QUERIES:
        url = f"/{world.attacker.handle}/{world.attacker.slug}?{query}"
        label = f"GET /{{handle}}/{{slug}}?{query[:80]}"
        # Concurrent, so that the hostile click and the bystander's share an ingest batch.
        answers = await asyncio.gather(
            *(world.client.get(url, headers=headers) for _ in range(3)),
            world.bystander.click(),
            world.bystander.convert(),
            world.bystander.click(),
        )
        for r in answers[:3]:
            kind = r.headers.get("content-type", "")
            problem = rest_problem("redirect", r.status_code, kind, r.text)
            failures.check(problem, label, r.status_code, r.text)
    for _ in range(3):  # after: conversions from the other tenant still commit
        await world.bystander.convert()
    await world.bystander.verify(failures)
    assert not failures.items, failures.report()


# --- a conversion batch with hostile events among good ones ------------------------------------

WHOLE_BODY_REFUSALS = frozenset({"nested-2000-object", "nested-2000-array"})
BATCH_FIELDS = ("eventId", "eventType", "campaignId", "occurredAt", "value", "currency", "clickId")


async def test_a_conversion_batch_refuses_only_its_hostile_events(world):
    """Each batch holds one good event and one with a hostile value: the good event is
    recorded and the other recorded or refused with a code; what was recorded is counted
    exactly. The whole batch is refused (in shape, nothing written) only when its body
    cannot be read at all (nested too deep)."""
    url = f"/v2/handles/{world.attacker.handle}/conversions"
    failures = Failures()
    created = 0
    slots = [Slot("body", (f,)) for f in BATCH_FIELDS] + [Slot("body", ("metadata", "extra"))]
    for n, (slot, hostile) in enumerate(sweep(slots)):
        good = {"eventType": "purchase", "campaignId": world.attacker.campaign}
        good["eventId"] = f"good-{n}"
        bad = dict(good, eventId=f"bad-{n}")
        value = resolve(hostile, slot, get_path(bad, slot.path), world.victim)
        bad = set_path(bad, slot.path, value)
        label = f"POST {url} batch [good, {case_label([(slot, hostile, value)])}]"
        text = dumps({"events": [good, bad]})
        sending = world.client.post(
            url, content=text, headers={**world.headers, "Content-Type": "application/json"}
        )
        r = await world.bystander.alongside(sending)
        problem = rest_problem("v2", r.status_code, r.headers.get("content-type", ""), r.text)
        results = r.json().get("results", []) if problem is None else []
        if problem is None and 400 <= r.status_code < 500:
            # Refused as a whole only when the body itself cannot be read (too deep to
            # parse); any other bad value is its event's own rejection.
            if hostile.label not in WHOLE_BODY_REFUSALS:
                problem = "the whole batch was refused for one event's value"
        elif problem is None and (r.status_code != 200 or len(results) != 2):
            problem = "not a 200 with one result per event"
        elif problem is None and results[0]["status"] != "created":
            problem = "the good event was not recorded"
        elif problem is None and results[1]["status"] == "rejected":
            if not (results[1].get("error") and results[1].get("message")):
                problem = "a refused event without an error code and a message"
        failures.check(problem, label, r.status_code, r.text)
        created += sum(
            x["status"] == "created" and x.get("campaignId") == world.attacker.campaign
            for x in results
        )
    r = await world.client.get(
        f"/v2/handles/{world.attacker.handle}/analytics",
        params={"funnel": "true", "campaignId": world.attacker.campaign},
        headers=world.headers,
    )
    counted = r.json()["funnel"][0]["conversions"] if r.status_code == 200 else r.text[:200]
    if counted != created:
        failures.add("attacker funnel", f"{created} events recorded, {counted} counted")
    await world.bystander.verify(failures)
    assert not failures.items, failures.report()


# --- another tenant's token ---------------------------------------------------------------------


async def test_another_tenants_token_opens_none_of_our_routes(world):
    """The bystander's PAT and JWT on the attacker's routes: a 401/403/404 in shape, never
    an answer with the attacker's data."""
    ops = [
        op
        for op in rest_operations(await _document(world))
        if any(name == "handle" for _, name in op.params) and op.family == "v2"
    ]
    failures = Failures()
    for op, token in itertools.product(ops, (world.victim_pat, world.bystander.jwt)):
        url, text, label = rest_request(op, world, [])
        headers = {"Authorization": f"Bearer {token}"}
        if text:
            headers["Content-Type"] = "application/json"
        r = await world.client.request(op.method, url, content=text or None, headers=headers)
        label = f"{op} with the other tenant's {'JWT' if token.count('.') == 2 else 'PAT'}"
        problem = rest_problem("v2", r.status_code, r.headers.get("content-type", ""), r.text)
        if problem is None and r.status_code not in (401, 403, 404):
            problem = "the other tenant's token was let in"
        failures.check(problem, label, r.status_code, r.text)
    await world.bystander.verify(failures)
    assert not failures.items, failures.report()


# --- GraphQL: every root field -----------------------------------------------------------------

GQL_HINTS = {
    "reportType": "Source",
    "dateRange": "last_7_days",
    "country": "US",
    "page": {"slug": "hx-link", "title": "Hostile"},
    "schema": {"blocks": []},
    "first": 10,
    "limit": 10,
    "skip": 0,
    "stagesInput": [
        {"name": "clicks", "eventTypes": []},
        {"name": "conversions", "eventTypes": []},
    ],
} | {k: v for k, v in BODY_HINTS.items() if k not in {"stages"}}
GQL_IDS = {
    "handle",
    "campaignId",
    "slug",
    "ruleId",
    "id",
    "subscriptionId",
    "deliveryId",
    "accountId",
}


@dataclass(frozen=True)
class GqlField:
    kind: str  # query or mutation
    field: graphql.GraphQLField
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"

    def document(self) -> str:
        args = self.field.args
        variables = ", ".join(f"${a}: {t.type}" for a, t in args.items())
        call = ", ".join(f"{a}: ${a}" for a in args)
        named = graphql.get_named_type(self.field.type)
        selection = "" if graphql.is_leaf_type(named) else "{ __typename }"
        head = f"{self.kind} Hostile({variables})" if variables else self.kind
        return f"{head} {{ {self.name}{f'({call})' if call else ''} {selection} }}"

    def example(self, ids: Ids) -> dict[str, Any]:
        out = {}
        for name, arg in self.field.args.items():
            if graphql.is_non_null_type(arg.type):
                out[name] = self._value(arg.type, name, ids)
        return out

    def _value(self, kind: Any, name: str, ids: Ids) -> Any:
        kind = graphql.get_nullable_type(kind)
        if name in GQL_IDS:
            return ids.id_for(name, self.name)
        if isinstance(kind, graphql.GraphQLList):
            hint = GQL_HINTS.get(name)
            if isinstance(hint, list):
                return hint
            return [self._value(kind.of_type, name, ids)]
        if name in GQL_HINTS:
            return GQL_HINTS[name]
        if isinstance(kind, graphql.GraphQLEnumType):
            return next(iter(kind.values))
        if isinstance(kind, graphql.GraphQLInputObjectType):
            return {
                f: self._value(v.type, f, ids)
                for f, v in kind.fields.items()
                if graphql.is_non_null_type(v.type) and v.default_value is graphql.Undefined
            }
        return {"Int": 1, "Float": 1.0, "Boolean": False, "JSON": {}}.get(kind.name, "hx1")

    def slots(self) -> list[Slot]:
        out: list[Slot] = []
        for name, arg in self.field.args.items():
            out += self._slots(arg.type, (name,))
        return out

    def _slots(self, kind: Any, path: tuple[str | int, ...]) -> list[Slot]:
        out = [Slot("arg", path, self.name)]
        named = graphql.get_nullable_type(kind)
        if isinstance(named, graphql.GraphQLList):
            return out + self._slots(named.of_type, (*path, 0))[1:]
        if isinstance(named, graphql.GraphQLInputObjectType) and len(path) < 4:
            for f, v in named.fields.items():
                out += self._slots(v.type, (*path, f))
        return out


async def graphql_fields(world: World) -> list[GqlField]:
    body = await gql(world.client, graphql.get_introspection_query(), world.headers)
    schema = graphql.build_client_schema(body["data"])
    out = []
    for kind, root in (("query", schema.query_type), ("mutation", schema.mutation_type)):
        for name, fld in (root.fields if root else {}).items():
            out.append(GqlField(kind, fld, name))
    return sorted(out, key=lambda f: f.name.startswith(("delete", "revoke")))


async def test_graphql_root_fields_answer_hostile_arguments_with_coded_errors(world):
    fields = await graphql_fields(world)
    assert len(fields) > 20
    cases = plan(fields, GqlField.slots, DRAWN)
    failures = Failures()
    for n, (fld, muts) in enumerate(cases):
        variables = fld.example(world.attacker)
        applied = []
        for slot, hostile in muts:
            valid = get_path(variables, slot.path)
            value = resolve(hostile, slot, valid, world.victim)
            applied.append((slot, hostile, value))
            variables = set_path(variables, slot.path, value)
        text = dumps({"query": fld.document(), "variables": variables})
        sending = world.client.post(
            "/graphql",
            content=text.encode(),
            headers={**world.headers, "Content-Type": "application/json"},
        )
        r = await (world.bystander.alongside(sending) if n % 25 == 0 else sending)
        label = f"{fld} with {case_label(applied)}"
        failures.check(graphql_problem(r.status_code, r.text), label, r.status_code, r.text)
    await world.bystander.verify(failures)
    assert not failures.items, failures.report()


# --- MCP: every tool ------------------------------------------------------------------------

MCP_HINTS = {
    "page": {"slug": "hx-link", "title": "Hostile"},
    "schema": {"blocks": []},
    "date_range": "last_7_days",
    "limit": 10,
}


async def _rpc(world: World, method: str, params: Any, n: int) -> httpx.Response:
    text = dumps({"jsonrpc": "2.0", "id": n, "method": method, "params": params})
    headers = {
        "Authorization": f"Bearer {world.pat}",
        "Content-Type": "application/json",
        **MCP_HEADERS,
    }
    return await world.client.post("/mcp", content=text.encode(), headers=headers)


async def test_mcp_tools_answer_hostile_arguments_with_tool_errors(world):
    listed = await _rpc(world, "tools/list", {}, 0)
    tools = listed.json()["result"]["tools"]
    assert tools, listed.text
    failures = Failures()
    plans = []
    for tool in tools:
        schema = tool["inputSchema"]
        schemas = JsonSchemas(schema.get("$defs", {}), MCP_HINTS)
        slots = schemas.slots(schema, "arg", (), tool["name"])[1:]
        plans.append((tool["name"], schema, schemas, slots))
    cases = plan(plans, lambda p: p[3], DRAWN)
    for n, ((name, schema, schemas, _), muts) in enumerate(cases, start=1):
        arguments = schemas.example(schema)
        for key in schema.get("required", []):
            if key in {"handle", "campaign_id"}:
                arguments[key] = world.attacker.id_for(key)
        applied = []
        for slot, hostile in muts:
            valid = get_path(arguments, slot.path)
            value = resolve(hostile, slot, valid, world.victim)
            applied.append((slot, hostile, value))
            arguments = set_path(arguments, slot.path, value)
        sending = _rpc(world, "tools/call", {"name": name, "arguments": arguments}, n)
        r = await (world.bystander.alongside(sending) if n % 25 == 0 else sending)
        label = f"tool {name} with {case_label(applied)}"
        failures.check(mcp_problem(r.status_code, r.text), label, r.status_code, r.text)
    await world.bystander.verify(failures)
    assert not failures.items, failures.report()
