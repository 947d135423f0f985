"""The irregular cases of compiled execution, on a small schema built to hit each of them.

Values that do not serialise, nulls in non-null positions, attributes that raise,
exceptions and awaitables as values, resolvers that raise deep in plain subtrees, abstract
types, ``@include``/``@skip`` and custom scalars: the compiled executor must hand each back
to graphql-core and end with the very data and errors graphql-core gives.
"""

from __future__ import annotations

import asyncio
import enum
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import strawberry
from strawberry.http import process_result
from strawberry.scalars import JSON

from schema.engine.compiled import compiled_execution_context


@strawberry.enum
class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Leaves:
    i: int
    f: float
    s: str
    b: bool
    color: Color
    at: datetime
    blob: JSON
    maybe_i: int | None
    ints: list[int]
    maybe_ints: list[int | None]


@strawberry.type
class Node:
    name: str
    leaves: Leaves
    maybe_leaves: Leaves | None
    children: list[Node]
    maybe_children: list[Node | None]
    child: Node | None

    @strawberry.field
    def doubled(self, n: int = 2) -> int:
        return len(self.name) * n

    @strawberry.field
    async def later(self) -> str:
        await asyncio.sleep(0)
        return self.name.upper()

    @strawberry.field
    def boom(self) -> str:
        raise ValueError(f"boom at {self.name}")

    @strawberry.field
    def maybe_boom(self) -> str | None:
        raise ValueError(f"maybe boom at {self.name}")

    @strawberry.field
    async def later_boom(self) -> str | None:
        await asyncio.sleep(0)
        raise ValueError(f"later boom at {self.name}")


@strawberry.interface
class Animal:
    name: str


@strawberry.type
class Dog(Animal):
    barks: bool


@strawberry.type
class Cat(Animal):
    lives: int


class Raising:
    """Quacks like Leaves, but reading ``s`` raises."""

    def __getattribute__(self, name: str) -> Any:
        if name == "s":
            raise RuntimeError("cannot read s")
        return getattr(GOOD_LEAVES, name)


def leaves(**changes: Any) -> Leaves:
    values = dict(
        i=7,
        f=1.5,
        s="x",
        b=True,
        color=Color.RED,
        at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        blob={"a": [1, None, "z"]},
        maybe_i=None,
        ints=[1, 2, 3],
        maybe_ints=[1, None, 3],
    )
    return Leaves(**(values | changes))


GOOD_LEAVES = leaves()


def node(name: str, **changes: Any) -> Node:
    values = dict(
        name=name,
        leaves=GOOD_LEAVES,
        maybe_leaves=None,
        children=[],
        maybe_children=[],
        child=None,
    )
    return Node(**(values | changes))


async def _awaited(value: Any) -> Any:
    return value


def tree() -> Node:
    """Each irregular value sits in a nullable position, so that each reports an error."""
    return node(
        "root",
        maybe_leaves=leaves(s=None),  # null in a non-null leaf under a nullable object
        children=[node("x"), node("y")],
        maybe_children=[
            node("a", maybe_leaves=leaves(i=2**40)),  # Int out of range
            node("b", maybe_leaves=leaves(f=float("nan"), color="blue")),  # NaN; enum value
            node("c", maybe_leaves=leaves(ints=[1, "2", None])),  # coercible, then null item
            node("d", maybe_leaves=leaves(maybe_ints=(4, "x"), maybe_i="12")),  # bad item
            node("e", maybe_leaves=Raising()),  # an attribute that raises
            node("f", maybe_leaves=leaves(b=1, s=3.0, at="not a datetime")),  # bad scalar
            None,
            ValueError("an exception as a value"),
            node("g", leaves=leaves(i=2**40)),  # non-null leaves: the item goes null
            node("h"),
        ],
        child=node("i", children=[node("j", leaves=leaves(color="green"))]),  # no such enum
    )


@strawberry.type
class Query:
    @strawberry.field
    def root(self) -> Node:
        return tree()

    @strawberry.field
    def maybe_root(self) -> Node | None:
        return tree()

    @strawberry.field
    def nodes_with_null(self) -> list[Node] | None:
        return [node("k"), None, node("l")]  # type: ignore[list-item]

    @strawberry.field
    def awaitable_items(self) -> list[Node]:
        return [_awaited(node("m")), node("n")]  # type: ignore[list-item]

    @strawberry.field
    def generator_items(self) -> list[Node]:
        return (node(n) for n in "op")  # type: ignore[return-value]

    @strawberry.field
    def pets(self) -> list[Animal]:
        return [Dog(name="rex", barks=True), Cat(name="tom", lives=9)]

    @strawberry.field
    def plain(self) -> Leaves:
        return GOOD_LEAVES


LEAVES = "i f s b color at blob maybeI ints maybeInts"
NODE = f"""name doubled later maybeBoom leaves {{ {LEAVES} }} maybeLeaves {{ {LEAVES} }}
  children {{ name leaves {{ {LEAVES} }} }}
  maybeChildren {{ name maybeLeaves {{ {LEAVES} }} leaves {{ i }} }}
  child {{ name children {{ name leaves {{ color }} }} }}"""

QUERIES = [
    ("everything, nullable root", f"{{ maybeRoot {{ {NODE} }} }}", {}),
    ("everything, non-null root", f"{{ root {{ {NODE} }} }}", {}),
    ("a raising resolver in a non-null position", "{ maybeRoot { name boom } }", {}),
    (
        "raising resolvers in lists",
        "{ maybeRoot { maybeChildren { name maybeBoom laterBoom } } plain { i } }",
        {},
    ),
    ("null item in a nullable list of non-null objects", "{ nodesWithNull { name } }", {}),
    ("awaitable and generator items", "{ awaitableItems { name } generatorItems { name } }", {}),
    ("interface", "{ pets { __typename name ... on Dog { barks } ... on Cat { lives } } }", {}),
    (
        "directives with variables",
        """query($yes: Boolean!) { plain { i @include(if: $yes) s @skip(if: $yes)
           ... on Leaves @include(if: $yes) { f } } }""",
        {"yes": True},
    ),
    (
        "directives with variables, other way",
        """query($yes: Boolean!) { plain { i @include(if: $yes) s @skip(if: $yes)
           ... on Leaves @include(if: $yes) { f } } }""",
        {"yes": False},
    ),
    ("typename and aliases", "{ plain { __typename a: i b: i c: color } }", {}),
    (
        "arguments",
        "query($n: Int!) { root { doubled(n: 3) d2: doubled(n: $n) later } }",
        {"n": 5},
    ),
]


def schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    stock = strawberry.Schema(query=Query, types=[Dog, Cat])
    compiled = strawberry.Schema(
        query=Query, types=[Dog, Cat], execution_context_class=compiled_execution_context()
    )
    return stock, compiled


@pytest.mark.parametrize(("name", "query", "variables"), QUERIES, ids=[q[0] for q in QUERIES])
async def test_irregular_values_give_graphql_cores_data_and_errors(name, query, variables):
    stock, compiled = schemas()
    for _ in range(2):  # the second run uses the cached plans
        expected = await stock.execute(query, variables)
        got = await compiled.execute(query, variables)
        assert orjson.dumps(process_result(got)) == orjson.dumps(process_result(expected))


async def test_plans_are_compiled_once_per_document_and_bounded():
    _, compiled = schemas()
    plans = compiled.execution_context_class.plans
    plans.maxsize = 2
    for query in ("{ plain { i } }", "{ plain { s } }", "{ plain { i } }", "{ plain { b } }"):
        assert not (await compiled.execute(query)).errors
    assert len(plans) == 2
    before = plans.fallbacks
    result = await compiled.execute(f"{{ root {{ {NODE} }} }}")
    assert result.errors and plans.fallbacks > before  # irregular values went back


async def test_a_regular_tree_never_falls_back():
    _, compiled = schemas()
    plans = compiled.execution_context_class.plans
    result = await compiled.execute(
        f"{{ plain {{ {LEAVES} }} root {{ name children {{ name leaves {{ {LEAVES} }} }} }} }}"
    )
    assert not result.errors
    assert plans.fallbacks == 0
