"""HTTPS: the README's socket wrapping, `certfile=`, `ssl_context=`; a
client that never finishes its handshake holds up nobody."""
from __future__ import annotations

import socket
import ssl

import pytest

from conftest import https_get, run_in_thread


@pytest.mark.parametrize("style", ["readme", "certfile", "ssl_context"])
def test_https(make_server, cert, style):
    if style == "readme":
        server = make_server(start=False)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    elif style == "certfile":
        server = make_server(start=False, certfile=cert)
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert)
        server = make_server(start=False, ssl_context=context)

    @server.text_get("/x")
    def _x(req, args):
        return "secure"

    run_in_thread(server)
    with socket.create_connection(("127.0.0.1", server.port)), \
            socket.create_connection(("127.0.0.1", server.port)) as plain:
        # one connection stalls before its handshake, one speaks plain HTTP
        plain.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        assert https_get(server.port, "/x") == (200, b"secure")
    assert server.is_https
