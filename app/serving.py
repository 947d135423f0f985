"""``funnelgate serve``: uvicorn with limits against abuse and a graceful stop.

Limits (settings ``http_*``): request body size (app/middleware/bodylimit.py), request
head size, the time a client may take to send the head and then the body, keep-alive idle
time, optionally the number of concurrent connections, and how long a SIGTERM waits for
in-flight requests.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import socket
from dataclasses import dataclass
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import Server
from uvicorn.supervisors import multiprocess

from app.settings import Settings


@dataclass(frozen=True)
class HttpLimits:
    """What ``LimitedHttpTools`` enforces; travels (pickled) to each worker process."""

    max_head_bytes: int
    head_timeout_s: float
    body_timeout_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpLimits:
        return cls(
            max_head_bytes=settings.http_max_header_bytes,
            head_timeout_s=settings.http_header_timeout_s,
            body_timeout_s=settings.http_body_timeout_s,
        )


def _reply(status: int, reason: str, message: str) -> bytes:
    body = message.encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


HEAD_TOO_LARGE = _reply(431, "Request Header Fields Too Large", "Request head too large.")
HEAD_TIMEOUT = _reply(408, "Request Timeout", "Request head not received in time.")
BODY_TIMEOUT = _reply(408, "Request Timeout", "Request body not received in time.")

# What the parser is reading on a connection.
_IDLE, _HEAD, _BODY, _UPGRADED = "idle", "head", "body", "upgraded"


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a refused request."""


class LimitedHttpTools(HttpToolsProtocol):
    """httptools with a cap on the request head and deadlines for its head and body.

    Refusals (431, 408, and uvicorn's own 400 for a malformed request) wait for the
    responses to the requests before them on the connection, then close it."""

    def __init__(self, *args: Any, limits: HttpLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = limits
        self._reading = _IDLE
        self._heads = 0  # heads begun on this connection
        self._head_bytes = 0  # of the head being read, counted by whole reads
        self._deadline: asyncio.TimerHandle | None = None
        self._deadline_for: tuple[str, int] | None = None  # (what, which head)
        self._refusal: bytes | None = None  # sent once no response is pending

    # Narrower than asyncio.Protocol's BaseTransport, as in uvicorn's own protocol.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # The first head's clock runs from the connection: one that sends nothing closes.
        self._arm((_HEAD, 1), self._limits.head_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:
            return  # refused: nothing more is read
        reading, heads = self._reading, self._heads
        super().data_received(data)
        if self._refusal is not None:
            return
        if self._reading == _HEAD:
            if self._heads == heads:  # the whole read continues the head
                self._head_bytes += len(data)
            elif self._heads == heads + 1 and reading == _IDLE:  # the read began it
                self._head_bytes = len(data)
            # else it began after another request in this read: with at most len(data)
            # bytes, and from the next read on it is counted in full.
            if self._head_bytes > self._limits.max_head_bytes:
                self._refuse(HEAD_TOO_LARGE)
                return
        self._watch()

    # Parser callbacks: track what is being read.

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._heads += 1
        self._reading = _HEAD
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._reading = _BODY
        size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if size > self._limits.max_head_bytes:
            self._refuse(HEAD_TOO_LARGE)
            raise _Refused  # stops the parser: no request cycle starts
        super().on_headers_complete()
        if self.parser.should_upgrade() and self._should_upgrade():
            self._reading = _UPGRADED  # a websocket protocol takes the connection

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading = _IDLE

    # Refusals wait for the responses already owed on the connection.

    def send_400_response(self, msg: str) -> None:
        if self._refusal is None:  # else a refusal has answered, or will
            self._refuse(_reply(400, "Bad Request", msg))

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._refusal is not None and not self._response_owed():
            self._close(self._refusal)

    def _response_owed(self) -> bool:
        cycle = self.cycle
        return bool(self.pipeline) or (
            cycle is not None and not (cycle.response_complete or cycle.disconnected)
        )

    def _refuse(self, reply: bytes) -> None:
        """Answer ``reply`` and close, once the requests before it are answered."""
        self._disarm()
        self._refusal = reply
        answer: bytes | None = reply
        cycle = self.cycle
        if cycle is not None and cycle.more_body and not cycle.response_complete:
            # What failed is this request's own body, which the application will never
            # get whole: it reads a disconnect, and what it may still send is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
            if self.pipeline and self.pipeline[0][0] is cycle:
                self.pipeline.popleft()  # queued behind others: it never starts
                return
            if cycle.response_started:
                answer = None  # too late to answer
        if not self._response_owed():
            self._close(answer)

    def _close(self, reply: bytes | None) -> None:
        self._disarm()
        if not self.transport.is_closing():
            if reply is not None:
                self.transport.write(reply)
            self.transport.close()

    # Deadlines: one at a time, on the head or body the parser is waiting for.

    def _watch(self) -> None:
        what = (self._reading, self._heads)
        if what == self._deadline_for or what == (_IDLE, 0):
            return  # already timed; or only blank lines so far: the connection's clock
        self._disarm()
        if self._reading == _HEAD:
            self._arm(what, self._limits.head_timeout_s)
        elif self._reading == _BODY:
            self._arm(what, self._limits.body_timeout_s)
        # idle: the application's turn, then uvicorn's keep-alive timeout

    def _arm(self, what: tuple[str, int], seconds: float) -> None:
        self._deadline_for = what
        self._deadline = self.loop.call_later(seconds, self._timed_out, what, seconds)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self._deadline_for = None

    def _timed_out(self, what: tuple[str, int], seconds: float) -> None:
        self._deadline = self._deadline_for = None
        cycle = self.cycle
        if self.flow.read_paused or (
            what[0] == _BODY and cycle is not None and cycle.waiting_for_100_continue
        ):
            self._arm(what, seconds)  # the server is not reading: not the client's delay
        elif what[0] == _HEAD:
            self._refuse(HEAD_TIMEOUT)
        elif cycle.response_started:  # answered without the body: too late for a 408
            cycle.disconnected = True
            self._close(None)
        else:
            self._refuse(BODY_TIMEOUT)


def limited_http(settings: Settings) -> Any:
    """The protocol factory for uvicorn's ``http=``, with the limits from ``settings``."""
    return functools.partial(LimitedHttpTools, limits=HttpLimits.from_settings(settings))


class DrainingServer(Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        # Everything built at start (app, schema, caches, pools) lives as long as the
        # process: frozen, the cyclic GC stops walking it in every full collection, which
        # otherwise pauses all requests for tens of milliseconds under load.
        gc.collect()
        gc.freeze()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Accept connections already queued, stop listening, and give requests already
        # sent on open connections a moment to be read: uvicorn then lets them finish
        # (keep-alive off) instead of closing their connection as idle.
        await asyncio.sleep(0)
        for server in self.servers:
            server.close()
        await asyncio.sleep(0.05)
        await super().shutdown(sockets)


class DrainingProcess(multiprocess.Process):
    """A ``--workers N`` worker whose server is a DrainingServer."""

    @property
    def server(self) -> Server:
        if self._server is None:
            self._server = DrainingServer(config=self.config)
        return self._server


def uvicorn_config(
    settings: Settings, *, host: str, port: int, workers: int, log_level: str, log_config: Any
) -> Config:
    return Config(
        "app.main:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=False,  # the app applies FUNNELGATE_TRUSTED_PROXIES itself (app/main.py)
        log_level=log_level.lower(),
        log_config=log_config,  # applied again in each worker process
        access_log=False,  # funnelgate.access logs requests, with route and request id
        http=limited_http(settings),
        limit_concurrency=settings.http_limit_concurrency,
        timeout_keep_alive=settings.http_keep_alive_s,
        timeout_graceful_shutdown=settings.http_graceful_shutdown_s,
    )


def serve(config: Config) -> None:
    """What ``uvicorn.run`` does with a config, with a DrainingServer in every worker."""
    if config.workers > 1:
        # uvicorn builds its worker processes by this module-level name; the class is
        # pickled by reference, so the spawned workers import it from here.
        multiprocess.Process = DrainingProcess  # type: ignore[misc]  # replaces a class
        multiprocess.Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    server = DrainingServer(config=config)
    server.run()
    if not server.started:
        raise SystemExit(3)  # uvicorn's STARTUP_FAILURE
