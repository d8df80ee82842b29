"""quick_server.testing: TestClient drives a configured server in-process
(no socket, no serve_forever) and load_script hands back the server a
README-style script configures."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import pytest

from quick_server import (Response, RpcError, StreamResponse, WorkerError,
                          create_server, report_progress)
from quick_server.testing import TestClient, load_script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class Order:
    item: str
    qty: int = 1


@dataclass
class Total:
    total: int


@pytest.fixture
def client(tmp_path):
    (tmp_path / "index.html").write_text("<h1>home</h1>")
    (tmp_path / "big.txt").write_text("0123456789" * 1000)
    server = create_server(("127.0.0.1", 0))
    server.suppress_noise = True
    server.bind_path("/", str(tmp_path))
    server.add_default_white_list()

    @server.json_get("/api/ping")
    def _ping(req, args):
        return {"pong": True, "query": args["query"],
                "agent": req.headers.get("X-Test")}

    @server.json_post("/api/echo")
    def _echo(req, args):
        return {"post": args["post"],
                "files": {name: upload.read().decode()
                          for name, upload in args["files"].items()}}

    @server.text_get("/login")
    def _login(req, args):
        return Response("in", 200, "text/plain",
                        [("Set-Cookie", "session=s3cret; Path=/")])

    @server.json_get("/whoami")
    def _whoami(req, args):
        cookie = args["cookie"]
        return {"session": cookie["session"].value if cookie else None}

    @server.rpc("/api/order")
    def _order(request: Order) -> Total:
        return Total(3 * request.qty)

    @server.rpc_worker("/api/total")
    def total(request: Order) -> Total:
        return Total(5 * request.qty)

    @server.json_worker("/job")
    def _job(payload):
        report_progress(1, 2, "half")
        if payload.get("fail"):
            raise ValueError("no luck")
        return {"twice": payload["x"] * 2}

    yield TestClient(server)
    server.server_close()


def test_routes_answer_as_over_the_network(client):
    answer = client.get("/api/ping?a=1", headers={"X-Test": "yes"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == {"pong": True, "query": {"a": "1"},
                             "agent": "yes"}
    assert client.get("/nowhere").status_code == 404
    assert client.delete("/api/ping").status_code == 405


def test_bodies_json_forms_and_files(client):
    assert client.post("/api/echo", json={"a": [1, 2]}).json() == {
        "post": {"a": [1, 2]}, "files": {}}
    assert client.post("/api/echo", data={"a": "b"}).json()["post"] == {
        "a": "b"}
    answer = client.post("/api/echo", data={"a": "b"},
                         files={"f": ("x.txt", io.BytesIO(b"hello"))})
    assert answer.json() == {"post": {"a": "b"}, "files": {"f": "hello"}}
    assert client.post("/api/echo", content=b"{oops",
                       headers={"Content-Type": "application/json"}
                       ).status_code == 400


def test_static_files_ranges_and_validators(client):
    answer = client.get("/")
    assert answer.status_code == 200 and answer.text == "<h1>home</h1>"
    part = client.get("/big.txt", headers={"Range": "bytes=10-19"})
    assert (part.status_code, part.content) == (206, b"0123456789")
    etag = client.get("/big.txt").headers["etag"]
    assert client.get("/big.txt", headers={"If-None-Match": etag}
                      ).status_code == 304
    assert b"".join(client.get("/big.txt").iter_content(300)) == \
        b"0123456789" * 1000


def test_a_stream_is_read_as_it_comes_and_closed(tmp_path):
    server = create_server(("127.0.0.1", 0))
    closed = []

    @server.text_get("/events")
    def _events(req, args):
        def forever():
            number = 0
            while True:  # an event stream: it never ends by itself
                number += 1
                yield f"data: {number}\n\n".encode()
        return StreamResponse(forever(), 200, "text/event-stream",
                              on_close=lambda: closed.append(True))
    try:
        answer = TestClient(server).get("/events")
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "text/event-stream"
        assert "Content-Length" not in answer.headers
        pieces = answer.iter_content()
        assert [next(pieces), next(pieces)] == [b"data: 1\n\n",
                                                b"data: 2\n\n"]
        assert not closed
        answer.close()
        assert closed == [True]  # the server's side was released
    finally:
        server.server_close()


def test_cookies_are_kept(client):
    assert client.get("/whoami").json() == {"session": None}
    client.get("/login")
    assert client.get("/whoami").json() == {"session": "s3cret"}


def test_rpc_and_its_errors(client):
    assert client.rpc("/api/order", Order("apple", 2), Total) == Total(6)
    with pytest.raises(RpcError) as err:
        client.rpc("/api/order", {"item": "apple", "qty": "2"}, Total)
    assert err.value.status == 400 and err.value.field == "qty"


def test_workers_and_their_errors(client):
    assert client.run_worker("/job", {"x": 21}) == {"twice": 42}
    with pytest.raises(WorkerError) as err:
        client.run_worker("/job", {"x": 1, "fail": True})
    assert (err.value.error_type, err.value.error_message) == \
        ("ValueError", "no luck")


def test_typed_workers_and_their_errors(client):
    assert client.run_worker("/api/total", Order("pear", 2),
                             result_type=Total) == Total(10)
    assert client.run_worker("/api/total", {"item": "pear",
                                            "qty": 1}) == {"total": 5}
    with pytest.raises(WorkerError) as err:
        client.run_worker("/api/total", {"item": "pear", "qty": "1"})
    assert (err.value.status, err.value.field, err.value.expected) == \
        (400, "qty", "int")


SCRIPT = """\
from quick_server import create_server, msg, setup_restart

setup_restart()
server = create_server(("", 8080))
server.bind_path("/", "www")
server.add_default_white_list()

@server.json_get("/api/hello")
def _hello(req, args):
    return {{"hello": args["query"].get("name", "world")}}

@server.json_worker("/square", executor="{executor}")
def square(post):
    return {{"square": post["n"] ** 2}}

msg("starting")
try:
    server.serve_forever()
finally:
    server.server_close()
"""


def test_load_script_hands_back_the_configured_server(tmp_path):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("welcome")
    (tmp_path / "app.py").write_text(SCRIPT.format(executor="thread"))
    server = load_script(tmp_path / "app.py")
    try:
        client = TestClient(server)
        assert client.get("/api/hello?name=ada").json() == {"hello": "ada"}
        assert client.get("/").text == "welcome"  # "www" of the script
        assert client.run_worker("/square", {"n": 7}) == {"square": 49}
    finally:
        server.server_close()


def test_process_workers_from_a_loaded_script(tmp_path):
    """A test module as a user writes it (a fresh pytest process: the
    job processes are forked before any other thread)."""
    (tmp_path / "www").mkdir()
    (tmp_path / "app.py").write_text(SCRIPT.format(executor="process"))
    (tmp_path / "test_app.py").write_text(textwrap.dedent("""\
        import os
        from quick_server.testing import TestClient, load_script

        server = load_script(os.path.join(os.path.dirname(__file__),
                                          "app.py"))
        client = TestClient(server)

        def test_square_runs_in_a_job_process():
            assert client.run_worker("/square", {"n": 9}) == {"square": 81}
        """))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(tmp_path / "test_app.py")], capture_output=True, text=True,
        timeout=120, cwd=tmp_path, env={**os.environ, "PYTHONPATH": ROOT})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
