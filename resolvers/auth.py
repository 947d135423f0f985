"""Turn a bearer token (JWT or PAT) into a Principal; mint both kinds of token."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

import jwt
from sqlalchemy import select, update

from db.tables import AccessToken
from resolvers.context import Context
from resolvers.domain import Role, as_utc, utcnow
from resolvers.errors import Unauthenticated
from resolvers.principal import Principal

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


def _principal_from_jwt(ctx: Context, token: str) -> Principal:
    settings = ctx.settings
    key = settings.jwt_public_key or settings.jwt_secret
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
    return Principal(subject=claims["sub"], kind="jwt", roles=roles)


async def _principal_from_pat(ctx: Context, token: str) -> Principal:
    now = utcnow()
    async with ctx.sessions() as session:
        row = (
            await session.execute(
                select(AccessToken).where(AccessToken.token_hash == hash_token(token))
            )
        ).scalar_one_or_none()
        if row is None or row.revoked_at is not None:
            raise Unauthenticated("Invalid token")
        if row.expires_at is not None and as_utc(row.expires_at) <= now:
            raise Unauthenticated("Token expired")
        if row.last_used_at is None or now - as_utc(row.last_used_at) > _LAST_USED_GRANULARITY:
            await session.execute(
                update(AccessToken)
                .where(AccessToken.handle == row.handle, AccessToken.id == row.id)
                .values(last_used_at=now)
            )
            await session.commit()
    return Principal(
        subject=f"pat:{row.id}",
        kind="pat",
        roles={row.handle: Role.CREATOR},
        scopes=frozenset(row.scopes),
        token_id=row.id,
    )


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
