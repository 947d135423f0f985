"""Request bodies over a real socket (``funnelgate serve``): any body up to the cap is answered
by the application, never refused as a too-large head; one over the cap gets 413; a body
that trickles gets 408 within ``http_body_timeout_s``; a client that leaves mid-body is its
own doing (no error logged, nothing written). Refusals of a later request on a keep-alive
connection come after the answers to the requests before it."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest

from resolvers.auth import mint_jwt
from tests.gateway_proc import Gateway, create_account, gateway_env

LIMIT = 2 * 1024 * 1024  # the default http_max_body_bytes
HEAD_CAP = 32 * 1024  # the default http_max_header_bytes
BODY_TIMEOUT = 2.0
JWT_SECRET = "bodies-test-secret-that-is-long-enough-for-hs256-0123456789"
KIB = 1024
CAMPAIGN = "spring-sale"


class Deployment:
    def __init__(self, gateway: Gateway, handle: str, token: str) -> None:
        self.gateway = gateway
        self.handle = handle
        self.token = token


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tmp: Path = tmp_path_factory.mktemp("bodies")
    env = gateway_env(
        database_url=f"sqlite+aiosqlite:///{tmp / 'fg.db'}",
        jwt_secret=JWT_SECRET,
        journal_dir=str(tmp / "journal"),
        storage_url=str(tmp / "objects"),
        webhook_worker_enabled="false",
        rate_limit_enabled="false",
        http_header_timeout_s="1",
        http_body_timeout_s=str(BODY_TIMEOUT),
    )
    gateway = Gateway(env, tmp / "gateway.log").start()
    try:
        handle = f"bodies-{uuid.uuid4().hex[:8]}"
        create_account(env, handle, "B")
        token = mint_jwt(JWT_SECRET, "bodies", {handle: "CREATOR"}, 3600)
        r = httpx.post(
            f"{gateway.base_url}/v2/handles/{handle}/campaigns",
            json={"campaignId": CAMPAIGN, "goalType": "PRODUCT_SALE", "status": "ACTIVE"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert r.status_code == 201, r.text
        yield Deployment(gateway, handle, token)
    finally:
        gateway.stop()


@pytest.fixture
def server(deployment: Deployment) -> Gateway:
    return deployment.gateway


# -- a raw HTTP/1.1 client ------------------------------------------------------------------


def _connect(gateway: Gateway) -> socket.socket:
    return socket.create_connection(("127.0.0.1", gateway.port), timeout=15)


def _post(path: str, body: bytes, headers: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{headers}\r\n"
    ).encode() + body


def _get(path: str = "/healthz", headers: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n{headers}\r\n".encode()


def _response(wire: BinaryIO) -> tuple[int, bytes]:
    """One response (framed by its Content-Length) read from the connection."""
    status_line = wire.readline()
    assert status_line, "the connection closed without a response"
    headers = {}
    while (line := wire.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    assert "transfer-encoding" not in headers
    return int(status_line.split()[1]), wire.read(int(headers.get("content-length", "0")))


def _closed(sock: socket.socket, wire: BinaryIO) -> bool:
    try:
        return wire.read(1) == b""
    except ConnectionResetError:
        return True


def _graphql(size: int) -> bytes:
    """A GraphQL request body of exactly ``size`` bytes whose answer comes from its last
    bytes: ``{"data": {"end": "Query"}}`` means the application read it all."""
    head, tail = b'{"query":"{', b'end: __typename}"}'
    assert size >= len(head) + len(tail)
    return head + b" " * (size - len(head) - len(tail)) + tail


def _log_errors(gateway: Gateway, since: int) -> list[str]:
    """ERROR records and tracebacks the gateway logged after byte ``since`` of its log."""
    text = gateway.log_path.read_bytes()[since:].decode(errors="replace")
    return [
        line
        for line in text.splitlines()
        if "Traceback" in line or '"level": "error"' in line or '"level":"error"' in line
    ]


def _log_size(gateway: Gateway) -> int:
    return gateway.log_path.stat().st_size


# -- bodies up to the cap are the application's to answer ------------------------------------


@pytest.mark.parametrize(
    "size",
    [
        32 * KIB - 1,
        32 * KIB,
        32 * KIB + 1,
        64 * KIB,
        1024 * KIB,
        LIMIT - 1,
        LIMIT,
    ],
)
def test_a_body_up_to_the_cap_is_read_whole_and_answered_by_the_application(server, size):
    with _connect(server) as sock, sock.makefile("rb") as wire:
        sock.sendall(_post("/graphql", _graphql(size)))
        status, body = _response(wire)
        assert status == 200, body[:200]
        assert json.loads(body)["data"] == {"end": "Query"}
        sock.sendall(_get())  # the connection is still good for the next request
        assert _response(wire)[0] == 200


def test_an_empty_body_is_answered_by_the_application(deployment):
    path = f"/v2/handles/{deployment.handle}/conversions"
    with _connect(deployment.gateway) as sock, sock.makefile("rb") as wire:
        sock.sendall(_post(path, b"", f"Authorization: Bearer {deployment.token}\r\n"))
        status, body = _response(wire)
    assert status == 400 and json.loads(body)["error"] == "invalid_request", body[:200]


def test_a_body_over_the_cap_gets_413_before_it_is_sent(server):
    with _connect(server) as sock, sock.makefile("rb") as wire:
        sock.sendall(_post("/graphql", b"").replace(b"Length: 0", b"Length: %d" % (LIMIT + 1)))
        status, body = _response(wire)
    assert status == 413
    assert json.loads(body)["errors"][0]["extensions"]["code"] == "payload_too_large"


def _conversions(n: int) -> bytes:
    run = uuid.uuid4().hex
    events = [
        {
            "eventType": "purchase",
            "campaignId": CAMPAIGN,
            "eventId": f"{run}-{i:04d}",
            "value": 19.99,
            "currency": "EUR",
            "metadata": {"sku": f"SKU-{i:06d}", "note": "x" * 120},
        }
        for i in range(n)
    ]
    return json.dumps({"events": events}).encode()


def test_a_batch_of_a_thousand_conversions_is_answered_with_what_was_stored(deployment):
    body = _conversions(1000)
    assert 250 * KIB < len(body) < LIMIT
    path = f"/v2/handles/{deployment.handle}/conversions"
    auth = f"Authorization: Bearer {deployment.token}\r\n"
    with _connect(deployment.gateway) as sock, sock.makefile("rb") as wire:
        sock.sendall(_post(path, body, auth))
        status, first = _response(wire)
        assert status == 200, first[:300]
        sock.sendall(_post(path, body, auth))
        status, again = _response(wire)
    assert status == 200, again[:300]
    assert json.loads(first)["created"] == 1000
    assert json.loads(again)["duplicate"] == 1000  # the first answer told the truth


# -- keep-alive and pipelining ---------------------------------------------------------------


def test_pipelined_requests_with_bodies_are_each_answered_in_order(server):
    sizes = [40 * KIB, 100, 300 * KIB, 33 * KIB]
    with _connect(server) as sock, sock.makefile("rb") as wire:
        sock.sendall(b"".join(_post("/graphql", _graphql(size)) for size in sizes) + _get())
        for size in sizes:
            status, body = _response(wire)
            assert status == 200, (size, body[:200])
            assert json.loads(body)["data"] == {"end": "Query"}
        assert _response(wire)[0] == 200


def test_a_refused_request_behind_a_body_is_answered_after_the_request_before_it(server):
    too_big = _get(headers=f"X-Pad: {'a' * (HEAD_CAP + 10)}\r\n")
    with _connect(server) as sock, sock.makefile("rb") as wire:
        sock.sendall(_post("/graphql", _graphql(200 * KIB)) + too_big)
        status, body = _response(wire)
        assert status == 200 and json.loads(body)["data"] == {"end": "Query"}
        assert _response(wire)[0] == 431
        assert _closed(sock, wire)
    with _connect(server) as sock, sock.makefile("rb") as wire:
        sock.sendall(_post("/graphql", _graphql(50 * KIB)) + b"NOT HTTP\r\n\r\n")
        assert _response(wire)[0] == 200
        assert _response(wire)[0] == 400
        assert _closed(sock, wire)


# -- heads: still capped and timed -----------------------------------------------------------


def test_a_head_over_the_cap_still_gets_431(server):
    with _connect(server) as sock, sock.makefile("rb") as wire:
        sock.sendall(_get(headers=f"X-Pad: {'a' * (HEAD_CAP + 10)}\r\n"))
        assert _response(wire)[0] == 431
        assert _closed(sock, wire)


def test_a_head_trickled_after_a_body_on_keep_alive_is_capped(server):
    with _connect(server) as sock, sock.makefile("rb") as wire:
        sock.sendall(_post("/graphql", _graphql(100 * KIB)))
        assert _response(wire)[0] == 200
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        try:
            for _ in range(HEAD_CAP // 4000 + 2):
                sock.sendall(b"X-Pad: " + b"a" * 4000 + b"\r\n")
                time.sleep(0.01)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert _response(wire)[0] == 431


def test_a_slow_head_still_gets_408(server):
    with _connect(server) as sock, sock.makefile("rb") as wire:
        started = time.monotonic()
        sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: t\r\n")  # and never the blank line
        assert _response(wire)[0] == 408
        assert 0.8 < time.monotonic() - started < 6


# -- bodies that never arrive ----------------------------------------------------------------


def _trickle(sock: socket.socket, stop: threading.Event) -> None:
    try:
        while not stop.is_set():
            sock.sendall(b" ")
            stop.wait(0.2)
    except OSError:
        pass


def test_a_trickled_body_gets_408_within_the_body_timeout(server):
    since = _log_size(server)
    socks = [_connect(server) for _ in range(20)]
    stop = threading.Event()
    try:
        started = time.monotonic()
        for sock in socks:
            sock.sendall(_post("/graphql", _graphql(10 * KIB))[: -10 * KIB + 20])
            threading.Thread(target=_trickle, args=(sock, stop), daemon=True).start()
        for sock in socks:
            with sock.makefile("rb") as wire:
                status, body = _response(wire)
                assert status == 408, body
                assert _closed(sock, wire)
        waited = time.monotonic() - started
    finally:
        stop.set()
        for sock in socks:
            sock.close()
    assert BODY_TIMEOUT - 0.2 < waited < BODY_TIMEOUT + 4
    assert _log_errors(server, since) == []


def test_a_client_that_leaves_mid_body_is_no_server_error_and_writes_nothing(deployment):
    server = deployment.gateway
    since = _log_size(server)
    path = f"/v2/handles/{deployment.handle}/conversions"
    auth = f"Authorization: Bearer {deployment.token}\r\n"
    batch = _conversions(200)
    for request in (_post("/graphql", _graphql(300 * KIB)), _post(path, batch, auth)):
        with _connect(server) as sock:
            sock.sendall(request[: len(request) // 2])
            time.sleep(0.3)  # the application is reading the body
    time.sleep(0.5)
    assert _log_errors(server, since) == []
    metrics = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    assert not [
        line for line in metrics.splitlines() if 'status="5' in line and "requests_total" in line
    ]
    with _connect(server) as sock, sock.makefile("rb") as wire:
        sock.sendall(_post(path, batch, auth))  # none of it was recorded the first time
        status, body = _response(wire)
    assert status == 200 and json.loads(body)["created"] == len(json.loads(batch)["events"])


def test_a_malformed_chunked_body_gets_400_and_is_no_server_error(server):
    since = _log_size(server)
    with _connect(server) as sock, sock.makefile("rb") as wire:
        sock.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b'Transfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n'
        )
        time.sleep(0.3)  # the application is waiting for the rest of the body
        sock.sendall(b"not a chunk size\r\n")
        assert _response(wire)[0] == 400
        assert _closed(sock, wire)
    time.sleep(0.3)
    assert _log_errors(server, since) == []
