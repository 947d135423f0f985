"""Refuse a request whose path or query string is not clean text, before anything runs.

A NUL, a percent escape that is not UTF-8 (``%FF``, an encoded surrogate) or a control
character in a URL is never a valid identifier or parameter, and PostgreSQL cannot even
compare a NUL: such a request gets 400 ``invalid_request`` in its route family's shape, so
no handler, query or queued click ever sees it.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import refusal

# Paths hold identifiers: no control character at all. Query strings may carry multi-line
# text (a GraphQL document on GET), so tab, LF and CR pass there.
_PATH_CONTROL = re.compile(rb"[\x00-\x1f]")
_QUERY_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# For a server that gives no raw_path: the decoded path itself.
_PATH_TEXT_PROBLEM = re.compile("[\x00-\x1f\ud800-\udfff]")


def raw_problem(raw: bytes, control: re.Pattern[bytes]) -> str | None:
    """Why the percent-decoded ``raw`` is not clean text, or None."""
    decoded = unquote_to_bytes(raw) if b"%" in raw else raw
    if b"\x00" in decoded:
        return "must not contain NUL characters"
    if control.search(decoded):
        return "must not contain control characters"
    if not decoded.isascii():
        try:
            decoded.decode("utf-8")  # strict: an encoded surrogate is not UTF-8 either
        except UnicodeDecodeError:
            return "must be valid UTF-8 once percent-decoded"
    return None


# Printable ASCII without '%': nothing to decode, nothing to refuse (nearly every request).
_PLAIN = re.compile(rb"[\x20-\x24\x26-\x7e]*")


def request_text_problem(scope: Scope) -> str | None:
    """What is wrong with the request's path or query string, as a sentence, or None."""
    raw_path = scope.get("raw_path")
    if (
        raw_path is not None
        and _PLAIN.fullmatch(raw_path)
        and _PLAIN.fullmatch(scope.get("query_string", b""))
    ):
        return None
    if raw_path is not None:
        problem = raw_problem(raw_path.split(b"?", 1)[0], _PATH_CONTROL)
    else:
        problem = (
            "must not contain control characters or unpaired surrogates"
            if _PATH_TEXT_PROBLEM.search(scope["path"])
            else None
        )
    if problem is not None:
        return f"The request path {problem}."
    problem = raw_problem(scope.get("query_string", b""), _QUERY_CONTROL)
    if problem is not None:
        return f"The query string {problem}."
    return None


class RequestTextMiddleware:
    """Pure ASGI: 400 for a request whose path or query string ``request_text_problem``
    refuses; a WebSocket handshake is closed instead (the server answers 403)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        problem = request_text_problem(scope)
        if problem is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008, "reason": problem})
            return
        await refusal(scope["path"], 400, "invalid_request", problem)(scope, receive, send)
