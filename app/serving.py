"""``funnelgate serve``: uvicorn with limits against abuse and a graceful stop.

Limits (settings ``http_*``): request body size (app/bodylimit.py), request head size and
the time a client may take to send it, keep-alive idle time, optionally the number of
concurrent connections, and how long a SIGTERM waits for in-flight requests.

uvicorn's fast HTTP parser (httptools) has no limit on the request head and no timeout on
it, so a client could send megabytes of headers or trickle them for ever; ``LimitedHttpTools``
adds both (431 and 408). On SIGTERM, uvicorn closes idle keep-alive connections in the same
step as it stops listening, which cuts off a request that was already sent on one of them
but not yet read; ``DrainingServer`` reads those first.
"""

from __future__ import annotations

import asyncio
import gc
import socket
from typing import Any

from uvicorn.config import Config
from uvicorn.server import Server
from uvicorn.supervisors import multiprocess

from app.settings import Settings, get_settings

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools comes with uvicorn[standard]
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


def _reply(status: int, reason: str, message: str) -> bytes:
    body = message.encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a refused request."""


if HttpToolsProtocol is not None:

    class LimitedHttpTools(HttpToolsProtocol):  # type: ignore[misc,valid-type]
        """httptools with a cap on the request head (the config's
        ``h11_max_incomplete_event_size``, which h11 applies itself) and a deadline for
        receiving it (``http_header_timeout_s``). Both answer and close the connection."""

        def __init__(self, config: Config, *args: Any, **kwargs: Any) -> None:
            super().__init__(config, *args, **kwargs)
            self._max_head = config.h11_max_incomplete_event_size or 16 * 1024
            # Read from the environment in each worker: the config pickles only by value.
            self._head_timeout = get_settings().http_header_timeout_s
            self._reading_head = True
            self._head_bytes = 0
            self._heads_done = 0
            self._head_timer: asyncio.TimerHandle | None = None
            self._refused = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_head_timer()  # a connection that never sends a request is closed

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_head_timer()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            if self._reading_head and self._head_timer is None:
                self._arm_head_timer()
            heads_done = self._heads_done
            super().data_received(data)
            if self._refused or self._heads_done != heads_done or not self._reading_head:
                return
            # The head is still incomplete: all of this chunk belongs to it.
            self._head_bytes += len(data)
            if self._head_bytes > self._max_head:
                self._refuse(431, "Request Header Fields Too Large", "Request head too large.")

        def on_headers_complete(self) -> None:
            self._disarm_head_timer()
            self._heads_done += 1
            self._reading_head = False
            self._head_bytes = 0
            size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
            if size > self._max_head:
                self._refuse(431, "Request Header Fields Too Large", "Request head too large.")
                raise _Refused  # no request cycle starts
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._reading_head = True

        def send_400_response(self, msg: str) -> None:
            if not self._refused:  # a refusal has already answered and closed
                super().send_400_response(msg)

        def _refuse(self, status: int, reason: str, message: str) -> None:
            self._refused = True
            self._disarm_head_timer()
            if not self.transport.is_closing():
                self.transport.write(_reply(status, reason, message))
                self.transport.close()

        def _arm_head_timer(self) -> None:
            self._disarm_head_timer()
            self._head_timer = self.loop.call_later(self._head_timeout, self._head_timed_out)

        def _disarm_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self.cycle is not None and not self.cycle.response_complete:
                self._arm_head_timer()  # a pipelined head behind a request in progress
                return
            self._refuse(408, "Request Timeout", "Request head not received in time.")


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
        proxy_headers=True,
        log_level=log_level.lower(),
        log_config=log_config,  # applied again in each worker process
        access_log=False,  # funnelgate.access logs requests, with route and request id
        http=LimitedHttpTools if HttpToolsProtocol is not None else "h11",
        h11_max_incomplete_event_size=settings.http_max_header_bytes,
        limit_concurrency=settings.http_limit_concurrency,
        timeout_keep_alive=settings.http_keep_alive_s,
        timeout_graceful_shutdown=settings.http_graceful_shutdown_s,
    )


def serve(config: Config) -> None:
    """What ``uvicorn.run`` does with a config, with a DrainingServer in every worker."""
    if config.workers > 1:
        # uvicorn builds its worker processes by this module-level name; the class is
        # pickled by reference, so the spawned workers import it from here.
        multiprocess.Process = DrainingProcess  # type: ignore[misc]
        multiprocess.Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    server = DrainingServer(config=config)
    server.run()
    if not server.started:
        raise SystemExit(3)  # uvicorn's STARTUP_FAILURE
