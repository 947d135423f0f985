"""A static cost for each operation, checked before execution and reported in extensions.

Every field costs 1, times the number of times it can run: a list field multiplies what it
selects by its ``first``/``last``/``limit`` argument (or ``DEFAULT_LIST_SIZE``); on a
connection field (an object with such an argument) the page size multiplies the list inside
it (``edges``), not ``pageInfo``. Introspection has a price too: ``__schema`` costs
``SCHEMA_COST`` whatever it selects (its lists are the schema's, not pages; an operation may
select it once, see ``schema/engine/introspection.py``), ``__type`` and what it selects count like
any other field, and only ``__typename`` is free. Fragments on several types all count, so
the figure errs high.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    SelectionSetNode,
    TypeMetaFieldDef,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
)
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension

TOO_COMPLEX = "QUERY_TOO_COMPLEX"
DEFAULT_LIST_SIZE = 10
# A full introspection resolves thousands of fields: a fifth of the default budget.
SCHEMA_COST = 2000
SIZE_ARGUMENTS = ("first", "last", "limit")


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None = None,
    variables: dict[str, Any] | None = None,
) -> int | None:
    """The cost of the operation to run, or ``None`` when the document names none."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    root = schema.get_root_type(operation.operation)
    if root is None:
        return None
    defaults = {
        definition.variable.name.value: definition.default_value
        for definition in operation.variable_definitions or ()
    }
    fragments = {
        node.name.value: node
        for node in document.definitions
        if isinstance(node, FragmentDefinitionNode)
    }
    return _CostWalker(schema, fragments, variables or {}, defaults).selections(
        operation.selection_set, root, page=None
    )


class _CostWalker:
    """Cost per unit of multiplier; fragment costs are memoised, so reuse stays linear."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
        defaults: Mapping[str, ValueNode | None],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.defaults = defaults
        self._fragment_costs: dict[tuple[str, str, int | None], int] = {}
        self._visiting: set[str] = set()

    def selections(self, selection_set: SelectionSetNode, parent: Any, page: int | None) -> int:
        """``page``: the size a connection above asked for, taken by the next list down."""
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent, page)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selections(selection.selection_set, target, page)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value, page)
        return total

    def fragment(self, name: str, page: int | None) -> int:
        fragment = self.fragments.get(name)
        if fragment is None or name in self._visiting:  # unknown or cyclic: validation says so
            return 0
        target = self.schema.get_type(fragment.type_condition.name.value)
        key = (name, getattr(target, "name", ""), page)
        if key not in self._fragment_costs:
            self._visiting.add(name)
            self._fragment_costs[key] = self.selections(fragment.selection_set, target, page)
            self._visiting.discard(name)
        return self._fragment_costs[key]

    def field(self, node: FieldNode, parent: Any, page: int | None) -> int:
        name = node.name.value
        if name == "__typename":
            return 0
        if name == "__schema":
            return SCHEMA_COST
        definition = (getattr(parent, "fields", None) or {}).get(name)
        if definition is None and name == "__type":
            definition = TypeMetaFieldDef
        if definition is None or node.selection_set is None:
            return 1
        size = self._size(node, definition)
        factor = 1
        if is_list_type(get_nullable_type(definition.type)):
            factor = next(n for n in (size, page, DEFAULT_LIST_SIZE) if n is not None)
            page = None
        elif size is not None:  # a connection: its list (edges) takes the page size
            page = size
        children = self.selections(node.selection_set, get_named_type(definition.type), page)
        return 1 + factor * children

    def _size(self, node: FieldNode, definition: Any) -> int | None:
        """The page size a field asks for; ``None`` for a field that takes none."""
        names = [arg for arg in SIZE_ARGUMENTS if arg in definition.args]
        if not names:
            return None
        for argument in node.arguments or ():
            if argument.name.value in names:
                value = self._int(argument.value)
                if value is not None:
                    return max(value, 0)
        for arg in names:
            default = definition.args[arg].default_value
            if isinstance(default, int) and not isinstance(default, bool):
                return max(default, 0)
        return DEFAULT_LIST_SIZE

    def _int(self, node: ValueNode | None) -> int | None:
        if isinstance(node, IntValueNode):
            return int(node.value)
        if isinstance(node, VariableNode):
            name = node.name.value
            if name in self.variables:
                value = self.variables[name]
                return value if isinstance(value, int) and not isinstance(value, bool) else None
            return self._int(self.defaults.get(name))
        return None


class QueryCostLimiter(SchemaExtension):
    """Refuses operations costing more than ``max_cost``; reports ``extensions.cost``.

    List it after ``ValidationCache``: it prices only documents that validated.
    """

    def __init__(self, max_cost: int) -> None:
        self.max_cost = max_cost
        self.cost: int | None = None

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if not context.pre_execution_errors and context.graphql_document is not None:
            self.cost = operation_cost(
                context.schema._schema,
                context.graphql_document,
                context.operation_name,
                context.variables,
            )
            if self.cost is not None and self.cost > self.max_cost:
                context.pre_execution_errors = [
                    GraphQLError(
                        f"Query cost {self.cost} exceeds the limit of {self.max_cost}; "
                        "ask for smaller pages or fewer nested lists.",
                        extensions={"code": TOO_COMPLEX, "cost": self.cost, "limit": self.max_cost},
                    )
                ]
        yield

    def get_results(self) -> dict[str, Any]:
        if self.cost is None:
            return {}
        return {"cost": {"requested": self.cost, "limit": self.max_cost}}
