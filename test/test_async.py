"""`async def` handlers (issue 20): routes, middleware, rpc, workers and
`server.submit` run on the server's asyncio event loop; a request that
awaits holds no thread; a client that goes cancels its coroutine; a
worker's progress and cancel reach an async job; a handler that blocks
the loop is named in the log while other requests are answered."""
from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import socket
import threading
import time

from conftest import get, wait_for
from quick_server import log, report_progress
from quick_server.testing import TestClient


def _post(port: int, path: str, body: dict) -> tuple[int, dict]:
    status, _, data = get(port, path, "POST", json.dumps(body).encode(),
                          {"Content-Type": "application/json"})
    return status, json.loads(data) if data else {}


def test_an_async_route_answers_and_holds_no_thread(make_server):
    server = make_server()

    @server.json_get("/api/nap")
    async def nap(req, args):
        await asyncio.sleep(0.5)
        return {"slept": True}

    socks = [socket.create_connection(("127.0.0.1", server.port), 10)
             for _ in range(200)]
    try:
        began = time.monotonic()
        for sock in socks:
            sock.sendall(b"GET /api/nap HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_for(lambda: server._loop.parked >= 150, 5, "awaiting requests")
        threads = [t.name for t in threading.enumerate()
                   if t.name.startswith("quick_server")]
        assert len(threads) < 30, threads
        for sock in socks:
            data = b""
            while not data.endswith(b'{"slept":true}'):
                chunk = sock.recv(4096)
                assert chunk, data
                data += chunk
            assert data.startswith(b"HTTP/1.1 200")
        assert time.monotonic() - began < 1.5
    finally:
        for sock in socks:
            sock.close()


def test_async_errors_middleware_and_send_error(make_server):
    server = make_server()

    async def only_with_key(req, args, okay):
        await asyncio.sleep(0)
        return okay if args["query"].get("key") == "k" else \
            server_response(401)

    def server_response(code):
        from quick_server import Response
        return Response({"error": "no key"}, code)

    with server.middlewares(only_with_key):
        @server.json_get("/api/guarded")
        async def guarded(req, args):
            return {"in": True}

    @server.json_get("/api/broken")
    async def broken(req, args):
        await asyncio.sleep(0)
        raise ValueError("async boom")

    @server.text_get("/api/teapot")
    async def teapot(req, args):
        req.send_error(418)
        return "never seen"

    assert get(server.port, "/api/guarded?key=k")[2] == b'{"in":true}'
    assert get(server.port, "/api/guarded")[0] == 401
    assert get(server.port, "/api/broken")[0] == 500
    assert get(server.port, "/api/teapot")[0] == 418


@dataclasses.dataclass
class Order:
    item: str
    count: int


@dataclasses.dataclass
class Receipt:
    total: int


def test_an_async_rpc_checks_and_answers(make_server):
    server = make_server()

    @server.rpc("/api/order")
    async def order(request: Order) -> Receipt:
        await asyncio.sleep(0)
        return Receipt(total=request.count * 3)

    assert _post(server.port, "/api/order", {"item": "x", "count": 2}) == \
        (200, {"total": 6})
    status, error = _post(server.port, "/api/order", {"item": "x"})
    assert status == 400 and error["field"]


def test_an_async_worker_reports_progress_and_its_cancel_runs_finally(
        make_server):
    server = make_server()
    cleaned = threading.Event()
    going = threading.Event()

    @server.json_worker("/api/job")
    async def job(payload):
        if payload.get("quick"):
            return {"sum": payload["a"] + payload["b"]}
        try:
            for step in range(1000):
                report_progress(step, 1000, "counting")
                going.set()
                await asyncio.sleep(0.01)
        finally:
            cleaned.set()
        return {"finished": True}

    status, reply = _post(server.port, "/api/job", {
        "action": "start", "payload": {"quick": True, "a": 1, "b": 2},
        "wait": 5})
    assert status == 200 and reply["done"]
    assert json.loads(reply["result"]) == {"sum": 3}
    status, reply = _post(server.port, "/api/job",
                          {"action": "start", "payload": {}})
    token = reply["token"]
    assert going.wait(5)
    status, reply = _post(server.port, "/api/job",
                          {"action": "get", "token": token, "wait": 5})
    assert reply["progress"]["message"] == "counting"
    _post(server.port, "/api/job", {"action": "stop", "token": token})
    assert cleaned.wait(5), "the cancelled job's finally ran"
    wait_for(lambda: server.workers.active() == 0, 5, "no job left")


def test_submit_runs_an_async_function(make_server):
    server = make_server()

    async def double(x):
        await asyncio.sleep(0)
        return 2 * x

    assert server.submit(double, 21).result(5) == 42


def test_a_blocking_async_handler_is_named_and_others_are_answered(
        make_server):
    server = make_server()
    server._coroutines.slow_after = 0.2
    lines = io.StringIO()
    log.set_log_file(lines)
    release = threading.Event()

    @server.json_get("/api/stuck")
    async def stuck_handler(req, args):
        release.wait(5)  # blocks the event loop (no await)
        return {"stuck": False}

    @server.json_get("/api/plain")
    def plain(req, args):
        return {"plain": True}

    try:
        with socket.create_connection(("127.0.0.1", server.port), 5) as s:
            s.sendall(b"GET /api/stuck HTTP/1.1\r\nHost: x\r\n\r\n")
            wait_for(lambda: "stuck_handler" in lines.getvalue(), 5,
                     "the blocking handler named")
            assert get(server.port, "/api/plain")[0] == 200
            release.set()
            assert b"200 OK" in s.recv(4096)
    finally:
        release.set()
        log.set_log_file(None)
    assert "blocks the event loop" in lines.getvalue()


def test_the_test_client_drives_async_handlers(make_server):
    server = make_server(start=False)

    @server.json_get("/api/hello")
    async def hello(req, args):
        await asyncio.sleep(0)
        return {"hello": args["query"].get("name", "world")}

    client = TestClient(server)
    assert client.get("/api/hello?name=ada").json() == {"hello": "ada"}


def test_load_script_drives_an_async_script(tmp_path):
    from quick_server.testing import load_script
    script = tmp_path / "app.py"
    script.write_text(
        "import asyncio\n"
        "from quick_server import create_server\n"
        "server = create_server(('127.0.0.1', 0))\n"
        "@server.json_get('/api/later')\n"
        "async def later(req, args):\n"
        "    await asyncio.sleep(0.01)\n"
        "    return {'later': True}\n"
        "server.serve_forever()\n")
    server = load_script(script)
    try:
        assert TestClient(server).get("/api/later").json() == \
            {"later": True}
    finally:
        server._coroutines.close()
