"""The secret that signs and verifies JWTs: the one place that decides which it is.

``FUNNELGATE_JWT_SECRET`` when set. Without it, on the embedded SQLite default, a random
secret created once beside the database file (owner-only), so a newcomer needs no setting and
``funnelgate serve`` and ``funnelgate token jwt`` run in the same place agree; an in-memory
SQLite database gets a random secret per process. Any other database is shared by several
processes, which must share one secret: there it is refused.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from app.settings import Settings

log = logging.getLogger("funnelgate.auth")

MIN_HMAC_SECRET_BYTES = 32  # RFC 7518 3.2: an HS256 key as long as the hash, at least
_SUFFIX = ".jwt-secret"
_resolved: dict[tuple[str, str | None, str], str] = {}
_lock = threading.Lock()


class JWTSecretError(RuntimeError):
    """The configuration gives no usable JWT secret; the message says what to set."""


def jwt_secret(settings: Settings) -> str:
    """The effective JWT signing secret for ``settings`` (cached per process)."""
    key = (settings.database_url, settings.jwt_secret, settings.jwt_algorithm)
    found = _resolved.get(key)
    if found is None:
        with _lock:
            found = _resolved.get(key) or _resolve(settings)
            _resolved[key] = found
    return found


def secret_file(database_url: str) -> Path | None:
    """Where the generated secret of a SQLite database file lives; ``None`` in memory."""
    url = make_url(database_url)
    database = url.database or ""
    if url.query.get("mode") == "memory" or database in ("", ":memory:"):
        return None
    if database.startswith("file:"):  # a SQLite URI filename (uri=true)
        database = database.removeprefix("file:")
    return Path(database + _SUFFIX)


def _resolve(settings: Settings) -> str:
    if settings.jwt_secret:
        if (
            settings.jwt_algorithm.upper().startswith("HS")
            and len(settings.jwt_secret.encode()) < MIN_HMAC_SECRET_BYTES
        ):
            raise JWTSecretError(
                f"FUNNELGATE_JWT_SECRET is too short for {settings.jwt_algorithm}: use at "
                f"least {MIN_HMAC_SECRET_BYTES} bytes, e.g. "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return settings.jwt_secret
    if not settings.is_sqlite or not settings.jwt_algorithm.upper().startswith("HS"):
        raise JWTSecretError(
            "FUNNELGATE_JWT_SECRET is not set: it is required with this database "
            "(every gateway process must share one secret) or a non-HMAC algorithm"
        )
    path = secret_file(settings.database_url)
    if path is None:
        return secrets.token_urlsafe(48)
    secret = _read_or_create(path)
    log.warning(
        "FUNNELGATE_JWT_SECRET is not set: tokens are signed with the random secret in %s; "
        "set FUNNELGATE_JWT_SECRET in production",
        path.resolve(),
    )
    return secret


def _read_or_create(path: Path) -> str:
    """The secret in ``path``, written once atomically (0600) if absent."""
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    candidate = secrets.token_urlsafe(48)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(candidate + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            # link() never replaces: of two processes starting at once, one secret wins and
            # both read it back.
            os.link(temporary, path)
        except FileExistsError:
            pass
    except OSError as exc:
        raise JWTSecretError(
            f"FUNNELGATE_JWT_SECRET is not set and {path} cannot be written ({exc.strerror})"
        ) from exc
    finally:
        temporary.unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> str:
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except (UnicodeDecodeError, IsADirectoryError, PermissionError) as exc:
        raise JWTSecretError(f"the JWT secret file {path} cannot be read: {exc}") from exc
    if len(secret.encode()) < MIN_HMAC_SECRET_BYTES:
        raise JWTSecretError(
            f"the JWT secret file {path} holds fewer than {MIN_HMAC_SECRET_BYTES} bytes: "
            "delete it to have a new one made, or set FUNNELGATE_JWT_SECRET"
        )
    return secret
