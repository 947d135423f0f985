"""What resolvers need from the gateway's long-lived services, as small protocols.

The services themselves live in app/runtime/; a resolver sees only these ports, through
its Context, so it can be called (and tested) with any implementation or none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from db.tables import ClickRecord
    from resolvers.accounts import AccountInfo
    from resolvers.conversions import ConversionInput, ConversionResult
    from resolvers.errors import DomainError
    from resolvers.personalization import RuleSpec
    from resolvers.redirects import LinkTarget


class ObjectNotFound(KeyError):
    """No object is stored under the key."""


class ObjectStore(Protocol):
    """Where uploaded page assets live (a local directory or S3)."""

    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def delete(self, key: str) -> None:
        """Remove the object; a missing key is not an error."""
        ...


class ConversionWriter(Protocol):
    """The group-commit writer: conversions share a transaction with concurrent ingest."""

    async def record_conversions(
        self,
        account: AccountInfo,
        handle: str,
        events: Sequence[ConversionInput | DomainError],
        *,
        is_test: bool = False,
    ) -> list[ConversionResult]: ...


class ChangeWaiter(Protocol):
    """Wakes a live subscription when a write touches its campaign."""

    async def wait(self, handle: str, campaign_id: str, timeout: float) -> bool: ...


class LinkLookup(Protocol):
    """The redirect's read-through cache of links, by (handle, slug)."""

    async def get(self, key: tuple[str, str]) -> LinkTarget | None: ...


class RulesLookup(Protocol):
    """The redirect's read-through cache of a handle's enabled rules."""

    async def get(self, key: str) -> list[RuleSpec]: ...


class ClickRecorder(Protocol):
    """Queues a click for the group-commit writer; returns once it is durable."""

    async def record(self, click: ClickRecord) -> None: ...
