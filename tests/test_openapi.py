"""The OpenAPI document: every route documented, valid 3.1, built from the routes' own models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate
from starlette.routing import Mount, Route, WebSocketRoute
from typer.testing import CliRunner

from app.cli import cli
from app.main import create_app
from app.openapi import build_document, openapi_path
from app.rest.tokens import TokenCreate
from app.settings import Settings
from resolvers.conversions import ConversionInput
from resolvers.inputs import CampaignCreate, LinkUpsert
from resolvers.reports import REPORT_TYPES


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    """The routes of an app that is never started (the document needs no database)."""
    tmp = tmp_path_factory.mktemp("openapi")
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp / 'unused.db'}",
        storage_url=str(tmp / "objects"),
        journal_enabled=False,
    )
    return list(create_app(settings).routes)


@pytest.fixture(scope="module")
def doc(routes: list[Any]) -> dict[str, Any]:
    return build_document(routes)


def _operation(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return doc["paths"][path][method]


def test_every_route_is_documented(routes: list[Any], doc: dict[str, Any]) -> None:
    missing = []
    for route in routes:
        if isinstance(route, Route):
            # Starlette adds HEAD to every GET route; only routes that mean it document it.
            methods = sorted((route.methods or set()) - {"HEAD"}) or ["HEAD"]
            for method in methods:
                documented = doc["paths"].get(openapi_path(route.path), {})
                if method.lower() not in documented:
                    missing.append(f"{method} {route.path}")
        elif isinstance(route, WebSocketRoute):
            continue  # GraphQL subscriptions: not HTTP, so not OpenAPI's to describe
        elif isinstance(route, Mount):
            if not any(p.startswith(route.path) for p in doc["paths"]):
                missing.append(f"* {route.path}")
        else:
            missing.append(f"{type(route).__name__} {getattr(route, 'path', '?')}")
    assert not missing, "routes without @operation(...) metadata (app/openapi.py): " + ", ".join(
        missing
    )


def test_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_request_bodies_are_the_models_the_routes_validate_with(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    for model in (CampaignCreate, LinkUpsert, ConversionInput, TokenCreate):
        documented = schemas[model.__name__]
        # The documented names are the wire names: the fields' camelCase aliases.
        wire = {name: f.alias or name for name, f in model.model_fields.items()}
        assert set(documented["properties"]) == set(wire.values())
        assert set(documented.get("required", [])) == {
            wire[name] for name, f in model.model_fields.items() if f.is_required()
        }
        assert documented.get("additionalProperties") is False  # extra="forbid"
    body = _operation(doc, "post", "/v2/handles/{handle}/campaigns")["requestBody"]
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CampaignCreate"
    }
    conversions = _operation(doc, "post", "/v2/handles/{handle}/conversions")["requestBody"]
    assert conversions["content"]["application/json"]["schema"]["anyOf"] == [
        {"$ref": "#/components/schemas/ConversionInput"},
        {"$ref": "#/components/schemas/ConversionBatch"},
    ]


def test_path_parameters_come_from_the_route_patterns(doc: dict[str, Any]) -> None:
    op = _operation(doc, "patch", "/v2/handles/{handle}/campaigns/{campaignId}")
    path_params = {p["name"]: p for p in op["parameters"] if p["in"] == "path"}
    assert set(path_params) == {"handle", "campaignId"}
    assert all(p["required"] for p in path_params.values())


def test_security_schemes_are_bearer_jwt_and_pat(doc: dict[str, Any]) -> None:
    schemes = doc["components"]["securitySchemes"]
    assert schemes["jwt"] == {**schemes["jwt"], "type": "http", "scheme": "bearer"}
    assert schemes["pat"] == {**schemes["pat"], "type": "http", "scheme": "bearer"}
    create = _operation(doc, "post", "/v2/handles/{handle}/campaigns")
    assert create["security"] == [{"jwt": ["CREATOR"]}, {"pat": ["campaigns.write"]}]
    tokens = _operation(doc, "post", "/v2/handles/{handle}/tokens")
    assert tokens["security"] == [{"jwt": ["ADMIN"]}]  # a PAT may not mint PATs
    assert _operation(doc, "get", "/{handle}/{slug}")["security"] == []


def test_errors_use_each_route_familys_shape(doc: dict[str, Any]) -> None:
    responses = doc["components"]["responses"]

    def schema(op: dict[str, Any], status: str) -> dict[str, Any]:
        reply = op["responses"][status]
        if "$ref" in reply:
            reply = responses[reply["$ref"].rsplit("/", 1)[1]]
        return reply["content"]["application/json"]["schema"]

    campaign = _operation(doc, "get", "/v2/handles/{handle}/campaigns/{campaignId}")
    for status in ("400", "401", "403", "404"):
        assert schema(campaign, status) == {"$ref": "#/components/schemas/Error"}
    report = _operation(doc, "get", "/v1/funnel")
    for status in ("400", "401", "403"):
        assert schema(report, status) == {"$ref": "#/components/schemas/FunnelReportError"}
    error = doc["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "message"]
    report_error = doc["components"]["schemas"]["FunnelReportError"]
    assert report_error["properties"]["status"] == {"const": "error"}


def test_funnel_report_documents_seed_000_parameters(doc: dict[str, Any]) -> None:
    params = {p["name"]: p for p in _operation(doc, "get", "/v1/funnel")["parameters"]}
    assert set(params) == {"account_id", "report_type", "date_range", "skip", "limit", "country"}
    assert {n for n, p in params.items() if p.get("required")} == {
        "account_id",
        "report_type",
        "date_range",
    }
    assert params["report_type"]["schema"]["enum"] == list(REPORT_TYPES)
    assert params["limit"]["schema"]["maximum"] == 100


def test_redirect_and_graphql_are_documented(doc: dict[str, Any]) -> None:
    redirect = doc["paths"]["/{handle}/{slug}"]
    assert set(redirect) == {"get", "head"}
    assert redirect["get"]["responses"]["302"]["headers"]["Location"]["required"] is True
    assert "text/html" in redirect["get"]["responses"]["404"]["content"]
    graphql = doc["paths"]["/graphql"]
    assert set(graphql) == {"get", "post"}
    assert graphql["post"]["requestBody"]["content"]["application/json"]["schema"]["required"] == [
        "query"
    ]


async def test_openapi_json_is_served(client: httpx.AsyncClient, routes: list[Any]) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["paths"].keys() == build_document(routes)["paths"].keys()


def test_cli_prints_the_document(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, doc: dict[str, Any]
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["openapi"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["openapi"] == "3.1.0"
    assert printed["paths"].keys() == doc["paths"].keys()
    assert list(tmp_path.iterdir()) == []  # printing the document writes nothing
