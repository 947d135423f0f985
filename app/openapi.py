"""The OpenAPI 3.1 document, built from the app's routes and the metadata on their endpoints.

Endpoints carry an :func:`operation` record; request bodies are the pydantic models the
handlers validate with, so the document cannot drift from what the routes accept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from importlib import metadata
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from resolvers.domain import CAMPAIGN_ID_RE, HANDLE_RE, SLUG_RE
from resolvers.principal import Access

OPENAPI_VERSION = "3.1.0"
ATTR = "__openapi__"
REF = "#/components/schemas/{model}"
REQUEST_ID = {"$ref": "#/components/headers/X-Request-ID"}
E = TypeVar("E")

# A model, a raw JSON Schema, or a tuple of models (any of them).
Schema = type[BaseModel] | Mapping[str, Any] | tuple[type[BaseModel], ...]


@dataclass(frozen=True)
class Param:
    """A query (or path) parameter."""

    name: str
    schema: Mapping[str, Any]
    description: str = ""
    required: bool = False
    where: str = "query"


@dataclass(frozen=True)
class Reply:
    """A success response that is not plain JSON, or needs headers or a description."""

    description: str = ""
    schema: Schema | None = None
    media_type: str = "application/json"
    headers: Mapping[str, Any] = field(default_factory=dict)
    also: Mapping[str, Schema] = field(default_factory=dict)  # other media types


@dataclass(frozen=True)
class Operation:
    summary: str
    tags: tuple[str, ...]
    responses: Mapping[int, Schema | Reply | None]
    body: Schema | None = None
    body_required: bool = True
    query: tuple[Param, ...] = ()
    security: tuple[Mapping[str, list[str]], ...] = ()
    errors: tuple[int, ...] = ()
    description: str = ""
    head: bool = False
    error_shape: str = "Error"


def operation(
    *,
    summary: str,
    tags: Iterable[str],
    responses: Mapping[int, Schema | Reply | None],
    body: Schema | None = None,
    body_required: bool = True,
    query: Iterable[Param] = (),
    access: Access | None = None,
    security: Iterable[str] | None = None,
    errors: Iterable[int] = (),
    description: str = "",
    method: str | None = None,
    head: bool = False,
    error_shape: str = "Error",
) -> Callable[[E], E]:
    """Attach OpenAPI metadata to a route endpoint (for one ``method``, or for all of them).

    ``access`` names what the resolver authorizes (JWT role, PAT scopes) and becomes the
    operation's security; ``security`` lists schemes instead (``"none"`` for optional auth).
    """
    requirements: list[Mapping[str, list[str]]] = []
    notes = description
    if access is not None:
        requirements.append({"jwt": [access.role.value]})
        if access.scopes:
            requirements.append({"pat": list(access.scopes)})
        needs = f"JWT role {access.role.value} or above"
        if access.scopes:
            needs += "; PAT scope " + " or ".join(access.scopes)
        notes = f"{description}\n\nNeeds {needs}.".strip()
    for scheme in security or ():
        requirements.append({} if scheme == "none" else {scheme: []})
    op = Operation(
        summary=summary,
        tags=tuple(tags),
        responses=dict(responses),
        body=body,
        body_required=body_required,
        query=tuple(query),
        security=tuple(requirements),
        errors=tuple(errors),
        description=notes,
        head=head,
        error_shape=error_shape,
    )

    def mark(endpoint: E) -> E:
        ops = dict(getattr(endpoint, ATTR, {}))
        ops[(method or "*").upper()] = op
        setattr(endpoint, ATTR, ops)
        return endpoint

    return mark


# Common query parameters.
LIMIT = Param("limit", {"type": "integer", "minimum": 1, "maximum": 100}, "Page size (50).")
CURSOR = Param("cursor", {"type": "string"}, "``nextCursor`` of the previous page.")
DATE_RANGE = Param(
    "dateRange",
    {"type": "string", "examples": ["last_30_days", "20240101,20240131"]},
    "``YYYYMMDD,YYYYMMDD`` or today, yesterday, last_7_days, last_30_days, this_week, "
    "last_week, this_month, last_month, this_year (account timezone).",
)

# Path parameters by name, as the routes spell them (camelCase, like the JSON fields and
# the documented URLs); unknown names are plain strings.
PATH_PARAMS: dict[str, tuple[dict[str, Any], str]] = {
    "handle": ({"type": "string", "pattern": HANDLE_RE.pattern}, "Handle the call is scoped to."),
    "campaignId": ({"type": "string", "pattern": CAMPAIGN_ID_RE.pattern}, "Campaign id."),
    "slug": ({"type": "string", "pattern": SLUG_RE.pattern}, "Short-link slug."),
    "ruleId": ({"type": "string"}, "Personalization rule id."),
    "tokenId": ({"type": "string"}, "Personal access token id (tok_…)."),
    "webhookId": ({"type": "string"}, "Webhook subscription id."),
    "deliveryId": ({"type": "string"}, "Webhook delivery id."),
    "path": ({"type": "string"}, "Path below the mount point."),
}

_ERRORS: dict[int, str] = {
    400: "Invalid request (``invalid_request``, ``invalid_campaign_id``, ...).",
    401: "Missing or invalid bearer token (``unauthenticated``).",
    403: "The token may not do this on this handle (``forbidden``).",
    404: "No such resource (``not_found``, ``campaign_not_found``, ...).",
    409: "Conflicts with the current state (``campaign_conflict``, ...).",
    413: "Body or batch too large (``payload_too_large``).",
    503: "Overloaded; retry after ``Retry-After`` seconds (``overloaded``).",
}
_RETRY_AFTER = {"schema": {"type": "integer"}, "description": "Seconds to wait."}
_PATH_PARAM = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?}")
_ERROR_SCHEMAS = {
    "Error": {
        "type": "object",
        "description": "Errors of the /v2 routes, the redirect and the probes.",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "Stable error code."},
            "message": {"type": "string"},
        },
    },
    "FunnelReportError": {
        "type": "object",
        "description": "Errors of the /v1 funnel report, in its own shape.",
        "required": ["status", "message"],
        "properties": {"status": {"const": "error"}, "message": {"type": "string"}},
    },
}


def endpoint_operations(route: BaseRoute) -> dict[str, Operation]:
    """``{METHOD: Operation}`` documented for ``route`` (empty when it carries none)."""
    if isinstance(route, Route):
        target: Any = route.endpoint
        methods = sorted(route.methods or ())
    elif isinstance(route, Mount):
        target, methods = route.app, []
    else:
        return {}
    ops: dict[str, Operation] = getattr(target, ATTR, {})
    out: dict[str, Operation] = {}
    for method in methods or [m for m in ops if m != "*"]:
        op = ops.get(method) or ops.get("*")
        if op is None or (method == "HEAD" and not op.head and "HEAD" not in ops):
            continue
        out[method] = op
    return out


def openapi_path(path: str) -> str:
    return _PATH_PARAM.sub(r"{\1}", path)


def build_document(routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI 3.1 document for every documented route in ``routes``."""
    collected: list[tuple[str, str, str, Operation]] = []
    for route in routes:
        path = openapi_path(getattr(route, "path", ""))
        if isinstance(route, Mount):
            path += "/{path}"  # whatever the mounted app serves below its prefix
        for method, op in endpoint_operations(route).items():
            endpoint = getattr(route, "endpoint", None)
            name = getattr(endpoint, "__name__", None) or _name(method, path)
            collected.append((path, method, name, op))
    models = _models(op for *_, op in collected)
    refs, defs = (
        models_json_schema([(m, "validation") for m in models], ref_template=REF)
        if models
        else ({}, {})
    )
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    schemas.update(_ERROR_SCHEMAS)

    def schema_of(value: Schema) -> Mapping[str, Any]:
        if isinstance(value, tuple):
            return {"anyOf": [refs[(m, "validation")] for m in value]}
        if isinstance(value, type) and issubclass(value, BaseModel):
            return refs[(value, "validation")]
        return value

    paths: dict[str, dict[str, Any]] = {}
    shared: dict[str, Any] = {}  # components.responses: the error replies
    first_path: dict[str, str] = {}
    seen_ids: set[str] = set()
    for path, method, name, op in collected:
        op_id = _operation_id(name, path, method, first_path.setdefault(name, path), seen_ids)
        seen_ids.add(op_id)
        paths.setdefault(path, {})[method.lower()] = _operation(path, op_id, op, schema_of, shared)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "funnelgate",
            "version": _version(),
            "description": "REST shim of the funnelgate analytics gateway. GraphQL at /graphql.",
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "responses": dict(sorted(shared.items())),
            "securitySchemes": {
                "jwt": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "JWT with claims {sub, exp, handles: {handle: role}}.",
                },
                "pat": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "fgp_…",
                    "description": "Personal access token bound to one handle, with scopes.",
                },
            },
            "headers": {
                "X-Request-ID": {
                    "description": "The request id (the caller's X-Request-ID, or a new one).",
                    "required": True,
                    "schema": {"type": "string"},
                }
            },
        },
    }


def _name(method: str, path: str) -> str:
    """``post_graphql``, ``get_app_path``: for endpoints that are ASGI apps, not functions."""
    words = re.findall(r"[A-Za-z0-9]+", path)
    return "_".join([method.lower(), *words]) if words else method.lower()


def _operation_id(name: str, path: str, method: str, first: str, seen: set[str]) -> str:
    """The endpoint's name; one endpoint on several routes gets the segments that differ."""
    if name not in seen:
        return name
    static = [seg for seg in path.split("/") if seg and "{" not in seg]
    suffix = "_".join(seg for seg in static if seg not in first.split("/")) or method.lower()
    op_id, n = f"{name}_{suffix}", 2
    while op_id in seen:
        op_id, n = f"{name}_{suffix}_{n}", n + 1
    return op_id


def _version() -> str:
    try:
        return metadata.version("funnelgate")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def _models(ops: Iterable[Operation]) -> list[type[BaseModel]]:
    found: dict[type[BaseModel], None] = {}
    for op in ops:
        candidates = [op.body, *op.responses.values()]
        for value in candidates:
            if isinstance(value, Reply):
                value = value.schema
            for model in value if isinstance(value, tuple) else (value,):
                if isinstance(model, type) and issubclass(model, BaseModel):
                    found[model] = None
    return list(found)


def _operation(
    path: str,
    op_id: str,
    op: Operation,
    schema_of: Callable[[Schema], Mapping[str, Any]],
    shared: dict[str, Any],
) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": op_id, "summary": op.summary, "tags": list(op.tags)}
    if op.description:
        out["description"] = op.description
    params = [_path_param(name) for name in _PATH_PARAM.findall(path)]
    params += [_param(p) for p in op.query]
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {
            "required": op.body_required,
            "content": {"application/json": {"schema": schema_of(op.body)}},
        }
    responses: dict[str, Any] = {}
    for status, value in sorted(op.responses.items()):
        reply = value if isinstance(value, Reply) else Reply(schema=value)
        body: dict[str, Any] = {
            "description": reply.description or HTTPStatus(status).phrase,
            "headers": {"X-Request-ID": REQUEST_ID, **reply.headers},
        }
        if reply.schema is not None:
            body["content"] = {reply.media_type: {"schema": schema_of(reply.schema)}}
        for media_type, schema in reply.also.items():
            body.setdefault("content", {})[media_type] = {"schema": schema_of(schema)}
        responses[str(status)] = body
    for status in sorted(_error_statuses(op, path)):
        error = _error(status, op.error_shape)
        if str(status) in responses:
            # Errors raised before the endpoint runs (no route matched) are always JSON.
            responses[str(status)].setdefault("content", {}).update(error["content"])
        else:
            shared[f"{op.error_shape}{status}"] = error
            responses[str(status)] = {"$ref": f"#/components/responses/{op.error_shape}{status}"}
    refused = _refused_before_routing(path, op.error_shape)
    if refused is not None and "400" in responses:
        current = responses["400"]
        if "$ref" in current:
            current = _error(400, op.error_shape)
        responses["400"] = current | {"content": current.get("content", {}) | refused}
    limited = _rate_limited(path, op)
    if limited is not None and "429" not in responses:
        key, shared[key] = limited
        responses["429"] = {"$ref": f"#/components/responses/{key}"}
    out["responses"] = responses
    out["security"] = [dict(r) for r in op.security]
    return out


def _error_statuses(op: Operation, path: str) -> set[int]:
    statuses = set(op.errors)
    if op.security and {} not in op.security:
        statuses |= {401, 403}
    if op.body is not None:
        statuses |= {400, 413}
    if op.query:
        statuses.add(400)
    if _PATH_PARAM.search(path):
        statuses |= {400, 404}
    return statuses


def _error(status: int, shape: str) -> dict[str, Any]:
    headers: dict[str, Any] = {"X-Request-ID": REQUEST_ID}
    if status == 503:
        headers["Retry-After"] = _RETRY_AFTER
    return {
        "description": _ERRORS.get(status, HTTPStatus(status).phrase),
        "headers": headers,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=shape)}}},
    }


def _refused_before_routing(path: str, shape: str) -> dict[str, Any] | None:
    """400 content a family adds for a path or query refused before routing
    (app/middleware/request_text.py): GraphQL ``errors[]``, plain text for a short link."""
    from app.errors import route_family

    family = route_family(path)
    if family == "graphql":
        graphql = {"type": "object", "required": ["errors"]}
        schema = {"anyOf": [{"$ref": REF.format(model=shape)}, graphql]}
        return {"application/json": {"schema": schema}}
    if family == "redirect":
        return {"text/plain": {"schema": {"type": "string"}}}
    return None


def _rate_limited(path: str, op: Operation) -> tuple[str, dict[str, Any]] | None:
    """A 429 in the shape the rate limiter answers with for this route family."""
    from app.errors import route_family

    family = route_family(path)
    if family is None:
        return None
    schema: Mapping[str, Any] = {"$ref": REF.format(model=op.error_shape)}
    media_type, key = "application/json", f"{op.error_shape}429"
    if family == "redirect":
        schema, media_type, key = {"type": "string"}, "text/plain", "RedirectRateLimited"
    elif family == "graphql":
        schema, key = {"type": "object", "required": ["errors"]}, "GraphQLRateLimited"
    headers = {"X-Request-ID": REQUEST_ID, "Retry-After": _RETRY_AFTER}
    for name in ("Limit", "Remaining", "Reset", "Policy"):
        headers[f"RateLimit-{name}"] = {"schema": {"type": "string"}}
    return key, {
        "description": "Rate limit exceeded (``rate_limited``); retry after Retry-After seconds.",
        "headers": headers,
        "content": {media_type: {"schema": schema}},
    }


def _path_param(name: str) -> dict[str, Any]:
    schema, description = PATH_PARAMS.get(name, ({"type": "string"}, ""))
    out = {"name": name, "in": "path", "required": True, "schema": schema}
    return out | ({"description": description} if description else {})


def _param(p: Param) -> dict[str, Any]:
    out: dict[str, Any] = {"name": p.name, "in": p.where, "schema": dict(p.schema)}
    if p.required or p.where == "path":
        out["required"] = True
    if p.description:
        out["description"] = p.description
    return out


@operation(
    summary="This OpenAPI document",
    tags=["meta"],
    responses={200: Reply(schema={"type": "object"}, description="OpenAPI 3.1 document.")},
)
async def openapi_json(request: Request) -> Response:
    app = request.app
    doc = getattr(app.state, "openapi", None)
    if doc is None:
        doc = app.state.openapi = build_document(app.routes)
    return JSONResponse(doc)


ROUTES = [Route("/openapi.json", openapi_json, methods=["GET"])]
