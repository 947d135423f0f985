"""The one exception hierarchy raised by resolvers; mapped to HTTP and GraphQL once each."""

from __future__ import annotations


class DomainError(Exception):
    """A failure a client can act on: a stable ``code``, an HTTP ``status`` and a message."""

    status = 400
    code = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidInput(DomainError):
    status = 400
    code = "invalid_request"


class Unauthenticated(DomainError):
    status = 401
    code = "unauthenticated"

    def __init__(self, message: str = "Unauthenticated", *, code: str | None = None) -> None:
        super().__init__(message, code=code)


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"


class Overloaded(DomainError):
    """The ingest queue is full; the client should retry after ``retry_after`` seconds."""

    status = 503
    code = "overloaded"

    def __init__(self, message: str = "Server busy, retry shortly", retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(DomainError):
    """A dependency (the database) is down; the client should retry later."""

    status = 503
    code = "unavailable"

    def __init__(self, message: str = "Service unavailable", retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after
