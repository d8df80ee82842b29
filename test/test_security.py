"""Security hardening against real servers: the route cache behind
middleware, CORS, header and terminal injection, the Host header, head
deadlines (plain and TLS), and running out of file descriptors."""
from __future__ import annotations

import http.client
import io
import json
import os
import socket
import ssl
import sys
import threading
import time

import pytest
import quick_cache  # the test extra installs it

from quick_server import Response, log
from quick_server.jobs.caching import cached
from conftest import (get, listening_socket, raw, run_in_thread,
                      start_process, statuses, stop_process,
                      tls_client_context, wait_for)

# -- 1. the route cache runs behind the middleware --------------------------

@pytest.fixture
def cached_api(make_server, tmp_path):
    server = make_server()
    base = tmp_path / "cache_base"
    base.write_text(f"test cache {time.time()}")  # names a fresh cache
    server.cache = quick_cache.QuickCache(str(base), quota=10, ram_quota=1,
                                          warnings=None,
                                          temp=str(tmp_path / "tmp"))
    calls = []

    def login(req, args, okay):
        if args["query"].get("user") == "alice":
            return okay
        return Response("Authentication Required", 401)

    @server.json_get("/secret", cache_id=lambda args: "secret")
    @server.middleware(login)
    def _secret(req, args):
        calls.append(1)
        return {"secret": 42}

    @server.json_get("/maybe", cache_id=lambda args: "maybe")
    def _maybe(req, args):
        calls.append(1)
        if len(calls) == 1:
            return Response({"error": "try later"}, 503)
        return {"fine": True}

    server.calls = calls
    return server


def test_cache_never_answers_before_the_middleware(cached_api):
    port = cached_api.port
    assert get(port, "/secret")[0] == 401  # refused: must not be cached
    status, _, body = get(port, "/secret?user=alice")
    assert status == 200 and json.loads(body) == {"secret": 42}
    assert get(port, "/secret")[0] == 401  # anonymous: not from the cache
    assert get(port, "/secret?user=alice")[2] == body
    assert len(cached_api.calls) == 1  # the second authorised one: cached


def test_a_response_is_never_cached(cached_api):
    assert get(cached_api.port, "/maybe")[0] == 503
    assert json.loads(get(cached_api.port, "/maybe")[2]) == {"fine": True}


def test_cache_calls_are_serialised(tmp_path):
    """quick_cache's table of handles is not thread-safe: with many keys
    and threads, unserialised calls raise 'dictionary changed size during
    iteration'."""
    base = tmp_path / "cache_base"
    base.write_text(f"test cache {time.time()}")
    cache = quick_cache.QuickCache(str(base), quota=100, ram_quota=100,
                                   warnings=None, temp=str(tmp_path / "t"))
    for n in range(3000):  # a big table makes every iteration long
        cache.get_hnd({"key": f"old-{n}"})
    errors = []

    def work(n):
        for i in range(40):
            try:
                value = cached(cache, lambda: f"{n}-{i}", lambda: {"v": i})
                assert value == {"v": i}
            except Exception as err:  # pylint: disable=broad-except
                errors.append(repr(err))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads interleave often: races show
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        sys.setswitchinterval(interval)
    assert not errors


# -- 3. CORS ------------------------------------------------------------------

def _cors_app(make_server, setting):
    server = make_server()
    server.cross_origin = setting

    @server.json_get("/x")
    def _x(req, args):
        return {}
    return server


def test_cors_true_is_any_origin_without_credentials(make_server):
    server = _cors_app(make_server, False)
    assert "access-control-allow-origin" not in get(server.port, "/x")[1]
    server.cross_origin = True
    headers = get(server.port, "/x", headers={"Origin": "http://evil.test"})[1]
    assert headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in headers
    status, headers, _ = get(server.port, "/x", "OPTIONS", headers={
        "Origin": "http://a.test",
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "Content-Type, X-Token"})
    assert status == 204
    assert "PATCH" in headers["access-control-allow-methods"]
    assert headers["access-control-allow-headers"] == "Content-Type, X-Token"
    assert "access-control-allow-credentials" not in headers


def test_cors_credentials_only_for_listed_origins(make_server):
    server = _cors_app(make_server, ["http://localhost:3000"])
    headers = get(server.port, "/x",
                  headers={"Origin": "http://localhost:3000"})[1]
    assert headers["access-control-allow-origin"] == "http://localhost:3000"
    assert headers["access-control-allow-credentials"] == "true"
    assert headers["vary"] == "Origin"
    for other in ("http://evil.test", "http://localhost:3000.evil.test",
                  "http://localhost:30001", "null"):
        headers = get(server.port, "/x", headers={"Origin": other})[1]
        assert "access-control-allow-origin" not in headers, other
        assert "access-control-allow-credentials" not in headers
    status, headers, _ = get(server.port, "/x", "OPTIONS", headers={
        "Origin": "http://evil.test", "Access-Control-Request-Method": "POST"})
    assert status == 204 and "access-control-allow-methods" not in headers
    with pytest.raises(ValueError):
        server.cross_origin = ["localhost:3000"]  # not an origin


def test_preflight_reflects_only_checked_values(make_server):
    server = _cors_app(make_server, True)
    reply = raw(server.port, b"OPTIONS /x HTTP/1.1\r\nHost: x\r\n"
                b"Origin: http://a\r\nAccess-Control-Request-Headers: X;Y: 1"
                b"\r\nConnection: close\r\n\r\n")
    assert b"Access-Control-Allow-Headers: Content-Type\r\n" in reply
    assert b"Y: 1" not in reply


# -- 4. header injection ----------------------------------------------------

@pytest.fixture
def injecting(make_server):
    server = make_server()
    server.suppress_noise = False
    lines = io.StringIO()
    log.set_log_file(lines)
    server.log_lines = lines

    @server.text_get("/go")
    def _go(req, args):
        return Response("", 302, headers=[("Location", args["query"]["to"])])

    @server.text_get("/cookie")
    def _cookie(req, args):
        from http.cookies import SimpleCookie
        cookie = SimpleCookie()
        cookie["c"] = "v"
        cookie["c"]["path"] = args["query"]["path"]
        req.send_cookie(cookie)
        return "ok"

    @server.text_get("/name")
    def _name(req, args):
        return Response("", 200, headers=[(args["query"]["n"], "1")])

    @server.text_get("/by_hand")
    def _by_hand(req, args):
        req.send_response(200)
        req.send_header("X-Echo", args["query"]["v"])
        req.end_headers()
        req.wfile.write(b"by hand")

    yield server
    log.set_log_file(None)


@pytest.mark.parametrize("path", [
    "/go?to=/x%0d%0aSet-Cookie:%20pwn=1",
    "/go?to=/x%0aSet-Cookie:%20pwn=1",
    "/go?to=/x%0dSet-Cookie:%20pwn=1",
    "/go?to=/x%00",
    "/cookie?path=/%0d%0aSet-Cookie:%20pwn=1",
    "/name?n=X-A:%20b%0d%0aSet-Cookie",
    "/name?n=Bad%20Name",
    "/by_hand?v=1%0d%0aSet-Cookie:%20pwn=1",
])
def test_no_header_injection(injecting, path):
    reply = raw(injecting.port, f"GET {path} HTTP/1.1\r\nHost: x\r\n"
                "Connection: close\r\n\r\n".encode())
    head = reply.split(b"\r\n\r\n", 1)[0]
    assert statuses(reply) == [500], reply
    assert b"pwn" not in reply and b"Set-Cookie" not in head
    assert b"\r" not in head.replace(b"\r\n", b"")
    assert b"\n" not in head.replace(b"\r\n", b"")
    # the server logs why, and keeps serving
    assert "500" in injecting.log_lines.getvalue()
    assert get(injecting.port, "/go?to=/fine")[1]["location"] == "/fine"


# -- 5. terminal injection --------------------------------------------------

def test_control_characters_never_reach_the_log(make_server):
    server = make_server()
    server.suppress_noise = False
    lines = io.StringIO()
    log.set_log_file(lines)
    try:
        reply = raw(server.port, b"GET /\x1b]0;pwned\x07\x1b[2J HTTP/1.1\r\n"
                    b"Host: x\r\n\r\n")
        assert statuses(reply) == [400]
        reply = raw(server.port, b"GET /%1b[2J HTTP/1.1\r\nHost: x\r\n"
                    b"Connection: close\r\n\r\n")
        assert statuses(reply) == [404]
        wait_for(lambda: lines.getvalue().count("\n") >= 2, what="log lines")
    finally:
        log.set_log_file(None)
    text = lines.getvalue()
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b]0;pwned\\x07" in text


def test_escape_control():
    assert log.escape_control("GET / HTTP/1.1") == "GET / HTTP/1.1"
    assert log.escape_control("a\x1b[2Jb\x9b\x7f\té") == \
        "a\\x1b[2Jb\\x9b\\x7f\\x09é"


# -- 10. the Host header ------------------------------------------------------

def test_host_header_is_required_once(make_server):
    server = make_server()

    @server.text_get("/h")
    def _h(req, args):
        return "ok"

    port = server.port
    assert statuses(raw(port, b"GET /h HTTP/1.1\r\n\r\n")) == [400]
    assert statuses(raw(port, b"GET /h HTTP/1.1\r\nHost: a\r\nHost: b\r\n"
                        b"\r\n")) == [400]
    assert statuses(raw(port, b"GET /h HTTP/1.0\r\nHost: a\r\nHost: a\r\n"
                        b"\r\n")) == [400]
    assert statuses(raw(port, b"GET /h HTTP/1.0\r\n\r\n")) == [200]
    assert statuses(raw(port, b"GET /h HTTP/1.1\r\nHost: a\r\n"
                        b"Connection: close\r\n\r\n")) == [200]


def test_bare_cr_or_nul_in_a_request_header_is_a_400(make_server):
    server = make_server()
    for bad in (b"X-A: 1\r2", b"X-A: 1\x002"):
        reply = raw(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n" + bad +
                    b"\r\n\r\n")
        assert statuses(reply) == [400]


# -- 6, 7. deadlines: TLS idle connections, trickled heads ------------------

def _tls_server(make_server, cert):
    server = make_server(start=False, certfile=cert)

    @server.text_get("/x")
    def _x(req, args):
        return "secure"
    run_in_thread(server)
    return server


def _closed_within(sock, seconds):
    """(closed, received): whether the server closed `sock` within
    `seconds`, and the bytes it sent meanwhile."""
    sock.settimeout(seconds)
    got = b""
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            chunk = sock.recv(4096)
            if not chunk:
                return True, got
            got += chunk
    except (socket.timeout, ssl.SSLError, OSError):
        pass
    return False, got


def test_idle_tls_connection_is_closed(make_server, cert):
    server = _tls_server(make_server, cert)
    server.idle_timeout = 0.5
    raw_sock = socket.create_connection(("127.0.0.1", server.port))
    with tls_client_context().wrap_socket(raw_sock) as sock:  # handshake
        t0 = time.monotonic()
        assert _closed_within(sock, 8)[0], "idle TLS connection still open"
        assert time.monotonic() - t0 < 5


def test_tls_keep_alive_then_idle_close(make_server, cert):
    server = _tls_server(make_server, cert)
    server.idle_timeout = 0.5
    conn = http.client.HTTPSConnection("127.0.0.1", server.port,
                                       context=tls_client_context(),
                                       timeout=5)
    for _ in range(3):  # keep-alive works within the idle time
        conn.request("GET", "/x")
        assert conn.getresponse().read() == b"secure"
    assert _closed_within(conn.sock, 8)[0]
    conn.close()


@pytest.mark.parametrize("tls", [False, True])
def test_trickled_request_line_is_cut_at_the_head_deadline(
        make_server, cert, tls):
    """One byte at a time, each in time for the socket timeout: the head
    deadline still ends the request, on every read."""
    server = _tls_server(make_server, cert) if tls else make_server()
    server.idle_timeout = 5.0
    server.limits.head_timeout = 0.5
    sock = socket.create_connection(("127.0.0.1", server.port))
    if tls:
        sock = tls_client_context().wrap_socket(sock)
    with sock:
        sock.settimeout(0.2)
        t0 = time.monotonic()
        closed, received = False, b""
        for byte in b"GET /" + b"x" * 200 + b" HTTP/1.1\r\n":
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            closed, received = _closed_within(sock, 0.1)
            if closed:
                break
            if time.monotonic() - t0 > 8:
                break
        elapsed = time.monotonic() - t0
    assert closed and elapsed < 4, elapsed
    # the 408 may be lost to a reset: the client still sends after the
    # server closed (the old server would still be reading the line)
    if not tls and received:
        assert statuses(received) == [408]


def test_408_logs_what_was_read(make_server):
    server = make_server()
    server.suppress_noise = False
    server.limits.head_timeout = 0.3
    lines = io.StringIO()
    log.set_log_file(lines)
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n")
            sock.settimeout(5)
            assert statuses(sock.recv(4096)) == [408]
        wait_for(lambda: "408" in lines.getvalue(), what="the 408 log line")
    finally:
        log.set_log_file(None)
    assert '"GET /slow HTTP/1.1" 408' in lines.getvalue()


# -- 7. out of file descriptors -------------------------------------------

EMFILE_APP = """
import resource, sys
from quick_server import create_server
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
server = create_server(("127.0.0.1", int(sys.argv[1])))
server.no_command_loop = True
server.idle_timeout = 60
server.serve_forever()
"""


def _cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="reads /proc")
def test_out_of_descriptors_backs_off_and_says_so_once(tmp_path):
    script = tmp_path / "app.py"
    script.write_text(EMFILE_APP)
    sock, port = listening_socket()
    proc = start_process([str(script), str(port)], sock,
                         cwd=os.path.dirname(os.path.dirname(
                             os.path.abspath(__file__))))
    socks = []
    try:
        for _ in range(100):  # more than the server's 64 descriptors
            socks.append(socket.create_connection(("127.0.0.1", port), 5))
        before = _cpu_seconds(proc.pid)
        t0 = time.monotonic()
        time.sleep(1.0)  # measures CPU use over a second; not a verdict
        used = (_cpu_seconds(proc.pid) - before) / (time.monotonic() - t0)
    finally:
        for sock in socks:
            sock.close()
    # the server recovers once descriptors are free again
    assert get(port, "/nothing")[0] == 404
    code, out = stop_process(proc)
    assert used < 0.3, f"accept loop spins: {used:.0%} CPU"
    assert out.count("cannot accept connections") == 1, out
    assert "Too many open files" in out


# -- 8. hostile nesting (16.12) -------------------------------------------

def test_nesting_is_counted_outside_strings_only(make_server):
    """A body 100 deep whose strings hold thousands of brackets and
    escaped quotes is parsed; one level more is a 400 that says why, and
    the server keeps serving."""
    server = make_server()

    @server.json_post("/depth")
    def _depth(req, args):
        value, depth = args["post"], 0
        while isinstance(value, list):
            value, depth = (value[0] if value else None), depth + 1
        return {"depth": depth}

    noise = json.dumps("[{" * 3000 + '\\"]' + "\\" * 7)
    ok = "[" * 99 + noise + "]" * 99
    status, _, body = get(server.port, "/depth", "POST", ok.encode(),
                          {"Content-Type": "application/json"})
    assert (status, json.loads(body)) == (200, {"depth": 99})
    deep = "[" * 100 + "[" + noise + "]" + "]" * 100
    status, _, body = get(server.port, "/depth", "POST", deep.encode(),
                          {"Content-Type": "application/json"})
    assert status == 400 and b"nested too deeply" in body
    assert get(server.port, "/depth", "POST", b"[[1]]")[0] == 200
