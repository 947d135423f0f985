"""The compiled pieces of ``schema/engine/compiled.py``: leaf serialisers, list and object
completers, and generated projections of leaf-only selections.

A completer returns the completed value, an awaitable of it, or IRREGULAR to hand the
value back to graphql-core, which it does only before anything with side effects ran.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLFloat,
    GraphQLInt,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLString,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Path, Undefined, gather_with_cancel
from strawberry.schema.schema_converter import GraphQLCoreConverter

IRREGULAR: Any = object()  # a completer's answer for "let graphql-core complete this one"
_MIN_INT, _MAX_INT = -(2**31), 2**31 - 1
_INF = float("inf")
# Entry kinds of an object plan.
LEAF, TREE, TYPENAME, CALL, RESOLVER = range(5)
# One field of an ObjectPlan: (kind, response name, getter, attribute, leaf / tree / call,
# return type, field details). What the middle four hold, or whether they are None,
# depends on the kind.
PlanEntry = tuple[int, str, Any, Any, Any, Any, FieldDetailsList]

Leaf = Callable[[Any], Any]  # value -> serialised value | IRREGULAR
Tree = Callable[[Any, Any, Path], Any]  # (executor, value, path) -> completed | IRREGULAR


# --------------------------------------------------------------------------- leaves


def serialiser(type_: Any, non_null: bool) -> Leaf:
    """Serialise like ``type_.coerce_output_value``; IRREGULAR where graphql-core would fail."""
    coerce = type_.coerce_output_value

    def general(value: Any) -> Any:
        if value is None or value is Undefined:
            return IRREGULAR if non_null else None
        if isinstance(value, Exception):
            return IRREGULAR
        try:
            coerced = coerce(value)
        except Exception:  # noqa: BLE001 - graphql-core reports it, with its path
            return IRREGULAR
        return IRREGULAR if coerced is None or coerced is Undefined else coerced

    # The fast paths return exactly what graphql-core's coercion returns for these values.
    if type_ is GraphQLInt:

        def complete_int(value: Any) -> Any:
            if type(value) is int and _MIN_INT <= value <= _MAX_INT:
                return value
            return general(value)

        return complete_int
    if type_ is GraphQLFloat:

        def complete_float(value: Any) -> Any:
            if type(value) is float and -_INF < value < _INF:
                return value
            return general(value)

        return complete_float
    if type_ is GraphQLString:

        def complete_string(value: Any) -> Any:
            return value if type(value) is str else general(value)

        return complete_string
    if type_ is GraphQLBoolean:

        def complete_boolean(value: Any) -> Any:
            return value if type(value) is bool else general(value)

        return complete_boolean
    members = getattr(type_, "wrapped_cls", None)
    if isinstance(type_, GraphQLEnumType) and members is not None:
        names: dict[Any, Any] = {}  # enum member -> name, filled as members show up

        def complete_enum(value: Any) -> Any:
            if type(value) is members:
                name = names.get(value)
                if name is None:
                    name = general(value)
                    if name is not IRREGULAR:
                        names[value] = name
                return name
            return general(value)

        return complete_enum
    return general


def leaf_as_tree(leaf: Leaf) -> Tree:
    def complete(ex: Any, value: Any, path: Path) -> Any:
        return leaf(value)

    return complete


def leaf_list(leaf: Leaf, non_null: bool) -> Tree:
    def complete(ex: Any, value: Any, path: Path) -> Any:
        if type(value) is not list and type(value) is not tuple:
            if value is None or value is Undefined:
                return IRREGULAR if non_null else None
            return IRREGULAR
        out: list[Any] = []
        append = out.append
        for item in value:
            completed = leaf(item)
            if completed is IRREGULAR:
                return IRREGULAR  # graphql-core completes the list, item by item
            append(completed)
        return out

    return complete


# --------------------------------------------------------------------------- objects


class ObjectPlan:
    """The fields of one selection on one object type, in response order.

    ``run`` mirrors graphql-core's ``execute_fields`` + ``execute_field``: same order of
    resolver calls, same error handling, same awaiting and gathering. A selection of leaves
    only also gets ``project``, generated code that returns the result dict or IRREGULAR.
    """

    __slots__ = ("entries", "origin", "project", "type", "type_name")

    def __init__(self, type_: GraphQLObjectType, entries: list[PlanEntry]) -> None:
        self.type = type_
        self.type_name = type_.name
        self.entries = entries
        self.project = _projection(entries, type_.name)
        self.origin = _plain_class(type_)

    def run(self, ex: Any, source: Any, path: Path) -> Any:
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        is_awaitable = ex.is_awaitable
        parent_type, type_name = self.type, self.type_name
        try:
            for kind, name, getter, attr, complete, return_type, fdl in self.entries:
                if kind == LEAF:
                    try:
                        completed = complete(getter(source, attr))
                    except Exception:  # noqa: BLE001 - the attribute read failed
                        completed = IRREGULAR
                    if completed is not IRREGULAR:
                        results[name] = completed
                        continue
                    ex.plans.fallbacks += 1
                    completed = ex.execute_field(
                        parent_type, source, fdl, Path(path, name, type_name), None
                    )
                elif kind == TREE:
                    field_path = Path(path, name, type_name)
                    try:
                        value = getter(source, attr)
                    except Exception:  # noqa: BLE001 - graphql-core reads it again, reports it
                        value = IRREGULAR
                    if value is IRREGULAR:
                        completed = IRREGULAR
                    else:
                        try:
                            completed = complete(ex, value, field_path)
                        except Exception as raw:
                            ex.handle_field_error(raw, return_type, fdl, field_path)
                            results[name] = None
                            continue
                    if completed is IRREGULAR:
                        ex.plans.fallbacks += 1
                        completed = ex.execute_field(parent_type, source, fdl, field_path, None)
                    elif type(completed) is not dict and is_awaitable(completed):
                        completed = await_completed(ex, completed, return_type, fdl, field_path)
                elif kind == TYPENAME:
                    results[name] = type_name
                    continue
                elif kind == CALL:
                    completed = complete(ex, parent_type, source, fdl, Path(path, name, type_name))
                else:
                    completed = ex.execute_field(
                        parent_type, source, fdl, Path(path, name, type_name), None
                    )
                    if completed is Undefined:
                        continue
                results[name] = completed
                if is_awaitable(completed):
                    awaitable_fields.append(name)
        except Exception:
            if awaitable_fields:
                ex.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                field = awaitable_fields[0]
                results[field] = await results[field]
            else:
                awaited = await gather_with_cancel(*(results[f] for f in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()


async def await_completed(ex: Any, completed: Any, return_type: Any, fdl: Any, path: Path) -> Any:
    try:
        return await completed
    except Exception as raw:  # noqa: BLE001 - a field error, as graphql-core handles it
        ex.handle_field_error(raw, return_type, fdl, path)
        return None


def object_tree(plan: ObjectPlan, non_null: bool) -> Tree:
    run, project, origin = plan.run, plan.project, plan.origin

    def complete(ex: Any, value: Any, path: Path) -> Any:
        if project is not None and type(value) is origin:
            result = project(value)
            if result is not IRREGULAR:
                return result
        if value is None or value is Undefined:
            return IRREGULAR if non_null else None
        if isinstance(value, Exception):
            return IRREGULAR
        return run(ex, value, path)

    return complete


def object_list(
    plan: ObjectPlan, item_type: Any, item_non_null: bool, fdl: FieldDetailsList, non_null: bool
) -> Tree:
    run, project, origin = plan.run, plan.project, plan.origin

    def complete(ex: Any, value: Any, path: Path) -> Any:
        if type(value) is not list and type(value) is not tuple:
            if value is None or value is Undefined:
                return IRREGULAR if non_null else None
            return IRREGULAR
        if project is not None:  # no resolvers below: nothing runs twice if it falls back
            out = []
            for item in value:
                result = project(item) if type(item) is origin else IRREGULAR
                if result is IRREGULAR:
                    break
                out.append(result)
            else:
                return out
        is_awaitable = ex.is_awaitable
        # Everything that could send an item back to graphql-core is checked before any
        # item runs a resolver: a fallback must not run resolvers twice.
        for item in value:
            if type(item) is origin:
                continue
            if item is None or item is Undefined:
                if item_non_null:
                    return IRREGULAR
            elif isinstance(item, Exception) or is_awaitable(item):
                return IRREGULAR
        completed_results: list[Any] = []
        append = completed_results.append
        awaitable_indices: list[int] = []
        try:
            for index, item in enumerate(value):
                item_path = Path(path, index, None)
                if item is None or item is Undefined:
                    append(None)
                    continue
                try:
                    completed = run(ex, item, item_path)
                    if type(completed) is not dict and is_awaitable(completed):
                        completed = await_completed(ex, completed, item_type, fdl, item_path)
                        awaitable_indices.append(index)
                    append(completed)
                except Exception as raw:
                    ex.handle_field_error(raw, item_type, fdl, item_path)
                    append(None)
        except Exception:
            if awaitable_indices:
                ex.settle_in_background([completed_results[i] for i in awaitable_indices])
            raise
        if not awaitable_indices:
            return completed_results

        async def get_completed_results() -> list[Any]:
            if len(awaitable_indices) == 1:
                index = awaitable_indices[0]
                completed_results[index] = await completed_results[index]
            else:
                awaited = await gather_with_cancel(
                    *(completed_results[i] for i in awaitable_indices)
                )
                for index, result in zip(awaitable_indices, awaited, strict=True):
                    completed_results[index] = result
            return completed_results

        return get_completed_results()

    return complete


# --------------------------------------------------------------------------- generated code

# Python tests that hold exactly when graphql-core's coercion returns the value unchanged.
_FAST_CHECKS = {
    GraphQLInt.name: "type({v}) is int and -2147483648 <= {v} <= 2147483647",
    GraphQLFloat.name: "type({v}) is float and -_INF < {v} < _INF",
    GraphQLString.name: "type({v}) is str",
    GraphQLBoolean.name: "type({v}) is bool",
}
_BUILTIN_SCALARS = {GraphQLInt, GraphQLFloat, GraphQLString, GraphQLBoolean}


def _projection(entries: list[PlanEntry], type_name: str) -> Callable[[Any], Any] | None:
    """For a selection of leaves only: a function source -> result dict | IRREGULAR."""
    if any(entry[0] not in (LEAF, TYPENAME) for entry in entries):
        return None
    namespace: dict[str, Any] = {"IRREGULAR": IRREGULAR, "_INF": _INF}
    reads, checks, items = [], [], []
    for i, (kind, name, getter, attr, leaf, return_type, _) in enumerate(entries):
        if kind == TYPENAME:
            items.append(f"{name!r}: {type_name!r}")
            continue
        if getter is getattr and attr.isidentifier() and not keyword.iskeyword(attr):
            reads.append(f"        v{i} = source.{attr}")
        else:
            namespace[f"g{i}"], namespace[f"a{i}"] = getter, attr
            reads.append(f"        v{i} = g{i}(source, a{i})")
        namespace[f"c{i}"] = leaf
        named = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
        fast = _FAST_CHECKS.get(named.name) if named in _BUILTIN_SCALARS else None
        indent = "    "
        if fast is not None:
            checks.append(f"    if not ({fast.format(v=f'v{i}')}):")
            indent = "        "
        checks.append(f"{indent}v{i} = c{i}(v{i})")
        checks.append(f"{indent}if v{i} is IRREGULAR:")
        checks.append(f"{indent}    return IRREGULAR")
        items.append(f"{name!r}: v{i}")
    source = "\n".join(
        [
            "def project(source):",
            "    try:",
            *(reads or ["        pass"]),
            "    except Exception:",
            "        return IRREGULAR",
            *checks,
            "    return {" + ", ".join(items) + "}",
        ]
    )
    exec(compile(source, f"<projection {type_name}>", "exec"), namespace)  # noqa: S102
    project: Callable[[Any], Any] = namespace["project"]
    return project


def _plain_class(type_: GraphQLObjectType) -> type | None:
    """The Python class behind a Strawberry type when its instances are plainly not
    awaitable and not exceptions, so that a type check can stand for those two tests."""
    definition = type_.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    origin = getattr(definition, "origin", None)
    if not isinstance(origin, type) or issubclass(origin, BaseException):
        return None
    if any(hasattr(origin, name) for name in ("__await__", "__getattr__")):
        return None
    return origin
