"""CORS and HTTPS, against real servers (the proxy: test_proxy.py)."""
from __future__ import annotations

import http.client
import socket
import ssl
import subprocess

import pytest

from quick_server import create_server
from conftest import get, raw, run_in_thread


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
