"""start_background/stop, a server replacing the one on its address, and
`interactive` re-registration (issue 25: re-running a notebook cell)."""
from __future__ import annotations

import json
import socket
import sys
import threading
from dataclasses import dataclass

import pytest

from quick_server import create_server, worker_request
from conftest import get, wait_for


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 5).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.fixture
def servers():
    """Makes quiet servers on 127.0.0.1 (port 0 by default); each is
    stopped and closed after the test."""
    made = []

    def make(port: int = 0):
        server = create_server(("127.0.0.1", port))
        server.suppress_noise = True
        made.append(server)
        return server
    yield make
    for server in made:
        server.stop()
        server.server_close()


def test_start_background_answers_at_once_and_stop_frees_the_port(servers):
    server = servers()
    assert server.interactive is ("ipykernel" in sys.modules)

    @server.text_get("/x")
    def _x(req, args):
        return "hello"

    thread = server.start_background()
    # no waiting: the port answers when start_background returns
    assert get(server.port, "/x")[2] == b"hello"
    assert thread.daemon and thread.is_alive()
    assert server.no_command_loop  # the terminal stays the program's
    server.stop()
    # stop() joined the thread and closed the socket before returning
    assert not thread.is_alive()
    assert server.socket.fileno() < 0
    assert _refused(server.port)


def test_stop_from_a_handler_does_not_wait_for_itself(servers):
    server = servers()

    @server.text_get("/stop")
    def _stop(req, args):
        server.stop()  # from a handler thread: returns at once
        return "stopping"

    thread = server.start_background()
    assert get(server.port, "/stop")[2] == b"stopping"
    wait_for(lambda: not thread.is_alive(), what="the server's thread")
    assert server.socket.fileno() < 0 and _refused(server.port)


def test_start_background_raises_what_serve_forever_raised(servers):
    server = servers()
    server.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        server.start_background()


def test_a_server_on_the_same_address_replaces_the_first(servers):
    first = servers()
    port = first.port  # this test's: the first server holds it

    @first.text_get("/who")
    def _first(req, args):
        return "first"

    first_thread = first.start_background()
    assert get(port, "/who")[2] == b"first"
    second = servers(port)  # no "Address already in use"
    # the first was stopped, its thread ended and its socket closed
    assert not first_thread.is_alive()
    assert first.socket.fileno() < 0

    @second.text_get("/who")
    def _second(req, args):
        return "second"

    second.start_background()
    assert second.port == port
    assert get(port, "/who")[2] == b"second"
    second.stop()
    assert _refused(port)


def test_replacing_a_server_that_serves_forever_or_not_yet(servers):
    """The README's own thread recipe and a server never started are
    replaced too; port 0 never replaces anything."""
    first = servers()
    port = first.port
    thread = threading.Thread(target=first.serve_forever, daemon=True)
    first.no_command_loop = True
    thread.start()
    wait_for(lambda: get(port, "/nothing")[0] == 404, what="the server")
    other = servers()  # port 0: a port of its own
    assert other.port != port and first.socket.fileno() >= 0
    second = servers(port)  # replaces the one serving forever
    thread.join(10)
    assert not thread.is_alive() and first.socket.fileno() < 0
    third = servers(port)  # replaces one that never served
    assert second.socket.fileno() < 0
    third.start_background()
    assert get(port, "/nothing")[0] == 404


def test_interactive_replaces_a_route_in_one_log_line(servers, capsys):
    server = servers()
    server.interactive = True

    @server.json_get("/api/summary")
    def _old(req, args):
        return {"v": 1}

    server.start_background()
    assert json.loads(get(server.port, "/api/summary")[2]) == {"v": 1}
    capsys.readouterr()

    @server.json_get("/api/summary")  # the cell re-run, with a change
    def _new(req, args):
        return {"v": 2}

    lines = [line for line in capsys.readouterr().err.splitlines()
             if "replaced" in line]
    assert len(lines) == 1 and "GET /api/summary" in lines[0]
    assert json.loads(get(server.port, "/api/summary")[2]) == {"v": 2}


@dataclass
class Req:
    x: int


@dataclass
class Resp:
    y: int


def test_interactive_replaces_an_rpc_and_a_worker(servers, capsys):
    server = servers()
    server.interactive = True

    def rpc_one(req: Req) -> Resp:
        return Resp(req.x + 1)

    def rpc_two(req: Req) -> Resp:
        return Resp(req.x + 2)

    server.rpc("/api/add", name="add")(rpc_one)
    server.json_worker("/api/work")(lambda payload: payload["x"] * 10)
    server.start_background()
    capsys.readouterr()
    server.rpc("/api/add", name="add")(rpc_two)
    server.json_worker("/api/work")(lambda payload: payload["x"] * 100)
    lines = [line for line in capsys.readouterr().err.splitlines()
             if "replaced" in line]
    assert len(lines) == 2, lines
    assert "rpc /api/add" in lines[0] and "worker /api/work" in lines[1]
    status, _, body = get(server.port, "/api/add", "POST",
                          json.dumps({"x": 1}).encode(),
                          {"Content-Type": "application/json"})
    assert status == 200 and json.loads(body) == {"y": 3}
    url = f"http://127.0.0.1:{server.port}/api/work"
    assert worker_request(url, {"x": 2}) == 200
    assert [r.path for r in server.typed_routes()] == ["/api/add"]


def test_without_interactive_registering_again_raises(servers):
    server = servers()
    server.interactive = False

    @server.text_get("/x")
    def _x(req, args):
        return "one"

    with pytest.raises(ValueError, match="route GET /x is already"):
        server.text_get("/x")(_x)
    server.rpc("/api/add")(_rpc)
    with pytest.raises(ValueError, match="already registered"):
        server.rpc("/api/add")(_rpc)


def _rpc(req: Req) -> Resp:
    return Resp(req.x)


def test_interactive_is_on_under_ipykernel(servers, monkeypatch):
    server = servers()
    monkeypatch.setitem(sys.modules, "ipykernel", sys)  # a stand-in
    assert server.interactive
    server.interactive = False
    assert not server.interactive


def test_a_wildcard_address_overlaps_every_host_on_its_port():
    """Pure: which servers a new address replaces (a notebook that moves
    from ("", 8000) to ("127.0.0.1", 8000) gets no "Address in use")."""
    from quick_server.background_api import _overlap
    v4, v6 = socket.AF_INET, socket.AF_INET6
    assert _overlap((v4, "127.0.0.1", 8000), (v4, "127.0.0.1", 8000))
    assert _overlap((v4, "0.0.0.0", 8000), (v4, "127.0.0.1", 8000))
    assert _overlap((v4, "127.0.0.1", 8000), (v4, "0.0.0.0", 8000))
    assert _overlap((v6, "::", 8000), (v4, "127.0.0.1", 8000))
    assert not _overlap((v4, "0.0.0.0", 8000), (v4, "127.0.0.1", 8001))
    assert not _overlap((v4, "127.0.0.1", 8000), (v4, "127.0.0.2", 8000))
    assert not _overlap((v6, "::1", 8000), (v4, "127.0.0.1", 8000))
    assert not _overlap((v4, "0.0.0.0", 8000), (v6, "::1", 8000))
    assert _overlap((v4, "0.0.0.0", 8000), (v6, "::", 8000))


def test_in_a_kernel_the_notebook_defaults_are_on(monkeypatch):
    """`no_command_loop` and `suppress_noise` default to on under
    ipykernel (test_kernel.py checks them in a real kernel), and a server
    that set them keeps its values."""
    made = create_server(("127.0.0.1", 0))
    made.server_close()
    assert not made.no_command_loop and not made.suppress_noise
    monkeypatch.setitem(sys.modules, "ipykernel", sys)  # a stand-in
    server = create_server(("127.0.0.1", 0))
    server.server_close()
    assert server.no_command_loop and server.suppress_noise
    lines = server.settings.describe().splitlines()
    assert "log.suppress_noise = True" in lines  # the default: unmarked
    server.suppress_noise = False
    assert not server.suppress_noise


def test_a_stopped_server_says_so_when_started_again(servers):
    server = servers()
    server.start_background()
    server.stop()
    with pytest.raises(RuntimeError, match="a stopped server does not "
                       "serve again; create a new one"):
        server.start_background()
