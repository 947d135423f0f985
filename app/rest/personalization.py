"""REST shim for personalization rules: list, create, fetch, PUT (upsert) and DELETE."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.openapi import Reply, operation
from app.rest import shapes
from app.rest.common import ORJSONResponse, json_body, request_context
from db.tables import PersonalizationRule
from resolvers import personalization
from resolvers.domain import iso
from resolvers.inputs import parse
from resolvers.personalization import RuleInput
from resolvers.principal import READ_CAMPAIGNS, WRITE_CAMPAIGNS

TAGS = ["personalization"]


def rule_json(rule: PersonalizationRule) -> dict[str, Any]:
    """A rule as the API shows it; ``when`` holds only the conditions the rule has."""
    return {
        "ruleId": rule.rule_id,
        "enabled": rule.enabled,
        "priority": rule.priority,
        "when": dict(rule.when or {}),
        "variant": {"id": rule.variant_id, "destinationUrl": rule.variant_destination_url},
        "createdAt": iso(rule.created_at),
        "updatedAt": iso(rule.updated_at),
    }


@operation(
    summary="List personalization rules",
    tags=TAGS,
    responses={200: shapes.PersonalizationRuleList},
    access=READ_CAMPAIGNS,
)
async def list_rules(request: Request) -> Response:
    ctx = await request_context(request)
    rows = await personalization.list_rules(ctx, request.path_params["handle"])
    return ORJSONResponse({"rules": [rule_json(r) for r in rows]})


@operation(
    summary="Create a personalization rule",
    tags=TAGS,
    body=RuleInput,
    responses={201: shapes.PersonalizationRuleEnvelope},
    access=WRITE_CAMPAIGNS,
    errors=[409],
)
async def create_rule(request: Request) -> Response:
    ctx = await request_context(request)
    data = parse(RuleInput, await json_body(request))
    row = await personalization.create_rule(ctx, request.path_params["handle"], data)
    return ORJSONResponse({"rule": rule_json(row)}, status_code=201)


@operation(
    summary="Fetch a personalization rule",
    tags=TAGS,
    responses={200: shapes.PersonalizationRuleEnvelope},
    access=READ_CAMPAIGNS,
)
async def get_rule(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    row = await personalization.get_rule(ctx, p["handle"], p["ruleId"])
    return ORJSONResponse({"rule": rule_json(row)})


@operation(
    summary="Create or replace a personalization rule",
    tags=TAGS,
    body=RuleInput,
    responses={
        201: Reply("Created.", shapes.PersonalizationRuleEnvelope),
        200: Reply("Replaced.", shapes.PersonalizationRuleEnvelope),
    },
    access=WRITE_CAMPAIGNS,
    errors=[409],
)
async def put_rule(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    data = parse(RuleInput, await json_body(request))
    row, created = await personalization.replace_rule(ctx, p["handle"], p["ruleId"], data)
    return ORJSONResponse({"rule": rule_json(row)}, status_code=201 if created else 200)


@operation(
    summary="Delete a personalization rule",
    tags=TAGS,
    responses={204: None},
    access=WRITE_CAMPAIGNS,
)
async def delete_rule(request: Request) -> Response:
    ctx = await request_context(request)
    p = request.path_params
    await personalization.delete_rule(ctx, p["handle"], p["ruleId"])
    return Response(status_code=204)


_RULES = "/v2/handles/{handle}/personalization/rules"
ROUTES = [
    Route(_RULES, list_rules, methods=["GET"]),
    Route(_RULES, create_rule, methods=["POST"]),
    Route(_RULES + "/{ruleId}", get_rule, methods=["GET"]),
    Route(_RULES + "/{ruleId}", put_rule, methods=["PUT"]),
    Route(_RULES + "/{ruleId}", delete_rule, methods=["DELETE"]),
]
