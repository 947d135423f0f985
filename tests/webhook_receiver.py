"""A real HTTP server on 127.0.0.1 for webhook deliveries: it records every request."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from tests.live_server import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def json(self) -> dict[str, Any]:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    """A minimal HTTP/1.1 server on 127.0.0.1 that records every request.

    ``fail_next`` answers that many requests with 500; ``delay`` holds each answer back;
    before ``start`` (or after ``stop``) nothing listens, so connections are refused.
    """

    port: int = field(default_factory=free_port)
    path: str = field(default_factory=lambda: f"/hook/{uuid.uuid4().hex[:8]}")
    fail_next: int = 0
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    @property
    def delivered(self) -> list[Received]:
        """Requests this receiver answered with 2xx, on its own path."""
        return [r for r in self.requests if r.status == 200 and r.path == self.path]

    @property
    def delivered_ids(self) -> list[str]:
        """The event ids of the delivered requests, in order."""
        return [r.json["id"] for r in self.delivered]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            _method, path, _ = head[0].split(" ", 2)
            headers = {}
            for line in head[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if self.delay:
                await asyncio.sleep(self.delay)
            status = 200
            if self.fail_next > 0:
                self.fail_next -= 1
                status = 500
            self.requests.append(Received(path, headers, body, status))
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".encode()
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
