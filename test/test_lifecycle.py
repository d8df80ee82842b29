"""Starting, restarting and stopping: `serve_forever` returning on every
stop, a server in a background thread whose stop closes its port,
per-server shutdown hooks, `parallel=False` with long-polls, HTTP/1.0
keep-alive."""
from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time

import pytest

from quick_server import add_shutdown_hook
from conftest import (get, listening_socket, raw, run_in_thread,
                      start_process, statuses, stop_process, wait_for)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RESTARTING_APP = """
import os, sys
from quick_server import create_server, has_been_restarted, msg, setup_restart

if sys.argv[2] == "supervised":
    setup_restart()
server = create_server(("127.0.0.1", int(sys.argv[1])))
if sys.argv[1] == "0":  # the test reads the port
    msg(f"at http://127.0.0.1:{server.port}/")

@server.json_get("/who")
def _who(req, args):
    return {"pid": os.getpid(), "restarted": has_been_restarted()}

try:
    server.serve_forever()
    msg("serve_forever returned")
finally:
    msg("shutting down..")
    server.server_close()
"""


def _who(port):
    try:
        status, _, body = get(port, "/who")
    except OSError:
        return None
    return json.loads(body) if status == 200 else None


@pytest.mark.parametrize("mode", ["supervised", "in_place"])
def test_restart_returns_from_serve_forever(tmp_path, mode):
    script = tmp_path / "app.py"
    script.write_text(RESTARTING_APP)
    if mode == "supervised":  # port 0: the supervisor would keep a
        # handed socket from its child
        proc = start_process([str(script), "0", mode], cwd=ROOT,
                             stdin_pipe=True)
    else:
        sock, port = listening_socket()
        proc = start_process([str(script), str(port), mode], sock, cwd=ROOT,
                             stdin_pipe=True)
    port = proc.port
    try:
        first = _who(port)
        assert first == {"pid": first["pid"], "restarted": False}
        proc.stdin.write(b"restart\n")
        proc.stdin.flush()
        second = wait_for(lambda: (lambda who: who if who and
                                   who["restarted"] else None)(_who(port)),
                          timeout=20, what="the restarted server")
        if mode == "supervised":
            assert second["pid"] != first["pid"]  # a new child
        else:
            assert second["pid"] == first["pid"]  # the same process, exec'd
    finally:
        code, out = stop_process(proc)
    # the script's own code after serve_forever ran before the restart,
    # and again at the end
    assert out.count("serve_forever returned") == 2, out
    assert out.count("shutting down..") == 2, out
    assert code == 0, out


def test_shutdown_hooks_belong_to_their_server(make_server):
    one = make_server()
    two = make_server()
    ran = []
    one.add_shutdown_hook(lambda: ran.append("one"))
    two.add_shutdown_hook(lambda: ran.append("two"))
    add_shutdown_hook(lambda: ran.append("latest"))  # the server made last
    one.shutdown()
    wait_for(lambda: "one" in ran, what="server one's hook")
    assert ran == ["one"]
    two.shutdown()
    wait_for(lambda: len(ran) == 3, what="server two's hooks")
    assert sorted(ran) == ["latest", "one", "two"]


def test_failing_hook_does_not_stop_the_others(make_server, capsys):
    server = make_server()
    ran = []

    def broken():
        raise RuntimeError("hook broke")

    server.add_shutdown_hook(broken)
    server.add_shutdown_hook(lambda: ran.append(1))
    server.shutdown()
    wait_for(lambda: ran, what="the second hook")
    assert "hook broke" in capsys.readouterr().err


def test_parallel_false_still_serves_files_and_polls(make_server, tmp_path):
    """One route handler at a time, but a long-poll waiting for a job
    holds nothing: files, other routes and other polls go on."""
    (tmp_path / "a.txt").write_text("file")
    server = make_server(parallel=False)
    server.bind_path("/", str(tmp_path))
    release = threading.Event()

    @server.json_worker("/job")
    def _job(payload):
        release.wait(20)
        return {"done": True}

    @server.json_get("/quick")
    def _quick(req, args):
        return {"quick": True}

    answers = []

    def long_poll():
        answers.append(get(server.port, "/job", "POST", json.dumps(
            {"action": "start", "wait": 20, "payload": {}}).encode(),
            {"Content-Type": "application/json"}))

    polls = [threading.Thread(target=long_poll) for _ in range(2)]
    for poll in polls:
        poll.start()
    try:
        wait_for(lambda: server.workers.active() == 2, what="two jobs")
        assert get(server.port, "/a.txt")[2] == b"file"
        assert get(server.port, "/quick")[0] == 200
        assert not answers  # the polls are still waiting
    finally:
        release.set()
        for poll in polls:
            poll.join(20)
    assert [json.loads(a[2])["done"] for a in answers] == [True, True]


def test_http10_keep_alive(make_server):
    server = make_server()

    @server.text_get("/x")
    def _x(req, args):
        return "x"

    one = b"GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), 5) as sock:
        replies = []
        for _ in range(3):
            sock.sendall(one)
            reply = b""
            while not reply.endswith(b"\r\n\r\nx"):
                chunk = sock.recv(4096)
                assert chunk, "closed: keep-alive was not honoured"
                reply += chunk
            replies.append(reply)
    for reply in replies:
        assert statuses(reply) == [200]
        assert b"Connection: keep-alive\r\n" in reply
    # without the header HTTP/1.0 closes
    assert b"Connection: close" in raw(server.port,
                                       b"GET /x HTTP/1.0\r\n\r\n")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_stops_a_script_and_its_finally_runs(tmp_path):
    script = tmp_path / "app.py"
    script.write_text(RESTARTING_APP)
    sock, port = listening_socket()
    proc = start_process([str(script), str(port), "in_place"], sock,
                         cwd=ROOT)
    code, out = stop_process(proc)
    assert code == 0 and "shutting down.." in out, out
    assert "Traceback" not in out


def test_server_close_ends_a_running_serve_forever(make_server):
    """Closing a server that still serves (from another thread) stops
    serve_forever first, instead of leaving it to spin on a closed
    socket."""
    server = make_server(start=False)
    thread = run_in_thread(server)
    wait_for(lambda: get(server.port, "/nothing")[0] == 404,
             what="the server")
    server.server_close()
    thread.join(10)
    assert not thread.is_alive()


def _refused(port):
    """Whether connecting to `port` is refused (nothing listens)."""
    try:
        socket.create_connection(("127.0.0.1", port), 5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_a_background_server_stops_and_closes_its_port(make_server):
    """The README's recipe: serve_forever on a thread, then shutdown(),
    join, server_close(). Once shutdown() returns nothing listens (a
    client is refused, not left hanging in the queue), and a request in
    flight is still answered."""
    server = make_server(start=False)
    release = threading.Event()

    @server.text_get("/held")
    def _held(req, args):
        release.wait(10)
        return "done"

    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    answers = []
    held = threading.Thread(target=lambda: answers.append(
        get(server.port, "/held")))
    held.start()
    try:
        wait_for(lambda: server._inflight == 1, what="the request in flight")
        server.shutdown()
        # (seen once in ~10 full runs, only within the whole suite: a
        # connect still accepted right after; waited for, with a deadline)
        wait_for(lambda: _refused(server.port), 2, "the port closed")
    finally:
        release.set()
        held.join(10)
    thread.join(10)
    assert not thread.is_alive()
    server.server_close()
    assert answers[0][0] == 200 and answers[0][2] == b"done"


def test_server_close_alone_stops_a_background_server(make_server):
    """server_close() from another thread stops serving, waits for the
    graceful stop (shutdown hooks ran) and frees the port."""
    server = make_server(start=False)
    ran = []
    # a hook that takes a while: server_close waits for it all the same
    server.add_shutdown_hook(lambda: time.sleep(0.2) or ran.append("hook"))
    thread = run_in_thread(server)
    wait_for(lambda: get(server.port, "/nothing")[0] == 404,
             what="the server")
    server.server_close()
    assert ran == ["hook"] and _refused(server.port)
    thread.join(10)
    assert not thread.is_alive()


def test_a_stopped_server_cannot_serve_again(make_server):
    server = make_server(start=False)
    thread = run_in_thread(server)
    server.stop()
    thread.join(10)
    assert _refused(server.port)
    with pytest.raises(RuntimeError, match="create a new one"):
        server.serve_forever()


SUPERVISED = """
import sys
sys.path.insert(0, {root!r})
from quick_server import create_server, setup_restart
setup_restart()
server = create_server(("127.0.0.1", {port}))
server.no_command_loop = True

@server.json_get("/pid")
def _pid(req, args):
    import os
    return os.getpid()

try:
    server.serve_forever()
finally:
    server.server_close()
"""


def test_a_supervised_script_serves_on_the_socket_handed_to_it(tmp_path):
    """setup_restart()'s supervisor passes the listening socket it was
    handed on to its child (it bound "Address already in use" before)."""
    from conftest import start_process, stop_process
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sock, port = listening_socket()
    script = tmp_path / "app.py"
    script.write_text(SUPERVISED.format(root=root, port=port))
    proc = start_process([str(script)], sock)
    try:
        status, _, body = get(port, "/pid")
        assert status == 200 and json.loads(body) != proc.pid  # the child
    finally:
        code, out = stop_process(proc)
    assert code == 0, out
