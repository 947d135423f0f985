"""Refuse request bodies over ``http_max_body_bytes`` before any handler reads them.

Pure ASGI. A declared ``Content-Length`` over the cap is answered with 413 at once, in the
error shape of the route family, without reading the body. A body without a length
(chunked) is counted as it streams; past the cap the handler's read fails and the client
gets the same 413. The REST helpers keep their own 2 MiB check on what they parse.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import refusal


class BodyTooLarge(Exception):
    pass


def too_large(path: str, limit: int) -> Response:
    # The unread body stays on the connection: the server must not read it as a request.
    message = f"Request body exceeds {limit} bytes."
    return refusal(path, 413, "payload_too_large", message, headers={"Connection": "close"})


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None:
            # The server frames the body by its length, so it cannot be longer than declared.
            if length.strip().isdigit() and int(length) > self.max_bytes:
                await too_large(scope["path"], self.max_bytes)(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await too_large(scope["path"], self.max_bytes)(scope, receive, send)
