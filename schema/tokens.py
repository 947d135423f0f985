"""Personal access token management (ADMIN): types and the Query/Mutation fields."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from db.tables import AccessToken as TokenRow
from resolvers import tokens
from resolvers.context import Context

Ctx = Info[Context, None]


@strawberry.type(description="A personal access token; its secret is never shown after creation.")
class AccessToken:
    id: str = strawberry.field(description="Token id, used to revoke it.")
    name: str | None = strawberry.field(description="Optional label.")
    prefix: str = strawberry.field(description="The token's first characters, to recognise it.")
    scopes: list[str] = strawberry.field(description="Scopes granted, e.g. analytics.read.")
    created_at: datetime = strawberry.field(description="Creation time (UTC).")
    last_used_at: datetime | None = strawberry.field(
        description="Last authenticated use (UTC, to the minute); null if never used."
    )
    expires_at: datetime | None = strawberry.field(description="Expiry (UTC); null: never.")
    revoked_at: datetime | None = strawberry.field(description="Revocation time; null: active.")

    @classmethod
    def from_row(cls, row: TokenRow) -> AccessToken:
        return cls(
            id=row.id,
            name=row.name,
            prefix=row.prefix,
            scopes=list(row.scopes),
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
        )


@strawberry.type(description="A new token: the secret `token` appears here and nowhere else.")
class CreateAccessTokenPayload:
    token: str = strawberry.field(description="The bearer token; store it now.")
    access_token: AccessToken = strawberry.field(description="The token's metadata.")


@strawberry.type
class TokenQuery:
    @strawberry.field(description="Personal access tokens of a handle, newest first (ADMIN).")
    async def access_tokens(self, info: Ctx, handle: str) -> list[AccessToken]:
        rows = await tokens.list_pats(info.context, handle)
        return [AccessToken.from_row(r) for r in rows]


@strawberry.type
class TokenMutation:
    @strawberry.mutation(description="Create a personal access token bound to a handle (ADMIN).")
    async def create_access_token(
        self,
        info: Ctx,
        handle: str,
        scopes: list[str],
        name: str | None = None,
        expires_in: Annotated[
            int | None,
            strawberry.argument(description="Lifetime in seconds; omit for no expiry."),
        ] = None,
    ) -> CreateAccessTokenPayload:
        issued = await tokens.issue_pat(
            info.context, handle, scopes, expires_in=expires_in, name=name
        )
        return CreateAccessTokenPayload(
            token=issued.token, access_token=AccessToken.from_row(issued.row)
        )

    @strawberry.mutation(description="Revoke a token; it is refused from the next request on.")
    async def revoke_access_token(self, info: Ctx, handle: str, id: str) -> AccessToken:
        return AccessToken.from_row(await tokens.revoke_pat(info.context, handle, id))
