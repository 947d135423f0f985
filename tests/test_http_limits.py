"""Limits against abuse: request body size (in the app, by Content-Length or while a chunked
body streams), request head size and time, idle connections and concurrency (in
``funnelgate serve``, tested against a real process)."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.gateway_proc import Gateway, gateway_env
from tests.inprocess import app_client, running_app

CAP = 4096


@pytest.fixture
async def limited(settings, backend) -> AsyncIterator[httpx.AsyncClient]:
    if backend != "sqlite":
        pytest.skip("body limits do not depend on the database")
    async with running_app(settings, http_max_body_bytes=CAP) as app:
        async with app_client(app, base_url="http://t") as client:
            yield client


async def test_a_declared_body_over_the_cap_is_413_in_each_route_familys_shape(limited):
    big = b"x" * (CAP + 1)
    r = await limited.post("/graphql", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["errors"][0]["extensions"]["code"] == "payload_too_large"
    r = await limited.post("/v2/handles/acme/campaigns", content=big)
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    assert r.headers["connection"] == "close"
    r = await limited.request("GET", "/v1/funnel", content=big)
    assert r.status_code == 413 and r.json()["status"] == "error"


async def test_a_chunked_body_is_counted_as_it_streams(limited):
    async def chunks(total: int) -> AsyncIterator[bytes]:
        yield b"{"
        for _ in range(total // 1024):
            yield b" " * 1024

    r = await limited.post(
        "/graphql", content=chunks(3 * CAP), headers={"content-type": "application/json"}
    )
    assert "content-length" not in r.request.headers
    assert r.status_code == 413, r.text
    assert r.json()["errors"][0]["extensions"]["code"] == "payload_too_large"


async def test_bodies_up_to_the_cap_pass(limited):
    query = "{ __typename }" + " " * (CAP - 200)
    r = await limited.post("/graphql", json={"query": query})
    assert r.status_code == 200 and r.json()["data"] == {"__typename": "Query"}


# -- the real server ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp: Path = tmp_path_factory.mktemp("limits")
    env = gateway_env(
        database_url=f"sqlite+aiosqlite:///{tmp / 'fg.db'}",
        journal_dir=str(tmp / "journal"),
        storage_url=str(tmp / "objects"),
        webhook_worker_enabled="false",
        http_max_header_bytes="4096",
        http_header_timeout_s="1",
        http_keep_alive_s="1",
        http_limit_concurrency="8",
    )
    gateway = Gateway(env, tmp / "gateway.log").start()
    try:
        yield gateway
    finally:
        gateway.stop()


def _connect(gateway: Gateway) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=15)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def _request(headers: str = "", body: bytes = b"", path: str = "/healthz") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n{headers}\r\n".encode() + body


def test_a_request_head_over_the_cap_is_431_and_the_connection_closes(server):
    with _connect(server) as sock:
        sock.sendall(_request(f"X-Pad: {'a' * 5000}\r\n"))
        reply = _read_until_closed(sock)
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:100]
    with _connect(server) as sock:
        sock.sendall(_request(f"X-Pad: {'a' * 2000}\r\nConnection: close\r\n"))
        assert _read_until_closed(sock).startswith(b"HTTP/1.1 200 ")


def test_a_head_sent_in_small_pieces_is_capped_before_it_completes(server):
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        try:
            for _ in range(10):
                sock.sendall(b"X-Pad: " + b"a" * 1000 + b"\r\n")
                time.sleep(0.01)
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = _read_until_closed(sock)
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:100]


def test_a_client_slow_to_send_its_head_gets_408(server):
    with _connect(server) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")  # and never the blank line
        reply = _read_until_closed(sock)
        waited = time.monotonic() - started
    assert reply.startswith(b"HTTP/1.1 408 "), reply[:100]
    assert 0.8 < waited < 10


def test_connections_that_send_nothing_or_idle_after_a_response_are_closed(server):
    with _connect(server) as sock:
        started = time.monotonic()
        assert _read_until_closed(sock).startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - started < 10
    with _connect(server) as sock:
        sock.sendall(_request())
        started = time.monotonic()
        reply = _read_until_closed(sock)  # keep-alive: closed by the server when idle
        assert reply.startswith(b"HTTP/1.1 200 ")
        assert time.monotonic() - started < 10


def test_a_declared_body_over_the_cap_is_refused_before_it_is_sent(server):
    with _connect(server) as sock:
        sock.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: 3000000\r\n\r\n"
        )
        reply = _read_until_closed(sock)  # answered without waiting for the 3 MB
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:100]
    assert b'"payload_too_large"' in reply


def test_over_the_concurrency_limit_requests_get_503(server):
    idle = [_connect(server) for _ in range(8)]
    try:
        time.sleep(0.2)
        with _connect(server) as sock:
            sock.sendall(_request("Connection: close\r\n"))
            reply = _read_until_closed(sock)
        assert reply.startswith(b"HTTP/1.1 503 "), reply[:100]
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 15
    while True:  # the server notices the closed connections
        with _connect(server) as sock:
            sock.sendall(_request("Connection: close\r\n"))
            if _read_until_closed(sock).startswith(b"HTTP/1.1 200 "):
                break
        assert time.monotonic() < deadline, "the server did not recover from the limit"
        time.sleep(0.1)
