"""The real ``funnelgate`` console script, run as a subprocess against a temp SQLite file.

Uses no app fixtures, so it runs once (not per database backend).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest

from app.settings import Settings
from tests.factories import post_campaign
from tests.inprocess import serving
from tests.live_server import free_port

SECRET = "cli-test-secret-that-is-long-enough-for-hs256-0123456789"
ACCOUNT_ID = "0123456789abcdef01234567"


def _console_script() -> str:
    beside_python = Path(sys.executable).with_name("funnelgate")
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("funnelgate")
    assert found, "the funnelgate console script is not installed (pip install -e .)"
    return found


@dataclass
class Workspace:
    directory: Path
    db_path: Path

    @property
    def database_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.db_path}"

    def run(
        self, *args: str, secret: str | None = SECRET, database_url: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [_console_script(), *args],
            cwd=self.directory,
            env=self.env(secret, database_url),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def env(self, secret: str | None = SECRET, database_url: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FUNNELGATE_")}
        env["FUNNELGATE_DATABASE_URL"] = database_url or self.database_url
        if secret is not None:
            env["FUNNELGATE_JWT_SECRET"] = secret
        return env

    def query(self, sql: str, *params: object) -> list[tuple]:
        with sqlite3.connect(self.db_path) as conn:
            return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    directory = tmp_path_factory.mktemp("cli")
    return Workspace(directory, directory / "funnelgate.db")


@pytest.fixture(scope="module")
def migrated(workspace: Workspace) -> subprocess.CompletedProcess[str]:
    return workspace.run("migrate")


@pytest.fixture(scope="module")
def account(workspace: Workspace, migrated) -> subprocess.CompletedProcess[str]:
    assert migrated.returncode == 0, migrated.stderr
    return workspace.run(
        "account",
        "create",
        "--id",
        ACCOUNT_ID,
        "--name",
        "Acme",
        "--handle",
        "acme",
        "--handle",
        "acme-eu",
    )


def test_migrate_creates_the_schema(workspace, migrated):
    assert migrated.returncode == 0, migrated.stderr
    tables = {
        row[0] for row in workspace.query("SELECT name FROM sqlite_master WHERE type='table'")
    }
    assert {"accounts", "handles", "campaigns", "links", "access_tokens", "alembic_version"} <= (
        tables
    )
    assert len(workspace.query("SELECT version_num FROM alembic_version")) == 1


def test_migrate_again_is_harmless(workspace, migrated):
    again = workspace.run("migrate")
    assert again.returncode == 0, again.stderr


def test_account_create_stores_account_and_handles(workspace, account):
    assert account.returncode == 0, account.stderr
    printed = json.loads(account.stdout)
    assert printed["id"] == ACCOUNT_ID
    assert printed["name"] == "Acme"
    assert printed["handles"] == ["acme", "acme-eu"]
    assert workspace.query("SELECT id, name FROM accounts") == [(ACCOUNT_ID, "Acme")]
    handles = workspace.query("SELECT name, account_id FROM handles ORDER BY name")
    assert handles == [("acme", ACCOUNT_ID), ("acme-eu", ACCOUNT_ID)]


def test_token_jwt_prints_only_a_token_with_the_documented_claims(workspace, account):
    before = int(time.time())
    result = workspace.run("token", "jwt", "--handle", "acme", "--role", "ADMIN")
    after = int(time.time())
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    token = lines[0].strip()
    assert token.count(".") == 2
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert isinstance(claims["sub"], str) and claims["sub"]
    assert isinstance(claims["exp"], int)
    assert before < claims["exp"] <= after + 86400 + 5
    assert claims["handles"] == {"acme": "ADMIN"}
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, SECRET + "x", algorithms=["HS256"])


def test_token_jwt_honours_ttl(workspace, account):
    result = workspace.run("token", "jwt", "--handle", "acme-eu", "--role", "VIEWER", "--ttl", "90")
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"])
    assert claims["handles"] == {"acme-eu": "VIEWER"}
    assert abs(claims["exp"] - (time.time() + 90)) < 30


def test_token_pat_prints_only_a_token_and_stores_its_hash(workspace, account):
    result = workspace.run("token", "pat", "--handle", "acme", "--scope", "analytics.read")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    token = lines[0].strip()
    assert token.startswith("fgp_")
    assert len(token) > 20
    stored = workspace.query(
        "SELECT handle, scopes, token_hash FROM access_tokens WHERE token_hash = ?",
        hashlib.sha256(token.encode()).hexdigest(),
    )
    assert len(stored) == 1
    handle, scopes, _ = stored[0]
    assert handle == "acme"
    assert json.loads(scopes) == ["analytics.read"]
    # The token itself is never stored.
    rows = workspace.query("SELECT * FROM access_tokens")
    assert all(token not in str(row) for row in rows)


async def test_cli_tokens_authenticate_against_the_gateway(workspace, account):
    jwt_token = workspace.run("token", "jwt", "--handle", "acme", "--role", "CREATOR")
    pat = workspace.run(
        "token", "pat", "--handle", "acme", "--scope", "campaigns.read", "--expires-in", "3600"
    )
    assert jwt_token.returncode == 0 and pat.returncode == 0, (jwt_token.stderr, pat.stderr)
    settings = Settings(
        database_url=workspace.database_url,
        jwt_secret=SECRET,
        storage_url=str(workspace.directory / "objects"),
    )
    async with serving(settings) as client:
        jwt_auth = {"Authorization": f"Bearer {jwt_token.stdout.strip()}"}
        await post_campaign(client, "acme", jwt_auth, "cli-made")
        listed = await client.get(
            "/v2/handles/acme/campaigns",
            headers={"Authorization": f"Bearer {pat.stdout.strip()}"},
        )
        assert listed.status_code == 200, listed.text
        assert [c["campaignId"] for c in listed.json()["campaigns"]] == ["cli-made"]
        other = await client.get(
            "/v2/handles/acme-eu/campaigns",
            headers={"Authorization": f"Bearer {pat.stdout.strip()}"},
        )
        assert other.status_code == 403


def test_schema_prints_the_graphql_sdl(workspace):
    result = workspace.run("schema")
    assert result.returncode == 0, result.stderr
    sdl = result.stdout
    assert "type Campaign" in sdl
    assert "type Query" in sdl
    assert "type Mutation" in sdl
    assert "createCampaign(" in sdl


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        pytest.param(
            ["account", "create", "--id", "XYZ", "--name", "Bad", "--handle", "bad-id"],
            "account id",
            id="bad-account-id",
        ),
        pytest.param(
            ["account", "create", "--id", "0" * 23 + "a", "--name", "R", "--handle", "graphql"],
            "reserved",
            id="reserved-handle",
        ),
        pytest.param(
            ["account", "create", "--id", "0" * 23 + "b", "--name", "D", "--handle", "acme"],
            "taken",
            id="taken-handle",
        ),
        pytest.param(
            ["token", "jwt", "--handle", "acme", "--role", "OWNER"], "role", id="unknown-role"
        ),
        pytest.param(
            ["token", "jwt", "--handle", "nobody-here", "--role", "ADMIN"],
            "not found",
            id="unknown-handle",
        ),
        pytest.param(
            ["token", "pat", "--handle", "acme", "--scope", "everything"],
            "scope",
            id="unknown-scope",
        ),
    ],
)
def test_bad_cli_input_exits_non_zero_with_a_message(workspace, account, args, needle):
    assert account.returncode == 0, account.stderr
    result = workspace.run(*args)
    assert result.returncode != 0
    output = (result.stderr + result.stdout).lower()
    assert needle in output, output
    assert "traceback" not in output
    # Nothing was half-created.
    assert workspace.query("SELECT count(*) FROM accounts") == [(1,)]


# --- no FUNNELGATE_JWT_SECRET --------------------------------------------------------------


@pytest.fixture(scope="module")
def unset(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A fresh directory where the defaults apply: ./funnelgate.db and no secret."""
    directory = tmp_path_factory.mktemp("cli-unset")
    workspace = Workspace(directory, directory / "funnelgate.db")
    default_url = "sqlite+aiosqlite:///./funnelgate.db"
    created = workspace.run(
        "account", "create", "--id", ACCOUNT_ID, "--name", "Acme", "--handle", "acme",
        secret=None, database_url=default_url,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    return workspace


def test_serve_refuses_postgresql_without_a_secret_in_one_line(workspace):
    url = "postgresql+asyncpg://postgres@127.0.0.1:5432/funnelgate_never_created"
    result = workspace.run("serve", "--port", str(free_port()), secret=None, database_url=url)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "FUNNELGATE_JWT_SECRET" in lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_serve_refuses_a_short_secret_in_one_line(workspace):
    result = workspace.run("serve", "--port", str(free_port()), secret="too-short")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "too short" in lines[0], result.stderr


def test_token_jwt_without_a_secret_signs_with_the_file_beside_the_database(unset):
    result = unset.run(
        "token", "jwt", "--handle", "acme", secret=None,
        database_url="sqlite+aiosqlite:///./funnelgate.db",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    path = unset.directory / "funnelgate.db.jwt-secret"
    assert path.stat().st_mode & 0o777 == 0o600
    secret = path.read_text().strip()
    assert len(secret) >= 32
    claims = jwt.decode(result.stdout.strip(), secret, algorithms=["HS256"])
    assert claims["handles"] == {"acme": "CREATOR"}
    assert "funnelgate.db.jwt-secret" in result.stderr  # the warning: where it is, what to set
    assert "set FUNNELGATE_JWT_SECRET in production" in result.stderr


def test_serve_without_a_secret_starts_on_sqlite_and_accepts_cli_tokens(unset):
    default_url = "sqlite+aiosqlite:///./funnelgate.db"
    token = unset.run("token", "jwt", "--handle", "acme", secret=None, database_url=default_url)
    assert token.returncode == 0, token.stderr
    port = free_port()
    server = subprocess.Popen(
        [_console_script(), "serve", "--port", str(port)],
        cwd=unset.directory,
        env=unset.env(None, default_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()[0]
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}/v2/handles/acme/campaigns",
                    headers={"Authorization": f"Bearer {token.stdout.strip()}"},
                )
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the gateway did not start"
                time.sleep(0.2)
        assert response.status_code == 200, response.text
    finally:
        server.terminate()
        output = server.communicate(timeout=60)[0]
    logged = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    warnings = [e for e in logged if "funnelgate.db.jwt-secret" in e.get("event", "")]
    assert warnings and warnings[0]["level"] == "warning", output
    assert "set FUNNELGATE_JWT_SECRET in production" in warnings[0]["event"]
