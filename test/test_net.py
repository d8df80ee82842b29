"""CORS, the proxy and HTTPS, against real servers."""
from __future__ import annotations

import http.client
import json
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from quick_server import create_server
from conftest import get, raw, run_in_thread, statuses


def test_cors(make_server):
    server = make_server()

    @server.json_get("/x")
    def _x(req, args):
        return {}

    assert "access-control-allow-origin" not in get(server.port, "/x")[1]
    server.cross_origin = True
    headers = get(server.port, "/x", headers={"Origin": "http://a.test"})[1]
    assert headers["access-control-allow-origin"] == "http://a.test"
    assert headers["access-control-allow-credentials"] == "true"
    headers = get(server.port, "/x", headers={"Origin": "evil\"x"})[1]
    assert headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in headers
    status, headers, _ = get(server.port, "/x", "OPTIONS", headers={
        "Origin": "http://a.test",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Content-Type, X-Token"})
    assert status == 204
    assert "POST" in headers["access-control-allow-methods"]
    assert headers["access-control-allow-headers"] == "Content-Type, X-Token"
    assert headers["access-control-max-age"] == "600"
    reply = raw(server.port, b"OPTIONS /x HTTP/1.1\r\nOrigin: http://a\r"
                b"Injected: 1\r\nAccess-Control-Request-Headers: X\rY: 1"
                b"\r\nConnection: close\r\n\r\n")
    assert b"Access-Control-Allow-Headers: Content-Type\r\n" in reply
    assert b"\nInjected" not in reply and b"\nY: 1" not in reply


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
        from quick_server import Response
        return Response("teapot", 418)

    @server.text_get("/base/big")
    def _big(req, args):
        return "z" * (5 * 1024 * 1024)

    @server.text_get("/base/slow")
    def _slow(req, args):
        time.sleep(2)
        return "late"

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
    assert time.monotonic() - t0 < 1.5


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


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cert")
    pem = folder / "localhost.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(pem), "-out", str(pem)], check=True,
                   capture_output=True)
    return str(pem)


def https_get(port, path):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context,
                                       timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize("style", ["readme", "certfile"])
def test_https(cert, style):
    if style == "readme":
        server = create_server(("127.0.0.1", 0))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    else:
        server = create_server(("127.0.0.1", 0), certfile=cert)
    server.no_command_loop = True

    @server.text_get("/x")
    def _x(req, args):
        return "secure"

    run_in_thread(server)
    try:
        stalled = socket.create_connection(("127.0.0.1", server.port))
        plain = socket.create_connection(("127.0.0.1", server.port))
        plain.sendall(b"GET /x HTTP/1.1\r\n\r\n")  # not TLS
        assert https_get(server.port, "/x") == (200, b"secure")
        stalled.close()
        plain.close()
        assert server.is_https
    finally:
        server.shutdown()
        server.server_close()
