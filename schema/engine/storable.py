"""Refuses GraphQL input the databases cannot store, before any resolver runs.

Every string literal of the document and every value of the variables and extensions is
checked against ``resolvers/storable``: a NUL, a lone surrogate or JSON nested too deep is
the sender's ``invalid_request``, on HTTP and on the websocket alike, so no resolver (and no
statement) ever sees one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, StringValueNode, ValidationRule
from strawberry.extensions import AddValidationRules

from resolvers.errors import InvalidInput
from resolvers.storable import json_problem, unstorable_reason

INVALID = {"code": InvalidInput.code, "status": InvalidInput.status}


class StorableStrings(ValidationRule):
    """Every string literal (arguments, input fields, variable defaults) is storable."""

    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        reason = unstorable_reason(node.value)
        if reason is not None:
            self.report_error(GraphQLError(f"String value {reason}.", node, extensions=INVALID))


def request_problem(variables: Any, extensions: Any) -> str | None:
    """Why a request's variables or extensions cannot be accepted, or None."""
    for name, value in (("variables", variables), ("extensions", extensions)):
        if value is not None:
            problem = json_problem(value)
            if problem is not None:
                return f"{name}.{problem}"
    return None


class StorableInput(AddValidationRules):
    """``StorableStrings`` for the document (cached with the rest of validation) and a check
    of the variables and extensions. List it after ``ValidationCache``."""

    def __init__(self) -> None:
        super().__init__([StorableStrings])

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if not context.pre_execution_errors:
            problem = request_problem(context.variables, context.operation_extensions)
            if problem is not None:
                context.pre_execution_errors = [GraphQLError(problem, extensions=INVALID)]
        yield
