"""Introspection limits and a per-schema cache of introspection results.

Introspection answers grow with the schema, not with any page size, so they get limits of
their own: an operation selects ``__schema`` at most once, and ``__schema``/``__type``
selections obey the depth limit, where a chain of ``ofType`` counts as one level (type
references nest that deep only to unwrap lists and non-nulls; graphql-core's and GraphiQL's
queries ask for 7 to 9 of them). Operations that select only introspection are answered from
a small LRU per schema: the schema does not change while the process runs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

import orjson
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    SelectionSetNode,
)
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension

from schema.engine.cost import TOO_COMPLEX

_META_FIELDS = frozenset({"__schema", "__type", "__typename"})


def introspection_problem(
    document: DocumentNode, operation_name: str | None, max_depth: int
) -> str | None:
    """Why the operation's introspection is refused, or None."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    walker = _Walker(document)
    roots = walker.root_fields(operation.selection_set)
    schemas = {(f.alias or f.name).value for f in roots if f.name.value == "__schema"}
    if len(schemas) > 1:
        return "An operation may select __schema only once; introspect the schema once."
    for field in roots:
        if field.name.value in ("__schema", "__type") and walker.depth(field, False) > max_depth:
            return f"Introspection exceeds the maximum operation depth of {max_depth}."
    return None


class _Walker:
    def __init__(self, document: DocumentNode) -> None:
        self.fragments = {
            node.name.value: node
            for node in document.definitions
            if isinstance(node, FragmentDefinitionNode)
        }
        self._depths: dict[tuple[str, bool], int] = {}
        self._visiting: set[str] = set()

    def root_fields(self, selection_set: SelectionSetNode) -> list[FieldNode]:
        fields: list[FieldNode] = []
        seen: set[str] = set()
        stack = [selection_set]
        while stack:
            for selection in stack.pop().selections:
                if isinstance(selection, FieldNode):
                    fields.append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    stack.append(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    if name not in seen and name in self.fragments:
                        seen.add(name)
                        stack.append(self.fragments[name].selection_set)
        return fields

    def depth(self, field: FieldNode, in_of_type: bool) -> int:
        """Levels of selection sets from ``field`` down; an ``ofType`` chain counts once.

        Fragment depths are memoised, so the walk stays linear in the document."""
        if field.selection_set is None:
            return 0
        of_type = field.name.value == "ofType"
        own = 0 if of_type and in_of_type else 1
        return own + self.selections(field.selection_set, of_type)

    def selections(self, selection_set: SelectionSetNode, in_of_type: bool) -> int:
        deepest = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                deepest = max(deepest, self.depth(selection, in_of_type))
            elif isinstance(selection, InlineFragmentNode):
                deepest = max(deepest, self.selections(selection.selection_set, in_of_type))
            elif isinstance(selection, FragmentSpreadNode):
                deepest = max(deepest, self.fragment(selection.name.value, in_of_type))
        return deepest

    def fragment(self, name: str, in_of_type: bool) -> int:
        fragment = self.fragments.get(name)
        if fragment is None or name in self._visiting:  # unknown or cyclic: validation says so
            return 0
        key = (name, in_of_type)
        if key not in self._depths:
            self._visiting.add(name)
            self._depths[key] = self.selections(fragment.selection_set, in_of_type)
            self._visiting.discard(name)
        return self._depths[key]


class IntrospectionResults:
    """Error-free results of introspection-only operations, by query text, operation name
    and variables; the least recently used is dropped first."""

    def __init__(self, maxsize: int = 16) -> None:
        self.maxsize = maxsize
        self.hits = 0
        self._results: OrderedDict[tuple[str, str | None, bytes], ExecutionResult] = OrderedDict()

    def get(self, key: tuple[str, str | None, bytes]) -> ExecutionResult | None:
        result = self._results.get(key)
        if result is not None:
            self._results.move_to_end(key)
            self.hits += 1
        return result

    def put(self, key: tuple[str, str | None, bytes], result: ExecutionResult) -> None:
        self._results[key] = result
        self._results.move_to_end(key)
        while len(self._results) > self.maxsize:
            self._results.popitem(last=False)


class IntrospectionLimiter(SchemaExtension):
    """Applies ``introspection_problem`` and answers introspection-only operations from
    ``results``. List it after ``ValidationCache``."""

    def __init__(self, max_depth: int, results: IntrospectionResults | None = None) -> None:
        self.max_depth = max_depth
        self.results = results

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if not context.pre_execution_errors and context.graphql_document is not None:
            problem = introspection_problem(
                context.graphql_document, context.operation_name, self.max_depth
            )
            if problem is not None:
                context.pre_execution_errors = [
                    GraphQLError(problem, extensions={"code": TOO_COMPLEX})
                ]
        yield

    def on_execute(self) -> Iterator[None]:
        key = self._key()
        if key is None or self.results is None:
            yield
            return
        context = self.execution_context
        cached = self.results.get(key)
        if cached is not None:
            context.result = cached  # Strawberry skips execution when a result is set
            yield
            return
        yield
        result = context.result
        if isinstance(result, ExecutionResult) and not result.errors and result.data:
            self.results.put(key, result)

    def _key(self) -> tuple[str, str | None, bytes] | None:
        """The cache key of an operation that selects only introspection, else None."""
        context = self.execution_context
        document, query = context.graphql_document, context.query
        if document is None or query is None:
            return None
        operation = get_operation_ast(document, context.operation_name)
        if operation is None or operation.operation.value != "query":
            return None
        roots = _Walker(document).root_fields(operation.selection_set)
        if not roots or any(field.name.value not in _META_FIELDS for field in roots):
            return None
        try:
            variables = orjson.dumps(context.variables or {}, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            return None
        return query, context.operation_name, variables
