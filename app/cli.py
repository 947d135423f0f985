"""The ``funnelgate`` command line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from app.settings import get_settings
from resolvers.jwtsecret import JWTSecretError

if TYPE_CHECKING:
    from app.settings import Settings
    from resolvers.context import Context

T = TypeVar("T")
cli = typer.Typer(
    help="funnelgate: GraphQL analytics gateway for campaigns and short links.",
    no_args_is_help=True,
    add_completion=False,
)
account_cli = typer.Typer(help="Manage accounts.", no_args_is_help=True)
token_cli = typer.Typer(help="Mint tokens.", no_args_is_help=True)
cli.add_typer(account_cli, name="account")
cli.add_typer(token_cli, name="token")
graphql_cli = typer.Typer(help="GraphQL operations: the allow-list.", no_args_is_help=True)
cli.add_typer(graphql_cli, name="graphql")


def _run_with_context(fn: Callable[[Context], Awaitable[T]]) -> T:
    """Run ``fn(ctx)`` against the configured database, turning domain errors into exit 2."""
    from app.runtime.services import offline_context
    from db.engine import make_engine, make_session_factory
    from db.migrate import upgrade
    from resolvers.errors import DomainError

    settings = get_settings()
    upgrade(settings.database_url)

    async def main() -> T:
        engine = make_engine(settings.database_url)
        try:
            return await fn(offline_context(settings, make_session_factory(engine)))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except DomainError as exc:
        typer.echo(f"error: {exc.code}: {exc.message}", err=True)
        raise typer.Exit(2) from exc


def _require_jwt_key(settings: Settings) -> None:
    """One line and exit 2 when the settings give no usable JWT secret."""
    from resolvers.auth import verification_key

    try:
        verification_key(settings)
    except JWTSecretError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
) -> None:
    """Apply migrations, then serve HTTP (JSON logs on stdout, one line per request).

    Limits from FUNNELGATE_HTTP_* settings; SIGTERM finishes in-flight requests first.
    """
    from app.logs import configure_logging
    from app.serving import serve as run_server
    from app.serving import uvicorn_config
    from db.migrate import upgrade

    settings = get_settings()
    log_config = configure_logging(log_level)
    _require_jwt_key(settings)  # before migrations: a misconfigured gateway changes nothing
    upgrade(settings.database_url)
    run_server(
        uvicorn_config(
            settings,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            log_config=log_config,
        )
    )


@cli.command()
def migrate() -> None:
    """Apply database migrations up to the latest."""
    from db.migrate import upgrade

    upgrade(get_settings().database_url)
    typer.echo("migrations applied")


@account_cli.command("create")
def account_create(
    id: Annotated[str, typer.Option("--id", help="24 lowercase hex characters.")],
    name: Annotated[str, typer.Option(help="Account name.")],
    handle: Annotated[list[str], typer.Option("--handle", help="Handle (repeatable).")],
    timezone: Annotated[str, typer.Option(help="IANA timezone.")] = "UTC",
    currency: Annotated[str, typer.Option(help="Reporting currency.")] = "USD",
) -> None:
    """Create an account with one or more handles."""
    from resolvers.accounts import create_account

    info = _run_with_context(
        lambda ctx: create_account(ctx, id, name, handle, timezone=timezone, currency=currency)
    )
    typer.echo(
        json.dumps(
            {
                "id": info.id,
                "name": info.name,
                "timezone": info.timezone,
                "currency": info.currency,
                "handles": list(dict.fromkeys(handle)),
            }
        )
    )


@token_cli.command("jwt")
def token_jwt(
    handle: Annotated[str, typer.Option(help="Handle the token grants.")],
    role: Annotated[str, typer.Option(help="VIEWER, CREATOR or ADMIN.")] = "CREATOR",
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds.")] = 86400,
    subject: Annotated[str | None, typer.Option(help="Subject (sub claim).")] = None,
) -> None:
    """Print a signed JWT (HS256 with FUNNELGATE_JWT_SECRET, or the generated SQLite one)."""
    from resolvers.domain import Role
    from resolvers.tokens import issue_jwt

    try:
        parsed_role = Role(role.upper())
    except ValueError as exc:
        typer.echo("error: --role must be VIEWER, CREATOR or ADMIN", err=True)
        raise typer.Exit(2) from exc
    _require_jwt_key(get_settings())
    typer.echo(_run_with_context(lambda ctx: issue_jwt(ctx, handle, parsed_role, ttl, subject)))


@token_cli.command("pat")
def token_pat(
    handle: Annotated[str, typer.Option(help="Handle the token is bound to.")],
    # Optional here so that a missing scope is refused by the check every door shares.
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="Scope (repeatable; at least one).")
    ] = None,
    expires_in: Annotated[int | None, typer.Option(help="Lifetime in seconds.")] = None,
    name: Annotated[str | None, typer.Option(help="Label.")] = None,
) -> None:
    """Create a personal access token and print it (it is shown only once)."""
    from resolvers.tokens import issue_pat

    issued = _run_with_context(
        lambda ctx: issue_pat(
            ctx, handle, scope or [], expires_in=expires_in, name=name, check_access=False
        )
    )
    typer.echo(issued.token)


@cli.command()
def demo(
    handle: Annotated[str, typer.Option(help="Handle of the demo account.")] = "demo",
    account_id: Annotated[
        str, typer.Option(help="24-hex account id.")
    ] = "0000000000000000000de300",
    clicks: Annotated[int, typer.Option(min=1, help="Clicks to generate.")] = 30000,
    days: Annotated[int, typer.Option(min=1, max=365, help="Days of history.")] = 60,
    host: Annotated[str, typer.Option(help="Where `funnelgate serve` listens.")] = "127.0.0.1:8000",
) -> None:
    """Fill the database with a realistic demo account and print how to look at it."""
    from rich.progress import Progress

    from resolvers.demo import DemoResult, load_demo
    from resolvers.domain import Role
    from resolvers.tokens import issue_jwt

    _require_jwt_key(get_settings())  # before the load, which ends by minting a token

    async def run(ctx: Context) -> tuple[DemoResult, str]:
        with Progress() as bar:
            task = bar.add_task("clicks and conversions", total=clicks)
            result = await load_demo(
                ctx,
                account_id=account_id,
                handle=handle,
                clicks=clicks,
                days=days,
                progress=lambda n: bar.advance(task, n),
            )
        return result, await issue_jwt(ctx, handle, Role.ADMIN, 7 * 86400, "demo")

    result, token = _run_with_context(run)
    typer.echo(
        f"Loaded {result.clicks} clicks and {result.conversions} conversions "
        f"into handle '{handle}' (account {account_id})."
    )
    typer.echo(f"Open the console at http://{host}/app/ and sign in with the token below.")
    typer.echo(
        f"GraphiQL: http://{host}/graphql (header Authorization: Bearer <token>); or with curl:"
    )
    typer.echo(
        f"  curl -H 'Authorization: Bearer {token}' "
        f"'http://{host}/v2/handles/{handle}/analytics?funnel=true'"
    )
    typer.echo(f"Token (ADMIN, 7 days): {token}")


@cli.command("openapi")
def print_openapi() -> None:
    """Print the OpenAPI 3.1 document of the REST routes (JSON)."""
    from app.main import create_app
    from app.openapi import build_document

    # No click journal: printing the document must not touch the disk.
    app = create_app(get_settings().model_copy(update={"journal_enabled": False}))
    typer.echo(json.dumps(build_document(app.routes), indent=2, ensure_ascii=False))


@cli.command("schema")
def print_schema() -> None:
    """Print the GraphQL SDL."""
    from schema import build_schema

    typer.echo(build_schema(get_settings()).as_str())


@graphql_cli.command("register")
def graphql_register(
    files: Annotated[list[Path], typer.Argument(help="Operation documents (.graphql).")],
    allowlist: Annotated[
        Path | None,
        typer.Option(help="Registry to add to; default FUNNELGATE_GRAPHQL_ALLOWLIST_FILE."),
    ] = None,
) -> None:
    """Check operations against the schema and add them to the allow-list; print their hashes.

    Clients must send each file's text exactly, or its sha256 as a persisted query.
    """
    from graphql import GraphQLError, parse, validate

    from schema import build_schema
    from schema.engine.allowlist import register_operations

    settings = get_settings()
    target = allowlist or settings.graphql_allowlist_file
    if not target:
        typer.echo("error: pass --allowlist or set FUNNELGATE_GRAPHQL_ALLOWLIST_FILE", err=True)
        raise typer.Exit(2)
    schema = build_schema(settings.model_copy(update={"graphql_allowlist": False}))._schema
    queries = []
    for file in files:
        text = file.read_text(encoding="utf-8")
        try:
            errors = validate(schema, parse(text))
        except GraphQLError as exc:
            errors = [exc]
        if errors:
            typer.echo(f"error: {file}: {errors[0].message}", err=True)
            raise typer.Exit(2)
        queries.append(text)
    try:
        digests = register_operations(target, queries)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    for file, digest in zip(files, digests, strict=True):
        typer.echo(f"{digest}  {file}")


def main() -> None:
    cli()
