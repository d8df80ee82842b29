"""Waits by design hold no thread (`http/waiting.py`,
`http/parked_answers.py`): worker long-polls, services' `next` and
live-reload streams are parked in the event loop and answered when their
signal names them, at their deadline, or dropped when the client goes;
and the pure parts, `Signal` and `Parked`, without sockets."""
from __future__ import annotations

import json
import socket
import threading
import time

from conftest import run_in_thread, wait_for
from quick_server.http.livescript import LIVE_STREAM_PATH
from quick_server.http.waiting import Parked, Signal


def _post(path: str, body: dict) -> bytes:
    data = json.dumps(body).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: "
            f"application/json\r\nContent-Length: {len(data)}\r\n\r\n"
            ).encode() + data


def _answer(sock: socket.socket) -> tuple[int, bytes]:
    """The status and body of one answer with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))
    while len(body) < length:
        body += sock.recv(65536)
    return int(head[9:12]), body


def _loop_threads() -> int:
    return sum(1 for t in threading.enumerate()
               if t.name == "quick_server-loop")


def _job_server(make_server):
    server = make_server(start=False)
    server.max_workers = 4
    server.settings.jobs.start_wait = 0.0
    gate = threading.Event()
    server.gate = gate  # type: ignore[attr-defined]

    @server.json_worker("/job")
    def _job(payload):
        gate.wait(20)
        return {"n": payload["n"]}

    run_in_thread(server)
    return server


def _started(server, count):
    """`count` connections, each with a job started (and its token)."""
    started = []
    for n in range(count):
        sock = socket.create_connection(("127.0.0.1", server.port), 10)
        sock.sendall(_post("/job", {"action": "start", "payload": {"n": n}}))
        status, body = _answer(sock)
        assert status == 200
        started.append((sock, json.loads(body)["token"]))
    return started


def test_long_polls_hold_no_thread_and_answer_when_their_job_ends(
        make_server):
    server = _job_server(make_server)
    started = _started(server, 40)  # 4 run, 36 wait in the queue
    try:
        for sock, token in started:
            sock.sendall(_post("/job", {"action": "get", "token": token,
                                        "wait": 20}))
        wait_for(lambda: server._loop.parked == 40, 10, "40 parked polls")
        assert _loop_threads() <= 2, "no thread per waiting request"
        assert server.workers.waiting() == 40
        server.gate.set()
        began = time.monotonic()
        for n, (sock, _) in enumerate(started):
            status, body = _answer(sock)
            reply = json.loads(body)
            assert status == 200 and reply["done"], reply
            assert json.loads(reply["result"]) == {"n": n}
        assert time.monotonic() - began < 10
        wait_for(lambda: server.workers.waiting() == 0, 5, "none waiting")
    finally:
        server.gate.set()
        for sock, _ in started:
            sock.close()


def test_a_long_poll_answers_at_its_wait_when_nothing_happens(make_server):
    server = _job_server(make_server)
    (sock, token), = _started(server, 1)
    try:
        began = time.monotonic()
        sock.sendall(_post("/job", {"action": "get", "token": token,
                                    "wait": 0.3}))
        status, body = _answer(sock)
        waited = time.monotonic() - began
        assert status == 200 and not json.loads(body)["done"]
        assert 0.25 < waited < 5
        assert server._loop.parked == 0
    finally:
        server.gate.set()
        sock.close()


def test_a_parked_poll_whose_client_left_is_dropped_at_once(make_server):
    server = _job_server(make_server)
    (sock, token), = _started(server, 1)
    try:
        sock.sendall(_post("/job", {"action": "get", "token": token,
                                    "wait": 20}))
        wait_for(lambda: server._loop.parked == 1, 5, "the poll parked")
        sock.close()
        wait_for(lambda: server._loop.parked == 0 and
                 server.workers.waiting() == 0 and len(server._loop) == 0,
                 5, "the poll and its connection gone")
    finally:
        server.gate.set()


def test_a_services_next_is_parked_until_a_job_is_queued(make_server):
    server = make_server()
    server.bind_services(prefix="/services", key="k")
    server.service_worker("/remote", "adder")
    sock = socket.create_connection(("127.0.0.1", server.port), 10)
    auth = "Authorization: Bearer k\r\n"
    try:
        body = json.dumps({"name": "adder"}).encode()
        sock.sendall((f"POST /services HTTP/1.1\r\nHost: x\r\n{auth}"
                      "Content-Type: application/json\r\nContent-Length: "
                      f"{len(body)}\r\n\r\n").encode() + body)
        status, answer = _answer(sock)
        assert status == 200
        service = json.loads(answer)["id"]
        sock.sendall(f"GET /services/{service}/next?wait=20 HTTP/1.1\r\n"
                     f"Host: x\r\n{auth}\r\n".encode())
        wait_for(lambda: server._loop.parked == 1, 5, "next parked")
        assert _loop_threads() <= 2
        with socket.create_connection(("127.0.0.1", server.port), 10) as c:
            c.sendall(_post("/remote", {"action": "start",
                                        "payload": {"a": 1}}))
            assert _answer(c)[0] == 200
        status, answer = _answer(sock)
        assert status == 200 and json.loads(answer)["payload"] == {"a": 1}
    finally:
        sock.close()


def test_live_reload_streams_hold_no_thread(make_server):
    server = make_server(start=False)
    server.live_reload = True
    run_in_thread(server)
    wait_for(lambda: server.reloader.live is not None, 5, "live reload")
    socks = []
    try:
        for _ in range(20):
            sock = socket.create_connection(("127.0.0.1", server.port), 10)
            sock.sendall(f"GET {LIVE_STREAM_PATH} HTTP/1.1\r\nHost: x\r\n"
                         "Accept: text/event-stream\r\n\r\n".encode())
            socks.append(sock)
        seen = [b""] * len(socks)
        for i, sock in enumerate(socks):
            while b"event: hello" not in seen[i]:
                seen[i] += sock.recv(4096)
        wait_for(lambda: server._loop.parked == 20, 5, "20 parked streams")
        assert _loop_threads() <= 2
        server.reloader.live.publish("reload", "[]")
        for i, sock in enumerate(socks):
            while b"event: reload" not in seen[i]:
                chunk = sock.recv(4096)
                assert chunk, seen[i]
                seen[i] += chunk
        socks.pop().close()  # a tab goes: its stream ends
        wait_for(lambda: server.reloader.live.listeners == 19, 5,
                 "the closed stream counted out")
    finally:
        for sock in socks:
            sock.close()


# -- the pure parts ---------------------------------------------------------

class _Conn:
    parked_until = 0.0


def test_a_signal_tells_every_subscriber_what_changed():
    signal, heard = Signal(), []
    signal.subscribe(heard.append)
    signal.subscribe(heard.append)  # once only
    signal.fire("a", "b")
    signal.fire()
    signal.unsubscribe(heard.append)
    signal.fire("c")
    assert heard == [("a", "b"), ()]


def test_parked_answers_by_key_and_by_deadline():
    parked = Parked()
    one, two = _Conn(), _Conn()
    one.parked_until, two.parked_until = 10.0, 20.0
    parked.add(one, ("job-1", "poll"), 10.0)
    parked.add(two, ("job-2",), 20.0)
    assert parked.count == 2
    assert parked.named(("job-1",)) == [one]
    assert set(parked.named(("poll", "job-2"))) == {one, two}
    assert set(parked.named(())) == {one, two}  # everything
    assert parked.next_deadline() == 10.0
    assert parked.due(5.0) == []
    assert parked.due(15.0) == [one]
    parked.remove(one, ("job-1", "poll"))
    assert parked.named(("job-1",)) == [] and parked.count == 1
    two.parked_until = 30.0  # parked again since: its old deadline is stale
    assert parked.due(25.0) == []
