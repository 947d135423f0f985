"""Compiled execution: plain-data subtrees completed by projections built once per document.

graphql-core completes every field through resolve info, middleware, argument coercion and
``complete_value``. Where a selection's fields are plain attribute reads (Strawberry's
default resolver, no arguments, no directives, no abstract types) the result is a fixed
projection of the Python value: it is compiled once per (document, return type, selection)
and reused (``schema/engine/_completion.py`` holds the compiled pieces). Resolver fields inside such
a subtree are called as graphql-core's ``execute_field`` would call them; a Strawberry
resolver whose arguments are literals gets them coerced once. Anything irregular (an
abstract type, ``@include``/``@skip``, a null in a non-null position, a value that does not
serialise, an attribute that raises) falls back to graphql-core's completion of that field,
so data and errors are exactly what graphql-core gives.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from enum import Enum
from typing import Any, ClassVar

from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    OperationType,
    get_named_type,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList, collect_subfields
from graphql.execution.values import get_argument_values
from graphql.language import (
    FragmentSpreadNode,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    SelectionSetNode,
    VariableNode,
)
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.arguments import convert_arguments

from schema.engine._completion import (
    CALL,
    IRREGULAR,
    LEAF,
    RESOLVER,
    TREE,
    TYPENAME,
    ObjectPlan,
    PlanEntry,
    Tree,
    await_completed,
    leaf_as_tree,
    leaf_list,
    object_list,
    object_tree,
    serialiser,
)


class CompiledExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context with compiled completion of plain-data subtrees.

    Use ``compiled_execution_context()``: each schema gets its own plan cache.
    """

    plans: ClassVar[PlanCache]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._document: DocumentPlans | None = None
        # (id(type), id(field details)) -> (type, field details, completer): per execution,
        # holding the keys' objects so that their ids stay theirs.
        self._completers: dict[tuple[int, int], tuple[Any, Any, Tree | None]] = {}
        manager = self.middleware_manager
        if (
            self.operation.operation is not OperationType.SUBSCRIPTION
            and self.abort_signal is None
            and not (manager is not None and manager.middlewares)
        ):
            self._document = self.plans.for_operation(self.operation, self.fragment_definitions)

    def complete_value(
        self,
        return_type: Any,
        field_details_list: FieldDetailsList,
        info: Any,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        if self._document is not None and position_context is None:
            key = (id(return_type), id(field_details_list))
            entry = self._completers.get(key)
            if entry is None:
                complete = self._document.completer(self, return_type, field_details_list)
                entry = self._completers[key] = (return_type, field_details_list, complete)
            if entry[2] is not None:
                completed = entry[2](self, result, path)
                if completed is not IRREGULAR:
                    return completed
                self.plans.fallbacks += 1
        return super().complete_value(
            return_type, field_details_list, info, path, result, position_context
        )


def compiled_execution_context(maxsize: int = 256) -> type[CompiledExecutionContext]:
    """A CompiledExecutionContext class with its own bounded plan cache."""
    return type(
        "CompiledExecutionContext", (CompiledExecutionContext,), {"plans": PlanCache(maxsize)}
    )


class PlanCache:
    """Compiled plans per operation document; the least recently used is dropped first."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.fallbacks = 0  # completions handed back to graphql-core (for tests and tuning)
        self._documents: OrderedDict[int, DocumentPlans] = OrderedDict()

    def __len__(self) -> int:
        return len(self._documents)

    def for_operation(self, operation: Any, fragments: dict[str, Any]) -> DocumentPlans:
        # ParserCache hands out one document object per query text; an entry keeps its
        # operation alive, so the id cannot be reused by another document meanwhile.
        key = id(operation)
        plans = self._documents.get(key)
        if plans is None or plans.operation is not operation:
            plans = self._documents[key] = DocumentPlans(operation, fragments)
            while len(self._documents) > self.maxsize:
                self._documents.popitem(last=False)
        self._documents.move_to_end(key)
        return plans


class DocumentPlans:
    """The completers of one operation, by return type and the field nodes they complete."""

    def __init__(self, operation: Any, fragments: dict[str, Any]) -> None:
        self.operation = operation
        self.fragments = fragments  # keeps the fragments' nodes (and their ids) alive
        self.completers: dict[tuple[int, tuple[int, ...]], Tree | None] = {}

    def completer(self, executor: Any, return_type: Any, fdl: FieldDetailsList) -> Tree | None:
        key = (id(return_type), tuple(id(fd.node) for fd in fdl))
        try:
            return self.completers[key]
        except KeyError:
            complete = self.completers[key] = _Compiler(executor).tree(return_type, fdl)
            return complete


# --------------------------------------------------------------------------- compiling


class _Compiler:
    def __init__(self, executor: Any) -> None:
        self.ex = executor

    def tree(self, type_: Any, fdl: FieldDetailsList) -> Tree | None:
        """A completer for any output type, or None where graphql-core must complete."""
        non_null = isinstance(type_, GraphQLNonNull)
        named = type_.of_type if non_null else type_
        if is_leaf_type(named):
            return leaf_as_tree(serialiser(named, non_null))
        if isinstance(named, GraphQLList):
            return self.list(named.of_type, fdl, non_null)
        if isinstance(named, GraphQLObjectType):
            plan = self.object_plan(named, fdl)
            return None if plan is None else object_tree(plan, non_null)
        return None  # interfaces and unions

    def list(self, item_type: Any, fdl: FieldDetailsList, non_null: bool) -> Tree | None:
        item_non_null = isinstance(item_type, GraphQLNonNull)
        named = item_type.of_type if item_non_null else item_type
        if is_leaf_type(named):
            return leaf_list(serialiser(named, item_non_null), non_null)
        if isinstance(named, GraphQLObjectType):
            plan = self.object_plan(named, fdl)
            if plan is not None:
                return object_list(plan, item_type, item_non_null, fdl, non_null)
        return None  # lists of lists, of abstract types

    def object_plan(self, type_: GraphQLObjectType, fdl: FieldDetailsList) -> ObjectPlan | None:
        ex = self.ex
        if type_.is_type_of is not None:
            return None
        for fd in fdl:
            if fd.defer_usage is not None or fd.fragment_variable_values is not None:
                return None
            if fd.node.selection_set and _has_directives(fd.node.selection_set, ex.fragments):
                return None  # what is selected depends on the variables
        grouped, new_defer_usages, _ = collect_subfields(
            ex.schema,
            ex.fragments,
            ex.variable_values,
            ex.operation,
            type_,
            fdl,
            ex.hide_suggestions,
        )
        if new_defer_usages:
            return None
        entries: list[PlanEntry] = []
        for name, child in grouped.items():
            field_name = child[0].node.name.value
            if field_name == "__typename":
                entries.append((TYPENAME, name, None, None, None, None, child))
                continue
            field_def = ex.schema.get_field(type_, field_name)
            read = _plain_read(field_def, child)
            if read is None:
                call = None if field_def is None else _resolver_call(ex, field_def, child)
                kind = RESOLVER if call is None else CALL
                entries.append((kind, name, None, None, call, None, child))
                continue
            getter, attr = read
            named = field_def.type
            named = named.of_type if isinstance(named, GraphQLNonNull) else named
            if is_leaf_type(named):
                serialise = serialiser(named, isinstance(field_def.type, GraphQLNonNull))
                entries.append((LEAF, name, getter, attr, serialise, field_def.type, child))
                continue
            complete = self.tree(field_def.type, child)
            if complete is None:
                entries.append((RESOLVER, name, None, None, None, None, child))
            else:
                entries.append((TREE, name, getter, attr, complete, field_def.type, child))
        return ObjectPlan(type_, entries)


def _plain_read(
    field_def: Any, fdl: FieldDetailsList
) -> tuple[Callable[[Any, str], Any], str] | None:
    """(getter, attribute) when Strawberry resolves the field with its default resolver."""
    if field_def is None or field_def.args or fdl[0].node.arguments:
        return None
    resolve = field_def.resolve
    field = field_def.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if field is None or resolve is None or not getattr(resolve, "_is_default", False):
        return None
    # Only a basic field (no resolver, no permission or field extensions) gets this
    # resolver, which returns field.default_resolver(source, field.python_name).
    if not field.is_basic_field or resolve.__name__ != "_get_basic_result":
        return None
    return field.default_resolver, field.python_name


def _resolver_call(ex: Any, field_def: Any, fdl: FieldDetailsList) -> Callable[..., Any] | None:
    """graphql-core's ``execute_field`` for a Strawberry resolver whose arguments are
    literals of leaf types: they are coerced and converted once, here, not per call."""
    field = field_def.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    resolve = field_def.resolve
    strawberry_schema = getattr(ex.schema, "_strawberry_schema", None)
    if (
        field is None
        or field.base_resolver is None
        or field.extensions  # permission classes, field extensions
        or getattr(resolve, "__name__", None) not in ("_resolver", "_async_resolver")
        or strawberry_schema is None
        or strawberry_schema.exception_handlers
        or field.is_subscription
    ):
        return None
    node = fdl[0].node
    if any(_has_variables(argument.value) for argument in node.arguments or ()):
        return None
    if any(not is_leaf_type(get_named_type(arg.type)) for arg in field_def.args.values()):
        return None
    try:
        coerced = get_argument_values(field_def, node, ex.variable_values)
        converted = convert_arguments(
            coerced,
            field.arguments,
            scalar_registry=strawberry_schema.schema_converter.scalar_registry,
            config=strawberry_schema.config,
        )
    except Exception:  # noqa: BLE001 - graphql-core raises it again, as a field error
        return None
    if not all(isinstance(v, _IMMUTABLE) for v in converted.values()):
        return None
    resolver = field.base_resolver
    self_arg = resolver.self_parameter is not None
    source_names = [p.name for p in (resolver.parent_parameter, resolver.root_parameter) if p]
    info_name = resolver.info_parameter.name if resolver.info_parameter else None
    info_class = strawberry_schema.config.info_class
    return_type, nodes = field_def.type, [fd.node for fd in fdl]

    def call(ex: Any, parent_type: Any, source: Any, fdl: FieldDetailsList, path: Path) -> Any:
        info = ex.build_resolve_info(field_def, nodes, parent_type, path)
        try:
            kwargs = dict(converted)
            for name in source_names:
                kwargs[name] = source
            if info_name is not None:
                kwargs[info_name] = info_class(_raw_info=info, _field=field)
            result = resolver(source, **kwargs) if self_arg else resolver(**kwargs)
            if ex.is_awaitable(result):
                return ex.complete_awaitable_value(return_type, fdl, info, path, result, None)
            completed = ex.complete_value(return_type, fdl, info, path, result, None)
            if ex.is_awaitable(completed):
                return await_completed(ex, completed, return_type, fdl, path)
        except Exception as raw:
            ex.handle_field_error(raw, return_type, fdl, path)
            return None
        return completed

    return call


_IMMUTABLE = (str, int, float, bool, type(None), Enum)


def _has_variables(value: Any) -> bool:
    if isinstance(value, VariableNode):
        return True
    if isinstance(value, ListValueNode):
        return any(_has_variables(v) for v in value.values)
    if isinstance(value, ObjectValueNode):
        return any(_has_variables(f.value) for f in value.fields)
    return False


def _has_directives(selection_set: SelectionSetNode, fragments: dict[str, Any]) -> bool:
    """Any directive on a selection of this level (through fragments)."""
    seen: set[str] = set()
    stack = [selection_set]
    while stack:
        for selection in stack.pop().selections:
            if selection.directives:
                return True
            if isinstance(selection, InlineFragmentNode):
                stack.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                details = fragments.get(name)
                if name in seen or details is None:
                    continue
                seen.add(name)
                if details.variable_signatures or details.definition.directives:
                    return True
                stack.append(details.definition.selection_set)
    return False
