"""Who is calling, and what a call may do: the one place that decides access."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from resolvers.domain import Role
from resolvers.errors import Forbidden, Unauthenticated


@dataclass(frozen=True)
class Access:
    """What an operation needs: a minimum JWT role and, for PATs, one of ``scopes``."""

    role: Role
    scopes: tuple[str, ...] = ()


READ_CAMPAIGNS = Access(Role.VIEWER, ("campaigns.read", "campaigns.write"))
WRITE_CAMPAIGNS = Access(Role.CREATOR, ("campaigns.write",))
TEST_CONVERSION = Access(Role.CREATOR, ("campaigns.write", "conversions.write"))
WRITE_CONVERSIONS = Access(Role.CREATOR, ("conversions.write",))
READ_ANALYTICS = Access(Role.CREATOR, ("analytics.read", "analytics.*"))
WRITE_SETTINGS = Access(Role.ADMIN)
READ_PAGES = Access(Role.CREATOR, ("pages.read", "pages.write"))
WRITE_PAGES = Access(Role.CREATOR, ("pages.write",))
ADMIN = Access(Role.ADMIN)


@dataclass(frozen=True)
class Principal:
    subject: str
    kind: str  # "jwt" or "pat"
    roles: dict[str, Role] = field(default_factory=dict)
    scopes: frozenset[str] = frozenset()
    token_id: str | None = None
    expires_at: datetime | None = None  # a JWT's exp; open subscriptions end there

    def may(self, handle: str, access: Access) -> bool:
        if handle not in self.roles:
            return False
        if self.kind == "pat":
            return any(scope in self.scopes for scope in access.scopes)
        return self.roles[handle].rank >= access.role.rank

    def handles_with(self, access: Access) -> list[str]:
        return [h for h in self.roles if self.may(h, access)]


def authorize(principal: Principal | None, handle: str, access: Access) -> Principal:
    """Raise unless ``principal`` may perform ``access`` on ``handle``."""
    if principal is None:
        raise Unauthenticated()
    if handle not in principal.roles:
        raise Forbidden(f"This token has no access to handle '{handle}'.")
    if not principal.may(handle, access):
        if principal.kind == "pat":
            needed = " or ".join(access.scopes) or "a JWT"
            raise Forbidden(f"This token lacks the required scope ({needed}).")
        raise Forbidden(f"This operation needs the {access.role.value} role or above.")
    return principal
