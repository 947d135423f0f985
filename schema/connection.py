"""Relay connections: one generic ``Connection[T]`` and ``Edge[T]`` for every paginated list.

Strawberry names each use after its node (``Connection[Campaign]`` is ``CampaignConnection``,
``Edge[Campaign]`` is ``CampaignEdge``), so the schema keeps the names clients know.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import strawberry

from resolvers.pagination import Page

T = TypeVar("T")
R = TypeVar("R")


@strawberry.type(description="Relay page information.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last item.")

    @classmethod
    def of(cls, page: Page[Any]) -> PageInfo:
        return cls(has_next_page=page.has_next, end_cursor=page.end_cursor)


@strawberry.type(description="An edge of a Relay connection: one item and its cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque cursor of this item.")
    node: T = strawberry.field(description="The item.")


@strawberry.type(description="A page of items (Relay connection).")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="Items on this page.")
    page_info: PageInfo = strawberry.field(description="Pagination state.")
    total_count: int = strawberry.field(description="Items matching the filter.")

    @classmethod
    def of(cls, page: Page[R], node: Callable[[R], T]) -> Connection[T]:
        """The connection of a resolver's page, each item made a node by ``node``."""
        return cls(
            edges=[
                Edge(cursor=cursor, node=node(item))
                for item, cursor in zip(page.items, page.cursors, strict=True)
            ],
            page_info=PageInfo.of(page),
            total_count=page.total,
        )
