"""The one place mapping resolver errors to GraphQL: ``extensions.code``, the rest masked."""

from __future__ import annotations

import logging
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from resolvers.errors import DomainError

log = logging.getLogger("funnelgate.graphql")


class DomainErrorExtension(MaskErrors):
    """Domain errors keep their message and gain ``extensions.code``; anything unexpected is
    logged and masked; validation errors pass through unchanged."""

    def __init__(self) -> None:
        super().__init__(error_message="Unexpected error.")

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        out: list[GraphQLError] = []
        for error in errors:
            original = error.original_error
            if isinstance(original, DomainError):
                out.append(
                    GraphQLError(
                        original.message,
                        nodes=error.nodes,
                        source=error.source,
                        positions=error.positions,
                        path=error.path,
                        original_error=original,
                        extensions={"code": original.code, "status": original.status},
                    )
                )
            elif original is not None and not isinstance(original, GraphQLError):
                log.error("unexpected GraphQL error", exc_info=original)
                masked = self.anonymise_error(error)
                masked.extensions = {"code": "internal_error"}
                out.append(masked)
            else:
                if error.extensions is None or "code" not in error.extensions:
                    error.extensions = {
                        **(error.extensions or {}),
                        "code": "graphql_validation_failed",
                    }
                out.append(error)
        return out


class GatewaySchema(strawberry.Schema):
    """Strawberry logs every error of a result at ERROR level. A client's mistake (a
    validation error, a refused input, a domain error with its code) is its sender's
    problem: logged at INFO without a traceback; only unexpected errors stay errors."""

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        unexpected = []
        for error in errors:
            original = error.original_error
            if original is None or isinstance(original, DomainError | GraphQLError):
                code = (error.extensions or {}).get("code") or getattr(original, "code", None)
                log.info("graphql request refused (%s): %s", code, error.message)
            else:
                unexpected.append(error)
        super().process_errors(unexpected, execution_context)
