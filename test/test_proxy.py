"""The reverse proxy, against real servers: a quick_server in front and a
target that is either a real server or a fake that sends exact bytes, so
the tests see what really crosses in both directions."""
from __future__ import annotations

import io
import json
import re
import socket
import socketserver
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from quick_server import Response
from quick_server.http.wire import Headers
from quick_server.http.proxy import (
    _authority, body_framing, read_response_head, request_head)
from quick_server.http.responses import HTTPError
from conftest import get, raw, statuses


# -- a real target -----------------------------------------------------------

@pytest.fixture
def backend(make_server):
    server = make_server()

    @server.json_post("/base/echo")
    def _echo(req, args):
        return {"post": args["post"], "query": args["query"],
                "xff": req.headers.get("x-forwarded-for"),
                "host": req.headers.get("x-forwarded-host")}

    @server.text_get("/base/status")
    def _status(req, args):
        return Response("teapot", 418)

    @server.text_get("/base/big")
    def _big(req, args):
        return "z" * (5 * 1024 * 1024)

    @server.text_get("/base/slow")
    def _slow(req, args):
        server.release.wait(10)
        return "late"

    server.release = threading.Event()
    return server


def test_proxy(make_server, backend):
    front = make_server()
    front.bind_proxy("/p/", f"http://127.0.0.1:{backend.port}/base")

    @front.text_get("/p/local")
    def _local(req, args):
        return "local wins"

    status, _, body = get(front.port, "/p/echo?a=1&a=2", "POST",
                          b'{"v": 1}', {"Content-Type": "application/json"})
    res = json.loads(body)
    assert status == 200 and res["post"] == {"v": 1}
    assert res["query"] == {"a": "2"} and res["xff"] == "127.0.0.1"
    assert res["host"].startswith("127.0.0.1:")
    assert get(front.port, "/p/status") == (418, get(
        front.port, "/p/status")[1], b"teapot")
    assert get(front.port, "/p/local")[2] == b"local wins"
    assert get(front.port, "/p/big")[2] == b"z" * (5 * 1024 * 1024)
    for path in ("/p/../base/echo", "/p/%2e%2e/x", "/p/..%2fsecret"):
        assert get(front.port, path)[0] in (400, 404)
    front.proxy_timeout = 0.5
    t0 = time.monotonic()
    assert get(front.port, "/p/slow")[0] == 504
    assert time.monotonic() - t0 < 5  # the target would answer after 10 s
    backend.release.set()


class _Streaming(BaseHTTPRequestHandler):
    """A target that answers without Content-Length (ends by closing)."""

    def do_GET(self):  # noqa: N802
        if self.path == "/garbage":
            self.wfile.write(b"this is not HTTP\r\n\r\n")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        for n in range(50):
            self.wfile.write(b"%04d" % n * 100)

    def log_message(self, *args):
        pass


def test_proxy_streams_bodies_of_unknown_length(make_server):
    target = ThreadingHTTPServer(("127.0.0.1", 0), _Streaming)
    threading.Thread(target=target.serve_forever, daemon=True).start()
    try:
        front = make_server()
        front.bind_proxy("/s/", f"http://127.0.0.1:{target.server_port}")
        expected = b"".join(b"%04d" % n * 100 for n in range(50))
        status, headers, body = get(front.port, "/s/stream")
        assert status == 200 and body == expected
        assert headers["transfer-encoding"] == "chunked"
        # an HTTP/1.0 client gets the body delimited by the close
        reply = raw(front.port, b"GET /s/stream HTTP/1.0\r\n\r\n")
        head, _, body = reply.partition(b"\r\n\r\n")
        assert statuses(reply) == [200] and body == expected
        assert b"chunked" not in head.lower()
        assert b"connection: close" in head.lower()
        assert get(front.port, "/s/garbage")[0] == 502
        assert get(front.port, "/s/stream")[2] == expected
    finally:
        target.shutdown()
        target.server_close()


def test_dead_proxy_target(make_server):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    front = make_server()
    front.bind_proxy("/p/", f"http://127.0.0.1:{dead}")
    assert get(front.port, "/p/x")[0] == 502
    assert get(front.port, "/p/x")[0] == 502  # and it keeps serving


def test_https_target(make_server, tmp_path, monkeypatch):
    pem = str(tmp_path / "localhost.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost", "-keyout", pem,
                    "-out", pem], check=True, capture_output=True)
    back = make_server(certfile=pem)

    @back.text_get("/host")
    def _host(req, args):
        return req.headers.get("host")

    front = make_server()
    front.bind_proxy("/untrusted/", f"https://localhost:{back.port}")
    monkeypatch.setenv("SSL_CERT_FILE", pem)  # read when a proxy is bound
    front.bind_proxy("/trusted/", f"https://localhost:{back.port}")
    assert get(front.port, "/trusted/host")[::2] == (
        200, f"localhost:{back.port}".encode())
    assert get(front.port, "/untrusted/host")[0] == 502


# -- a fake target that sends exact bytes ------------------------------------

class _RawTarget(socketserver.StreamRequestHandler):
    """Reads one request (head and Content-Length body), records it in
    `server.requests`, answers `server.answers[path]` verbatim, closes."""

    timeout = 5

    def handle(self):
        head = b""
        while not head.endswith(b"\r\n\r\n") and len(head) < 65536:
            line = self.rfile.readline(65537)
            if not line:
                return
            head += line
        length = re.search(rb"(?im)^content-length: *([0-9]+)\r$", head)
        body = self.rfile.read(int(length.group(1))) if length else b""
        self.server.requests.append(head + body)
        path = head.split(b" ", 2)[1].decode("latin-1")
        self.wfile.write(self.server.answers.get(
            path, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))


@pytest.fixture
def target():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _RawTarget)
    server.daemon_threads = True
    server.answers = {}
    server.requests = []
    server.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,),
                              daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.fixture
def front(make_server, target):
    server = make_server()
    server.proxy_timeout = 5
    server.bind_proxy("/t/", f"http://127.0.0.1:{target.port}")

    @server.text_get("/local")
    def _local(req, args):
        return "local"

    return server


def read_reply(rfile, method="GET"):
    """One response read strictly as a client must: `(status, fields,
    body)` with lower-case field names. Fails on a head that is not clean
    CRLF-terminated lines or that frames its body twice."""
    match = re.fullmatch(rb"HTTP/1\.1 ([0-9]{3}) [^\r\n\0]*\r\n",
                         rfile.readline())
    assert match, "no status line: the connection is out of step"
    status = int(match.group(1))
    fields = []
    while (line := rfile.readline()) != b"\r\n":
        assert re.fullmatch(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+: "
                            rb"[\t\x20-\x7e\x80-\xff]*\r\n", line), line
        name, _, value = line[:-2].decode("latin-1").partition(": ")
        fields.append((name.lower(), value))
    lengths = [v for n, v in fields if n == "content-length"]
    codings = [v for n, v in fields if n == "transfer-encoding"]
    assert len(lengths) + len(codings) <= 1, fields
    if method == "HEAD" or status in (204, 304):
        return status, fields, b""
    if codings:
        assert codings == ["chunked"]
        chunks = []
        while (size := int(rfile.readline(), 16)) > 0:
            chunks.append(rfile.read(size))
            assert rfile.read(2) == b"\r\n"
        assert rfile.read(2) == b"\r\n"
        return status, fields, b"".join(chunks)
    if lengths:
        return status, fields, rfile.read(int(lengths[0]))
    return status, fields, rfile.read()


def values(fields, name):
    return [v for n, v in fields if n == name]


def keep_alive_exchange(port, request, method="GET"):
    """Sends `request` and then a request for /local on the same
    connection: the reply to the first, after checking that the second is
    still understood (no desync)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock, \
            sock.makefile("rb") as rfile:
        sock.sendall(request)
        reply = read_reply(rfile, method)
        sock.sendall(b"GET /local HTTP/1.1\r\nHost: front\r\n\r\n")
        assert read_reply(rfile)[::2] == (200, b"local")
        return reply


def ask(port, path, method="GET"):
    return keep_alive_exchange(port, f"{method} {path} HTTP/1.1\r\n"
                               f"Host: front\r\n\r\n".encode(), method)


OK_HEAD = b"HTTP/1.1 200 OK\r\n"


@pytest.mark.parametrize("answer", [
    # the target's Content-Length does not describe its chunked body
    OK_HEAD + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"b\r\nhello world\r\n0\r\n\r\n",
    OK_HEAD + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"
    b"Content-Length: 99\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n",
    # ends with the close; lines ended by LF alone are valid
    b"HTTP/1.0 200 OK\nX-A: 1\n\nhello world",
], ids=["chunked-and-length", "chunked-and-two-lengths", "until-close"])
def test_target_body_is_reframed_for_the_client(front, target, answer):
    target.answers["/x"] = answer
    status, fields, body = ask(front.port, "/t/x")
    assert status == 200 and body == b"hello world"
    assert values(fields, "transfer-encoding") == ["chunked"]
    assert values(fields, "content-length") == []


def test_target_bytes_past_its_length_are_dropped(front, target):
    target.answers["/x"] = OK_HEAD + b"Content-Length: 2\r\n\r\nok" \
        b"HTTP/1.1 200 OK\r\nSet-Cookie: evil=1\r\n\r\n"
    status, fields, body = ask(front.port, "/t/x")
    assert (status, body) == (200, b"ok")
    assert values(fields, "content-length") == ["2"]


def test_http10_client_gets_a_chunked_target_body_until_close(front, target):
    target.answers["/x"] = OK_HEAD + b"Content-Length: 3\r\n" \
        b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    reply = raw(front.port, b"GET /t/x HTTP/1.0\r\n\r\n")
    status, fields, body = read_reply(io.BytesIO(reply))
    assert (status, body) == (200, b"hello")
    assert values(fields, "connection") == ["close"]


def test_connection_fields_of_the_target_stay_behind(front, target):
    target.answers["/x"] = OK_HEAD + b"Connection: X-Secret, close\r\n" \
        b"X-Secret: s\r\nKeep-Alive: timeout=1\r\nX-Kept: k\r\n" \
        b"Server: target\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n" \
        b"Content-Length: 2\r\n\r\nok"
    status, fields, body = ask(front.port, "/t/x")
    assert (status, body) == (200, b"ok")
    names = [n for n, _ in fields]
    assert "x-secret" not in names and "keep-alive" not in names
    assert "connection" not in names and values(fields, "x-kept") == ["k"]
    assert values(fields, "server") == ["quick_server"]
    assert len(values(fields, "date")) == 1


@pytest.mark.parametrize("answer", [
    OK_HEAD + b"Content-Length: 2\r\nContent-Length: 7\r\n\r\nok",
    OK_HEAD + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\nok",
    OK_HEAD + b"Content-Length: 2, 2\r\n\r\nok",
    OK_HEAD + b"Content-Length: +2\r\n\r\nok",
    OK_HEAD + b"Transfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    OK_HEAD + b"X-A: a\rSet-Cookie: evil=1\r\nContent-Length: 2\r\n\r\nok",
    OK_HEAD + b"Set-Cookie: a\x00evil=1\r\nContent-Length: 2\r\n\r\nok",
    OK_HEAD + b"X-A: a\r\n Set-Cookie: evil=1\r\nContent-Length: 2\r\n\r\nok",
    OK_HEAD + b"Set-Cookie evil=1\r\nContent-Length: 2\r\n\r\nok",
    OK_HEAD + b"Set-Cookie : evil=1\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\rSet-Cookie: evil=1\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 100 Continue\r\n\r\n" * 11 + OK_HEAD +
    b"Content-Length: 2\r\n\r\nok",
    OK_HEAD + b"Content-Length: 2\r\n",  # head cut off
], ids=["two-lengths", "same-length-twice", "length-list", "signed-length",
        "gzip-chunked", "bare-cr", "nul", "folded", "no-colon",
        "space-before-colon", "cr-in-status-line", "endless-1xx", "cut-head"])
def test_ambiguous_target_heads_are_502(front, target, answer):
    target.answers["/x"] = answer
    status, fields, body = ask(front.port, "/t/x")
    assert status == 502, (fields, body)
    assert "evil" not in repr(fields) + repr(body)


def test_interim_heads_are_skipped_and_no_body_statuses_kept(front, target):
    target.answers["/x"] = b"HTTP/1.1 100 Continue\r\n\r\n" \
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" \
        + OK_HEAD + b"Content-Length: 2\r\n\r\nok"
    assert ask(front.port, "/t/x")[::2] == (200, b"ok")
    # HEAD: the length of the body it would have, and no body
    target.answers["/h"] = OK_HEAD + b"Content-Length: 100\r\n\r\n"
    status, fields, _ = ask(front.port, "/t/h", "HEAD")
    assert status == 200 and values(fields, "content-length") == ["100"]
    target.answers["/n"] = b"HTTP/1.1 204 No Content\r\n" \
        b"Content-Length: 0\r\n\r\n"
    status, fields, _ = ask(front.port, "/t/n")
    assert status == 204 and values(fields, "content-length") == []


def test_a_body_cut_short_ends_the_client_connection(front, target):
    target.answers["/x"] = OK_HEAD + b"Content-Length: 10\r\n\r\nshort"
    with socket.create_connection(("127.0.0.1", front.port), timeout=5) \
            as sock, sock.makefile("rb") as rfile:
        sock.sendall(b"GET /t/x HTTP/1.1\r\nHost: front\r\n\r\n")
        status, fields, body = read_reply(rfile)
        assert (status, body) == (200, b"short")
        assert rfile.read() == b""  # closed: the client sees the cut


# -- what the target receives ------------------------------------------------

ECHO = OK_HEAD + b"Content-Length: 2\r\n\r\nok"


def test_request_fields_reach_the_target_as_sent(front, target):
    target.answers["/x?q=%C3%A9&r=\xe9"] = ECHO
    request = (b"GET /t/x?q=%C3%A9&r=\xe9 HTTP/1.1\r\nHost: front:1234\r\n"
               b"Cookie: a=1\r\nCookie: b=2\r\nConnection: X-Drop\r\n"
               b"X-Drop: 1\r\nTE: trailers\r\nKeep-Alive: 5\r\n"
               b"Proxy-Connection: keep-alive\r\nUpgrade: h2c\r\n"
               b"X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Host: evil\r\n\r\n")
    assert keep_alive_exchange(front.port, request)[::2] == (200, b"ok")
    [sent] = target.requests
    lines = sent.split(b"\r\n")
    assert lines[0] == b"GET /x?q=%C3%A9&r=\xe9 HTTP/1.1"
    assert b"Cookie: a=1" in lines and b"Cookie: b=2" in lines
    assert f"Host: 127.0.0.1:{target.port}".encode() in lines
    assert b"X-Forwarded-Host: front:1234" in lines
    assert b"X-Forwarded-For: 10.0.0.1, 127.0.0.1" in lines
    assert b"Connection: close" in lines
    names = [line.split(b":")[0].lower() for line in lines[1:] if line]
    for dropped in (b"x-drop", b"te", b"keep-alive", b"proxy-connection",
                    b"upgrade"):
        assert dropped not in names
    assert names.count(b"host") == names.count(b"connection") == 1
    assert names.count(b"x-forwarded-host") == 1


def test_request_bodies_reach_the_target_with_a_length(front, target):
    target.answers["/x"] = ECHO
    keep_alive_exchange(front.port, b"POST /t/x HTTP/1.1\r\nHost: f\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n"
                        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    keep_alive_exchange(front.port, b"PUT /t/x HTTP/1.1\r\nHost: f\r\n"
                        b"Content-Length: 3\r\n\r\nxyz")
    chunked, plain = target.requests
    assert b"\r\nContent-Length: 5\r\n" in chunked
    assert chunked.endswith(b"\r\n\r\nabcde")
    assert b"transfer-encoding" not in chunked.lower()
    assert b"\r\nContent-Length: 3\r\n" in plain
    assert plain.endswith(b"\r\n\r\nxyz")


@pytest.mark.parametrize("header", [b"X-A: a\rb", b"X-A: a\x00b",
                                    b"X-A: a\x01b", b"Cookie: a=1\rX-B: 2"])
def test_control_characters_in_request_fields_are_400(front, target, header):
    target.answers["/x"] = ECHO
    reply = raw(front.port, b"GET /t/x HTTP/1.1\r\nHost: f\r\n" + header +
                b"\r\nConnection: close\r\n\r\n")
    assert statuses(reply) == [400]
    assert target.requests == []


# -- pure parts --------------------------------------------------------------

def test_authority_names_the_port_unless_default():
    assert _authority("a.test", 80, "http") == "a.test"
    assert _authority("a.test", 443, "https") == "a.test"
    assert _authority("a.test", 80, "https") == "a.test:80"
    assert _authority("::1", 8080, "http") == "[::1]:8080"


def _fake_request(pairs):
    return SimpleNamespace(headers=Headers(pairs), command="GET",
                           client_address=("127.0.0.1", 1),
                           server=SimpleNamespace(is_https=False))


def test_request_head_refuses_what_the_grammar_does_not_allow():
    head = request_head(_fake_request([("Host", "h"), ("Cookie", "a=1"),
                                       ("Cookie", "b=2")]),
                        "t:81", "/x", None)
    assert head.startswith(b"GET /x HTTP/1.1\r\nCookie: a=1\r\n"
                           b"Cookie: b=2\r\nHost: t:81\r\n")
    for bad in ("a\rb", "a\nb", "a\x00b", "a\x7fb"):
        with pytest.raises(HTTPError) as err:
            request_head(_fake_request([("X-A", bad)]), "t", "/", None)
        assert err.value.code == 400


def test_read_response_head_and_framing():
    status, head = read_response_head(io.BytesIO(
        b"HTTP/1.1 404 \r\nX-A:  v  \r\nX-A: w\r\n\r\n"), time.monotonic() + 9)
    assert status == 404 and head.get_all("x-a") == ["v", "w"]
    assert body_framing(head) is None
    assert body_framing(Headers([("Content-Length", "12")])) == 12
    assert body_framing(Headers([("Transfer-Encoding", "Chunked"),
                                 ("Content-Length", "12")])) is None
    with pytest.raises(TimeoutError):  # the head came after the deadline
        read_response_head(io.BytesIO(b"HTTP/1.1 200 OK\r\n\r\n"),
                           time.monotonic() - 1)
    for too_much in (b"X: 1\r\n" * 101, b"X: " + b" " * 70000 + b"1\r\n"):
        with pytest.raises(HTTPError) as err:
            read_response_head(io.BytesIO(
                b"HTTP/1.1 200 OK\r\n" + too_much + b"\r\n"),
                time.monotonic() + 9)
        assert err.value.code == 502


def test_proxied_answers_keep_http10_alive_and_our_cors(make_server, backend):
    """An HTTP/1.0 keep-alive client keeps its connection after a proxied
    answer; with `cross_origin` on, the CORS headers are this server's
    (the target's own would make two, which browsers refuse)."""
    backend.cross_origin = True  # the target sends its own '*'
    front = make_server()
    front.bind_proxy("/p/", f"http://127.0.0.1:{backend.port}/base")
    one = b"GET /p/status HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    with socket.create_connection(("127.0.0.1", front.port), 5) as sock:
        for _ in range(2):
            sock.sendall(one)
            reply = b""
            while not reply.endswith(b"teapot"):
                chunk = sock.recv(4096)
                assert chunk, "closed after a proxied answer"
                reply += chunk
            assert b"Connection: keep-alive\r\n" in reply
    front.cross_origin = ["http://localhost:3000"]
    _, headers, _ = get(front.port, "/p/status",
                        headers={"Origin": "http://localhost:3000"})
    assert headers["access-control-allow-origin"] == "http://localhost:3000"
    reply = raw(front.port, b"GET /p/status HTTP/1.1\r\nHost: x\r\n"
                b"Origin: http://evil.test\r\nConnection: close\r\n\r\n")
    assert b"Access-Control-Allow-Origin" not in reply
