"""A websocket connection's token is checked again before each operation it runs.

Over HTTP every request authenticates afresh. A websocket authenticates once, at
``connection_init``, and may then run queries and mutations for hours: a revoked PAT or an
expired JWT must stop there too. Before each operation on such a connection the principal
is re-checked; one that no longer holds is dropped for the rest of the connection, so every
protected field answers ``unauthenticated`` (subscriptions re-check before each push too).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from strawberry.extensions import SchemaExtension

from resolvers.auth import recheck
from resolvers.errors import Unauthenticated


class RecheckLongLivedToken(SchemaExtension):
    async def on_operation(self) -> AsyncIterator[None]:
        ctx = self.execution_context.context
        if getattr(ctx, "long_lived", False) and ctx.principal is not None:
            try:
                await recheck(ctx)
            except Unauthenticated:
                ctx.principal = None
        yield
