"""Turn a bearer token (JWT or PAT) into a Principal; mint both kinds of token."""

from __future__ import annotations

import binascii
import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import jwt
from jwt.utils import base64url_decode, base64url_encode
from sqlalchemy import select, update
from sqlmodel import col

from db.tables import AccessToken
from resolvers.context import Context
from resolvers.domain import Role, utcnow
from resolvers.errors import Unauthenticated
from resolvers.jwtsecret import jwt_secret
from resolvers.principal import Principal

if TYPE_CHECKING:
    from app.settings import Settings

PAT_PREFIX = "fgp_"
_LAST_USED_GRANULARITY = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_pat_secret() -> tuple[str, str]:
    """Return (token, visible prefix)."""
    token = PAT_PREFIX + secrets.token_urlsafe(30).replace("-", "x").replace("_", "y")
    return token, token[:12]


def mint_jwt(
    secret: str, subject: str, handles: dict[str, str], ttl_seconds: int, algorithm: str = "HS256"
) -> str:
    now = utcnow()
    claims = {
        "sub": subject,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl_seconds)).timestamp()),
        "handles": handles,
    }
    return jwt.encode(claims, secret, algorithm=algorithm)


def verification_key(settings: Settings) -> str:
    """The key JWTs are checked with: the public key if configured, else the secret."""
    return settings.jwt_public_key or jwt_secret(settings)


def canonical_jwt(token: str) -> str | None:
    """The compact form of ``token`` (three base64url segments, no padding), ``None`` if
    it has no such form. pyjwt's decoding is lenient (padding, stray characters, unused
    trailing bits), so one signature has many spellings; only this one is accepted."""
    segments = token.split(".")
    if len(segments) != 3:
        return None
    try:
        return b".".join(base64url_encode(base64url_decode(s)) for s in segments).decode()
    except (binascii.Error, ValueError):
        return None


def _principal_from_jwt(ctx: Context, token: str) -> Principal:
    settings = ctx.settings
    if canonical_jwt(token) != token:
        raise Unauthenticated("Invalid token")
    key = verification_key(settings)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[settings.jwt_algorithm],
            # iat is informational: an issuer clock slightly ahead must not lock users out;
            # exp stays strict.
            options={"require": ["exp", "sub"], "verify_iat": False},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("Token expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated("Invalid token") from exc
    handles = claims.get("handles")
    if not isinstance(handles, dict) or not isinstance(claims.get("sub"), str):
        raise Unauthenticated("Invalid token claims")
    roles: dict[str, Role] = {}
    for handle, role in handles.items():
        try:
            roles[str(handle)] = Role(str(role).upper())
        except ValueError as exc:
            raise Unauthenticated(f"Unknown role in token: {role!r}") from exc
    try:
        expires_at = datetime.fromtimestamp(claims["exp"], UTC)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise Unauthenticated("Invalid token claims") from exc
    return Principal(subject=claims["sub"], kind="jwt", roles=roles, expires_at=expires_at)


def _check_pat(row: AccessToken | None, now: datetime) -> AccessToken:
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("Invalid token")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthenticated("Token expired")
    return row


async def _principal_from_pat(ctx: Context, token: str) -> Principal:
    now = utcnow()
    async with ctx.sessions() as session:
        row = _check_pat(
            (
                await session.execute(
                    select(AccessToken).where(col(AccessToken.token_hash) == hash_token(token))
                )
            ).scalar_one_or_none(),
            now,
        )
        if row.last_used_at is None or now - row.last_used_at > _LAST_USED_GRANULARITY:
            await session.execute(
                update(AccessToken)
                .where(col(AccessToken.handle) == row.handle, col(AccessToken.id) == row.id)
                .values(last_used_at=now)
            )
            await session.commit()
    return Principal(
        subject=f"pat:{row.id}",
        kind="pat",
        roles={row.handle: Role.CREATOR},
        scopes=frozenset(row.scopes),
        token_id=row.id,
        expires_at=row.expires_at,
    )


async def recheck(ctx: Context) -> None:
    """Unauthenticated when ``ctx.principal``'s token has expired or, for a PAT, was revoked
    since it was authenticated (long-lived connections: subscriptions)."""
    principal = ctx.principal
    if principal is None:
        return
    now = utcnow()
    if principal.expires_at is not None and principal.expires_at <= now:
        raise Unauthenticated("Token expired")
    if principal.kind == "pat":
        async with ctx.sessions() as session:
            _check_pat(await session.get(AccessToken, principal.token_id), now)


async def authenticate(ctx: Context, authorization: str | None) -> Principal | None:
    """``None`` without a header; Unauthenticated for a header that does not verify."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("Expected 'Authorization: Bearer <token>'")
    if token.startswith(PAT_PREFIX):
        return await _principal_from_pat(ctx, token)
    return _principal_from_jwt(ctx, token)
