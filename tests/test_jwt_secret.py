"""No built-in JWT secret: without FUNNELGATE_JWT_SECRET the SQLite default gets a random one
beside the database file; any other database refuses to start."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
import yaml

from app.main import create_app
from app.settings import Settings
from resolvers.auth import mint_jwt
from tests.inprocess import serving

# Secrets that once were defaults (code and docker-compose.yml): public, so never accepted.
PUBLISHED = [
    "funnelgate-development-secret-change-me-in-production",
    "compose-development-secret-change-me-now",
]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fresh_resolution(monkeypatch):
    """Each test resolves as a new process would."""
    monkeypatch.delenv("FUNNELGATE_JWT_SECRET", raising=False)
    try:
        from resolvers import jwtsecret
    except ImportError:  # before resolvers/jwtsecret.py existed
        return
    monkeypatch.setattr(jwtsecret, "_resolved", {})


def jwt_secret(settings: Settings) -> str:
    from resolvers.jwtsecret import jwt_secret

    return jwt_secret(settings)


def _clear() -> None:
    from resolvers import jwtsecret

    jwtsecret._resolved.clear()


def _error() -> type[Exception]:
    from resolvers.jwtsecret import JWTSecretError

    return JWTSecretError


def _sqlite(tmp_path: Path, name: str = "funnelgate.db") -> Settings:
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / name}", jwt_secret=None)


def test_unset_on_sqlite_creates_a_random_owner_only_secret_beside_the_database(tmp_path, caplog):
    settings = _sqlite(tmp_path)
    with caplog.at_level(logging.WARNING, logger="funnelgate.auth"):
        secret = jwt_secret(settings)
    path = tmp_path / "funnelgate.db.jwt-secret"
    from resolvers.jwtsecret import secret_file

    assert secret_file(settings.database_url) == path
    assert path.read_text().strip() == secret
    assert len(secret) >= 32 and secret not in PUBLISHED
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind
    assert str(path) in caplog.text and "FUNNELGATE_JWT_SECRET" in caplog.text


def test_the_generated_secret_is_kept_and_differs_per_database(tmp_path):
    first = jwt_secret(_sqlite(tmp_path))
    _clear()  # another process, same settings
    assert jwt_secret(_sqlite(tmp_path)) == first
    assert jwt_secret(_sqlite(tmp_path, "other.db")) != first


def test_an_in_memory_database_gets_a_random_secret_per_process(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings(database_url="sqlite+aiosqlite:///:memory:", jwt_secret=None)
    secret = jwt_secret(settings)
    assert len(secret) >= 32 and jwt_secret(settings) == secret
    assert list(tmp_path.iterdir()) == []
    _clear()
    assert jwt_secret(settings) != secret


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://postgres@127.0.0.1:5432/funnelgate",
        "postgresql://db.internal/funnelgate",
    ],
)
def test_unset_on_another_database_is_refused(url):
    with pytest.raises(_error(), match="FUNNELGATE_JWT_SECRET is not set"):
        jwt_secret(Settings(database_url=url, jwt_secret=None))


def test_a_short_explicit_secret_is_refused(tmp_path):
    with pytest.raises(_error(), match="too short"):
        jwt_secret(Settings(database_url="postgresql://db/x", jwt_secret="short-secret"))
    explicit = "x" * 32
    assert jwt_secret(Settings(database_url="postgresql://db/x", jwt_secret=explicit)) == explicit


def test_a_truncated_secret_file_is_refused(tmp_path):
    (tmp_path / "funnelgate.db.jwt-secret").write_text("\n")
    with pytest.raises(_error(), match="delete it"):
        jwt_secret(_sqlite(tmp_path))


async def test_published_secrets_sign_no_accepted_token(settings, tenant):
    """The gateway on a SQLite file with no secret set answers tokens signed with any
    formerly built-in secret with 401, and its own generated secret with 200."""
    if not settings.is_sqlite:
        pytest.skip("SQLite only: elsewhere the gateway refuses to start (next test)")
    unset = settings.model_copy(update={"jwt_secret": None})
    url = f"/v2/handles/{tenant.handle}/campaigns"
    async with serving(unset) as http:
        for published in PUBLISHED:
            token = mint_jwt(published, "attacker", {tenant.handle: "ADMIN"}, 600)
            response = await http.get(url, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, response.text
        own = mint_jwt(jwt_secret(unset), "owner", {tenant.handle: "ADMIN"}, 600)
        response = await http.get(url, headers={"Authorization": f"Bearer {own}"})
        assert response.status_code == 200, response.text


async def test_the_gateway_refuses_to_start_on_postgresql_without_a_secret(settings):
    if settings.is_sqlite:
        pytest.skip("PostgreSQL only")
    app = create_app(settings.model_copy(update={"jwt_secret": None}))
    with pytest.raises(_error()):
        async with app.router.lifespan_context(app):
            pass


def test_compose_requires_the_secret():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    value = compose["services"]["gateway"]["environment"]["FUNNELGATE_JWT_SECRET"]
    assert value.startswith("${FUNNELGATE_JWT_SECRET:?"), value
    for published in PUBLISHED:
        assert published not in (ROOT / "docker-compose.yml").read_text()
        for source in (ROOT / "app").rglob("*.py"):
            assert published not in source.read_text(), source


def test_no_secret_file_for_an_explicit_secret(tmp_path):
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", jwt_secret="y" * 40
    )
    assert jwt_secret(settings) == "y" * 40
    assert not os.listdir(tmp_path)
