"""HTTP framing: every request gets exactly one correct answer."""
from __future__ import annotations

import select
import socket
import threading
import time

import pytest

from conftest import wait_for, get, raw, statuses


@pytest.fixture
def echo(make_server):
    server = make_server()
    server.max_body_size = 1000

    @server.json_post("/echo")
    def _echo(req, args):
        return {"post": args["post"]}

    @server.json_get("/ping")
    def _ping(req, args):
        return {"ok": True}

    return server


def req(body: bytes = b"", extra: str = "", method: str = "POST",
        path: str = "/echo") -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: application/json\r\n{extra}\r\n").encode() + body


def test_keep_alive_pipelined(echo):
    one = req(b'{"a":1}', "Content-Length: 7\r\n")
    reply = raw(echo.port, one + one + req(method="GET", path="/ping",
                                              extra="Connection: close\r\n"))
    assert statuses(reply) == [200, 200, 200]
    assert reply.count(b'{"post":{"a":1}}') == 2
    assert reply.rstrip().endswith(b'{"ok":true}')
    assert b"Connection: close" in reply


@pytest.mark.parametrize("headers", [
    "Content-Length: 7\r\nContent-Length: 7\r\n",
    "Content-Length: 7, 7\r\n",
    "Content-Length: +7\r\n",
    "Content-Length: 0x7\r\n",
    "Content-Length: 7\r\nTransfer-Encoding: chunked\r\n",
    "Transfer-Encoding: gzip, chunked\r\n",
    "Transfer-Encoding: identity\r\n",
    "Transfer-Encoding : chunked\r\n",
    " Content-Length: 7\r\n",
])
def test_smuggling_vectors_are_400_and_close(echo, headers):
    reply = raw(echo.port, req(b'{"a":1}', headers) +
                req(method="GET", path="/ping"))
    assert statuses(reply) == [400]
    assert b"Connection: close" in reply


def test_chunked_body(echo):
    body = b'7\r\n{"a":12\r\n1;ext=1\r\n}\r\n0\r\nTrailer: x\r\n\r\n'
    reply = raw(echo.port, req(body, "Transfer-Encoding: chunked\r\n") +
                req(method="GET", path="/ping",
                    extra="Connection: close\r\n"))
    assert statuses(reply) == [200, 200]
    assert b'{"post":{"a":12}}' in reply


@pytest.mark.parametrize("body", [
    b"zz\r\n{}\r\n0\r\n\r\n", b"2\r\n{}XX0\r\n\r\n", b"2\r\n{}\r\n",
])
def test_bad_chunks(echo, body):
    reply = raw(echo.port, req(body, "Transfer-Encoding: chunked\r\n"),
                half_close=True)
    assert statuses(reply) == [400]


def test_oversized_body_refused_before_reading(echo):
    with socket.create_connection(("127.0.0.1", echo.port), timeout=5) as s:
        s.sendall(req(extra="Content-Length: 1000000\r\n"))  # no body sent
        reply = s.recv(4096)
        assert statuses(reply) == [413] and b"Connection: close" in reply
    # chunked: refused while reading
    big = b"".join(b"100\r\n" + b"x" * 256 + b"\r\n" for _ in range(10))
    reply = raw(echo.port, req(big + b"0\r\n\r\n",
                               "Transfer-Encoding: chunked\r\n"))
    assert statuses(reply) == [413]


def test_expect_continue(echo):
    with socket.create_connection(("127.0.0.1", echo.port), timeout=5) as s:
        s.sendall(req(extra="Content-Length: 7\r\nExpect: 100-continue\r\n"))
        assert s.recv(4096).startswith(b"HTTP/1.1 100 Continue")
        s.sendall(b'{"a":1}')
        assert statuses(s.recv(4096)) == [200]
    with socket.create_connection(("127.0.0.1", echo.port), timeout=5) as s:
        s.sendall(req(extra="Content-Length: 5000\r\n"
                      "Expect: 100-continue\r\n"))
        reply = s.recv(4096)
        assert statuses(reply) == [413]  # no 100 for a refused body
    with socket.create_connection(("127.0.0.1", echo.port), timeout=5) as s:
        s.sendall(req(extra="Content-Length: 7\r\nExpect: 100-continue\r\n",
                      path="/nowhere"))
        reply = s.recv(4096)
        assert statuses(reply) == [404] and b"Connection: close" in reply


def test_unread_body_is_drained(echo):
    # a body sent to a GET route or an unknown path is skipped
    reply = raw(echo.port, req(b"ignored", "Content-Length: 7\r\n",
                               method="GET", path="/ping") +
                req(b"ignored", "Content-Length: 7\r\n", path="/nope") +
                req(method="GET", path="/ping",
                    extra="Connection: close\r\n"))
    assert statuses(reply) == [200, 404, 200]


def test_limits_and_methods(echo):
    long_line = b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\n\r\n"
    assert statuses(raw(echo.port, long_line)) == [414]
    big_header = b"GET / HTTP/1.1\r\nX: " + b"a" * 10000 + b"\r\n\r\n"
    assert statuses(raw(echo.port, big_header)) == [431]
    many = b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n"
    assert statuses(raw(echo.port, many)) == [431]
    assert statuses(raw(echo.port, b"BREW /ping HTTP/1.1\r\nHost: x\r\n\r\n",
                        half_close=True)) == [501]
    assert statuses(raw(echo.port, b"GET /ping HTTP/2.0\r\n\r\n")) == [505]
    assert statuses(raw(echo.port, b"garbage\r\n\r\n")) == [400]
    assert get(echo.port, "/ping", method="DELETE")[0] == 405
    assert get(echo.port, "/ping", method="DELETE")[1]["allow"] == "GET, HEAD"
    assert get(echo.port, "/ping", method="OPTIONS")[1]["allow"] == \
        "GET, HEAD, OPTIONS"
    assert get(echo.port, "/missing")[0] == 404
    status, headers, body = get(echo.port, "/ping", method="HEAD")
    assert status == 200 and body == b"" and headers["content-length"] == "11"


def test_exit_statistics_count_a_405_under_its_route(echo):
    assert get(echo.port, "/ping")[0] == 200
    assert get(echo.port, "/ping", method="DELETE")[0] == 405
    assert get(echo.port, "/echo/x", method="GET")[0] == 405
    assert get(echo.port, "/missing")[0] == 404
    summary = wait_for(lambda: (lambda text: text if "served 4" in text
                                else None)(echo.stats.summary()),
                       what="four requests counted")
    assert "GET /ping: 2 (2xx 1, 4xx 1)" in summary
    assert "POST /echo: 1 (4xx 1)" in summary
    assert "(no route): 1 (4xx 1)" in summary  # only the 404


def test_http10_closes_by_default(echo):
    reply = raw(echo.port, b"GET /ping HTTP/1.0\r\n\r\n")
    assert statuses(reply) == [200] and b"Connection: close" in reply


def test_idle_and_slow_clients_time_out(make_server):
    server = make_server(start=False)
    server.idle_timeout = 0.5
    server.limits.head_timeout = 0.5

    @server.json_get("/ping")
    def _ping(req, args):
        return {"ok": True}

    from conftest import run_in_thread
    run_in_thread(server)
    slow = []
    for _ in range(200):  # slow clients: a partial head, then nothing
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(b"GET /ping HTTP/1.1\r\n")
        slow.append(sock)
    try:
        assert get(server.port, "/ping")[0] == 200  # others are served
        t0 = time.monotonic()
        slow[0].settimeout(5)
        reply = slow[0].recv(4096)
        assert time.monotonic() - t0 < 3
        assert reply == b"" or statuses(reply) == [408]
    finally:
        for sock in slow:
            sock.close()
    assert server.request_queue_size >= 128


def test_trickled_head_gets_408(make_server):
    """Header lines that each arrive in time but never finish the head
    are cut off by the head deadline."""
    server = make_server()
    server.idle_timeout = 2.0
    server.limits.head_timeout = 0.3
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.settimeout(5)
        sock.sendall(b"GET / HTTP/1.1\r\n")
        for n in range(20):
            if select.select([sock], [], [], 0.1)[0]:
                break  # answered
            sock.sendall(b"X-Drip-%d: 1\r\n" % n)
        reply = sock.recv(4096)
    assert statuses(reply) == [408]
    assert 2 <= n < 10  # after the deadline, well before the idle timeout


def test_connection_threads_are_reused(make_server):
    """Short connections one after another run on threads that already
    exist, and parallel connections still each get a thread."""
    server = make_server()
    local = threading.local()
    made = []
    release = threading.Event()

    @server.json_get("/thread")
    def _thread(req, args):
        if not hasattr(local, "n"):
            local.n = len(made)
            made.append(local.n)
        if args["query"].get("hold"):
            release.wait(5)
        return local.n

    seen = {get(server.port, "/thread")[2] for _ in range(20)}
    assert len(seen) <= 4 and len(made) <= 4  # not one per connection
    # four held requests at once need four threads
    held = [threading.Thread(target=get, args=(server.port, "/thread?hold=1"))
            for _ in range(4)]
    for thread in held:
        thread.start()
    wait_for(lambda: len(made) >= 4, what="four threads for four requests")
    release.set()
    for thread in held:
        thread.join(5)


def test_parallel_false_serves_one_at_a_time(make_server):
    server = make_server(parallel=False)
    inside = []
    overlap = []
    lock = threading.Lock()

    @server.json_get("/work")
    def _work(req, args):
        with lock:
            inside.append(1)
            overlap.append(len(inside))
        time.sleep(0.05)
        with lock:
            inside.pop()
        return {}

    threads = [threading.Thread(target=get, args=(server.port, "/work"))
               for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlap and max(overlap) == 1
