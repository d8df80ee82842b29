"""The connection layer's event loop (`http/event_loop.py`): waiting
costs no thread (idle connections, heads still arriving), a handler runs
inline on the leading thread until it takes too long, then the loop
moves to another thread so nobody else waits; a spent pool answers 503
with Retry-After; deadlines end idle connections and late heads."""
from __future__ import annotations

import re
import socket
import threading
import time

from conftest import run_in_thread, wait_for

PING = b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"


def _server(make_server, **settings):
    server = make_server(start=False)
    for name, value in settings.items():
        setattr(server.settings.http, name, value)
    release = threading.Event()
    server.release = release  # type: ignore[attr-defined]

    @server.json_get("/ping")
    def _ping(req, args):
        return {"pong": True}

    @server.json_get("/block")
    def _block(req, args):
        release.wait(10)  # a handler that waits on something of its own
        return {"blocked": True}

    run_in_thread(server)
    return server


def _connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), 5)


def _ask(sock: socket.socket, request: bytes = PING,
         end: bytes = b'{"pong":true}') -> bytes:
    """Sends `request` on `sock` and reads its answer through `end`."""
    sock.sendall(request)
    data = b""
    while not data.endswith(end):
        chunk = sock.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk
    return data


def _loop_threads() -> int:
    return sum(1 for t in threading.enumerate()
               if t.name == "quick_server-loop")


def test_idle_connections_hold_no_thread(make_server):
    server = _server(make_server)
    socks = [_connect(server) for _ in range(150)]
    try:
        for sock in socks:
            assert _ask(sock).startswith(b"HTTP/1.1 200")
        wait_for(lambda: len(server._loop) == 150, 10, "150 connections")
        assert _loop_threads() <= 2, "one thread leads, none per connection"
        for sock in socks[:20]:  # each goes on serving
            assert _ask(sock).startswith(b"HTTP/1.1 200")
    finally:
        for sock in socks:
            sock.close()
    wait_for(lambda: len(server._loop) == 0, 10,
             "closed clients to leave the loop")


def test_a_blocking_handler_stalls_nobody(make_server):
    server = _server(make_server)
    blocked = _connect(server)
    try:
        blocked.sendall(b"GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
        # the loop moved on: other clients are answered meanwhile
        others = [_connect(server) for _ in range(10)]
        for sock in others:
            assert _ask(sock).startswith(b"HTTP/1.1 200")
            sock.close()
        server.release.set()
        answer = _ask(blocked, b"", b'{"blocked":true}')
        assert answer.startswith(b"HTTP/1.1 200")
        # the connection is back in the loop: it serves its next request
        assert _ask(blocked).startswith(b"HTTP/1.1 200")
    finally:
        blocked.close()


def test_a_spent_pool_answers_503_with_retry_after(make_server):
    server = _server(make_server, pool_size=1)
    blocked = _connect(server)
    try:
        blocked.sendall(b"GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_for(lambda: server._loop.spent, 5, "the one thread taken")
        with _connect(server) as sock:
            answer = _ask(sock, end=b"\n")
            while b"\r\n\r\n" not in answer:
                answer += sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 503")
            assert b"\r\nRetry-After: 1\r\n" in answer
        server.release.set()
        assert _ask(blocked, b"", b'{"blocked":true}').startswith(
            b"HTTP/1.1 200")
        wait_for(lambda: not server._loop.spent, 5, "the thread back")
        with _connect(server) as sock:
            assert _ask(sock).startswith(b"HTTP/1.1 200")
    finally:
        server.release.set()
        blocked.close()


def test_pipelined_requests_are_all_answered_in_order(make_server):
    server = _server(make_server)
    with _connect(server) as sock:
        data = _ask(sock, PING * 3 + b"GET /nothing HTTP/1.1\r\nHost: x"
                    b"\r\n\r\n" + PING)
        while data.count(b"HTTP/1.1 ") < 5 or \
                not data.endswith(b'{"pong":true}'):
            chunk = sock.recv(65536)
            assert chunk, f"closed after {data!r}"
            data += chunk
        statuses = [int(code) for code in
                    re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]
        assert statuses == [200, 200, 200, 404, 200]


def test_an_idle_connection_ends_at_the_idle_timeout(make_server):
    server = _server(make_server, idle_timeout=0.5)
    with _connect(server) as sock:
        assert _ask(sock).startswith(b"HTTP/1.1 200")
        began = time.monotonic()
        sock.settimeout(5)
        assert sock.recv(1) == b""  # the server closed it
        assert time.monotonic() - began < 2
    wait_for(lambda: len(server._loop) == 0, 5, "the loop empty")


def test_a_head_arriving_slowly_waits_without_a_thread(make_server):
    server = _server(make_server, head_timeout=1.0)
    socks = [_connect(server) for _ in range(50)]
    try:
        for sock in socks:
            sock.sendall(b"GET /ping HTTP/1.1\r\n")
        wait_for(lambda: len(server._loop) == 50, 5, "50 connections")
        assert _loop_threads() <= 2
        socks[0].sendall(b"Host: x\r\n\r\n")  # the rest: answered
        assert _ask(socks[0], b"").startswith(b"HTTP/1.1 200")
        socks[1].settimeout(5)
        answer = socks[1].recv(65536)  # the others: cut off at the deadline
        assert answer.startswith(b"HTTP/1.1 408")
    finally:
        for sock in socks:
            sock.close()


def test_server_close_ends_open_connections(make_server):
    server = _server(make_server)
    sock = _connect(server)
    try:
        assert _ask(sock).startswith(b"HTTP/1.1 200")
        server.shutdown()
        server.server_close()
        sock.settimeout(5)
        assert sock.recv(1) == b""
    finally:
        sock.close()


def test_a_client_that_hangs_up_leaves_the_loop(make_server):
    server = _server(make_server)
    sock = _connect(server)
    assert _ask(sock).startswith(b"HTTP/1.1 200")
    wait_for(lambda: len(server._loop) == 1, 5, "in the loop")
    sock.close()
    wait_for(lambda: len(server._loop) == 0, 5, "the closed one gone")
