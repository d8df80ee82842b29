"""`report_slow_requests`: a request slower than `slow_request` is logged
as SLOW REQUEST, but not the waiting its client asked for (a worker
long-poll's `wait`, an event stream such as live reload's, a route that
calls `req.wait_by_design`). `slow_request = 0` makes every request that
does not wait by design slow, so no test needs a slow request."""
from __future__ import annotations

import json
import socket

import pytest

from conftest import get, run_in_thread, wait_for
from quick_server import StreamResponse, log
from quick_server.http.livescript import LIVE_STREAM_PATH


def _slow_server(make_server, **settings):
    server = make_server(start=False)
    server.suppress_noise = False
    server.report_slow_requests = True
    server.slow_request = 0.0
    for name, value in settings.items():
        setattr(server, name, value)

    @server.json_get("/plain")
    def _plain(req, args):
        return {"ok": True}

    @server.json_get("/poll")
    def _poll(req, args):
        req.wait_by_design(float(args["query"]["wait"]))
        return {"ok": True}

    @server.json_worker("/job")
    def _job(payload):
        return payload

    @server.text_get("/events")
    def _events(req, args):
        req.close_connection = True
        return StreamResponse([b"data: one\n\n"], 200, "text/event-stream")

    run_in_thread(server)
    return server


def test_waiting_by_design_is_no_slowness(make_server, lines):
    server = _slow_server(make_server)
    assert get(server.port, "/plain")[0] == 200
    assert "SLOW REQUEST" in lines.line("GET /plain")  # the control
    status, _, body = get(server.port, "/job", "POST", json.dumps(
        {"action": "start", "wait": 5, "payload": {"x": 1}}).encode(),
        {"Content-Type": "application/json"})
    assert status == 200 and json.loads(body)["done"]
    assert "SLOW REQUEST" not in lines.line("POST /job")
    assert get(server.port, "/poll?wait=5")[0] == 200
    assert "SLOW REQUEST" not in lines.line("GET /poll?wait=5")
    assert get(server.port, "/events")[2] == b"data: one\n\n"
    assert "SLOW REQUEST" not in lines.line("GET /events")


def test_a_long_poll_is_slow_beyond_what_it_asked_for(make_server, lines):
    server = _slow_server(make_server)
    assert get(server.port, "/poll?wait=0")[0] == 200
    assert "SLOW REQUEST" in lines.line("GET /poll?wait=0")


def test_the_live_reload_stream_is_no_slow_request(make_server, lines):
    server = _slow_server(make_server, live_reload=True)
    wait_for(lambda: server.reloader.live is not None, what="live reload")
    with socket.create_connection(("127.0.0.1", server.port), 10) as sock:
        sock.sendall(f"GET {LIVE_STREAM_PATH} HTTP/1.1\r\nHost: a\r\n"
                     "Accept: text/event-stream\r\n\r\n".encode())
        seen = b""
        while b"event: hello" not in seen:
            chunk = sock.recv(4096)
            assert chunk, seen
            seen += chunk
        server.shutdown()  # ends the stream: its line is written
    assert "SLOW REQUEST" not in lines.line(f"GET {LIVE_STREAM_PATH}")


def test_a_services_next_waits_by_design(make_server, lines):
    """A service's `next?wait=` that waits its whole time for a job is no
    slow request; past `slow_request` beyond its wait it is."""
    server = _slow_server(make_server, slow_request=0.3)
    server.bind_services(prefix="/services", service_timeout=5.0, key="k")
    headers = {"Authorization": "Bearer k",
               "Content-Type": "application/json"}
    status, _, body = get(server.port, "/services", "POST",
                          b'{"name": "resize"}', headers)
    assert status == 200
    service = json.loads(body)["id"]
    path = f"/services/{service}/next?wait=0.6"
    assert get(server.port, path, headers=headers)[0] == 204
    assert "SLOW REQUEST" not in lines.line(f"GET {path}")
