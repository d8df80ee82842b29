"""Typed workers (`@server.rpc_worker`, issue 24) over real HTTP: typed
payloads and results, a payload that does not fit (400 with `field` and
`expected`), progress, cancel, cargo, cache, file answers, `async def`,
the process executor, `worker_request` with `result_type`, and a job
kept across a stop and start of the server."""
from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from dataclasses import dataclass, field

import pytest

from conftest import get, listening_socket, start_process, stop_process
from quick_server import (FileResponse, ValidationError, WorkerError,
                          is_worker_alive, report_progress, worker_request)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class Count:
    """How far to count."""
    n: int
    gate: bool = False
    label: str = "count"


@dataclass
class Counted:
    total: int
    squares: list[int] = field(default_factory=list)


@dataclass
class Renamed:
    count: int  # a kept payload {"n": 3} no longer fits


def post(port, path, obj):
    status, headers, body = get(port, path, "POST", json.dumps(obj).encode(),
                                {"Content-Type": "application/json"})
    is_json = headers.get("content-type") == "application/json"
    return status, (json.loads(body) if is_json else body)


def reported(port, reply, path="/jobs/count"):
    """The job's first progress: in its `start` reply, or else in the
    next `get` (which waits for news)."""
    if reply["progress"] is None:
        reply = post(port, path, {"action": "get", "token": reply["token"],
                                  "wait": 10})[1]
    return reply["progress"]


def final(port, token, path="/jobs/count"):
    """The job's final reply (each `get` waits for news: progress, then
    the end)."""
    for _ in range(10):
        status, reply = post(port, path, {"action": "get", "token": token,
                                          "wait": 10})
        if status != 200 or reply["done"] or not reply["continue"]:
            break
    return status, reply


@pytest.fixture
def typed(make_server):
    """A server with the typed worker `count` at /jobs/count: a payload
    with `gate` reports half its progress, then waits for `server.gate`
    (ending early, cleanly, when cancelled)."""
    server = make_server()
    server.gate = threading.Event()
    server.ended = threading.Event()

    @server.rpc_worker("/jobs/count")
    def count(request: Count) -> Counted:
        """Counts to n, with the squares."""
        try:
            if request.gate:
                report_progress(1, 2, f"{request.label}: half")
                while not server.gate.wait(0.01):
                    if not is_worker_alive():
                        return Counted(-1)
            report_progress(2, 2, f"{request.label}: done")
            return Counted(request.n, [k * k for k in range(request.n)])
        finally:
            server.ended.set()

    @server.rpc_worker("/jobs/wrong")
    def wrong(request: Count) -> Counted:
        return {"total": request.n}  # type: ignore[return-value]

    yield server
    server.gate.set()


def url(server, path="/jobs/count"):
    return f"http://127.0.0.1:{server.port}{path}"


def test_start_progress_and_a_typed_result(typed):
    status, reply = post(typed.port, "/jobs/count", {
        "action": "start", "payload": {"n": 3, "gate": True}})
    assert status == 200 and reply["continue"] and not reply["done"]
    token = reply["token"]
    assert reported(typed.port, reply) == {"done": 1, "total": 2,
                                           "message": "count: half"}
    typed.gate.set()
    status, reply = final(typed.port, token)
    assert status == 200 and reply["done"], reply
    assert json.loads(reply["result"]) == {"total": 3, "squares": [0, 1, 4]}
    assert reply["progress"]["message"] == "count: done"


def test_worker_request_sends_a_dataclass_and_returns_the_result_type(
        typed):
    seen = []
    result = worker_request(url(typed), Count(4, label="four"),
                            result_type=Counted, on_progress=seen.append)
    assert result == Counted(4, [0, 1, 4, 9])
    assert seen[-1] == {"done": 2, "total": 2, "message": "four: done"}
    # plain JSON payloads work too, and without result_type the JSON
    assert worker_request(url(typed), {"n": 1}) == {"total": 1,
                                                    "squares": [0]}
    with pytest.raises(WorkerError) as info:  # the result is no str
        worker_request(url(typed), {"n": 1}, result_type=str)
    assert "does not fit str" in str(info.value)
    with pytest.raises(ValidationError):  # checked before it is sent
        worker_request(url(typed), Count("x"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="forge"):
        worker_request(url(typed), {"n": 1}, headers={"X": "a\r\nB: c"})


@pytest.mark.parametrize("payload, field_, expected", [
    ({"n": "3"}, "n", "int"),
    ({"gate": True}, "n", "int"),
    ({"n": 1, "lable": "x"}, "lable", "no such field"),
    ([1, 2], "", "Count (an object)"),
])
def test_a_payload_that_does_not_fit_is_a_400_naming_the_field(
        typed, payload, field_, expected):
    status, error = post(typed.port, "/jobs/count",
                         {"action": "start", "payload": payload})
    assert status == 400
    assert (error["field"], error["expected"]) == (field_, expected)
    assert error["error"].startswith(field_ or "payload")
    assert typed.workers.active() == 0  # no job was queued
    with pytest.raises(WorkerError) as info:
        worker_request(url(typed), payload)
    err = info.value
    assert (err.status, err.field, err.expected) == (400, field_, expected)
    assert error["error"] in str(err)


def test_a_payload_with_a_typo_says_what_was_meant(typed):
    status, error = post(typed.port, "/jobs/count", {
        "action": "start", "payload": {"n": 1, "lable": "x"}})
    assert "did you mean 'label'?" in error["error"]


def test_cancel_ends_the_job(typed):
    status, reply = post(typed.port, "/jobs/count", {
        "action": "start", "payload": {"n": 3, "gate": True}})
    token = reply["token"]
    assert reported(typed.port, reply)  # it runs
    assert post(typed.port, "/jobs/count",
                {"action": "stop", "token": token})[0] == 200
    assert typed.ended.wait(10)
    assert post(typed.port, "/jobs/count",
                {"action": "get", "token": token})[0] == 404


def test_a_result_that_is_not_the_declared_type_fails_the_job(typed,
                                                             capsys):
    status, reply = post(typed.port, "/jobs/wrong", {
        "action": "start", "payload": {"n": 2}, "wait": 10})
    assert status == 500
    assert reply["error"]["type"] == "RpcAnswerError"
    assert "wrong returned a dict: return a Counted instance" in \
        reply["error"]["message"]


def test_a_long_result_comes_in_cargo_parts(typed):
    typed.max_chunk_size = 50
    status, reply = post(typed.port, "/jobs/count", {
        "action": "start", "payload": {"n": 40}, "wait": 10})
    if not reply["done"]:  # (the start's wait may end at its progress)
        status, reply = final(typed.port, reply["token"])
    assert reply["done"] and reply["continue"]  # cargo tokens
    assert len(reply["result"]) > 1
    assert worker_request(url(typed), Count(40), result_type=Counted) == \
        Counted(40, [k * k for k in range(40)])


def test_get_serves_the_contract(typed):
    status, headers, body = get(typed.port, "/jobs/count")
    doc = json.loads(body)
    assert (doc["kind"], doc["name"]) == ("worker", "count")
    assert doc["description"] == "Counts to n, with the squares."
    request = doc["request"]
    assert request["$defs"]["Count"]["required"] == ["n"]
    assert doc["response"]["$defs"]["Counted"]["properties"]["squares"][
        "x-python-default-factory"] == "list"


def test_the_cache_computes_a_result_once(make_server, tmp_path):
    import quick_cache  # the test extra installs it
    server = make_server()
    base = tmp_path / "cache_base"
    base.write_text(f"test cache {time.time()}")
    server.cache = quick_cache.QuickCache(str(base), quota=10,
                                          ram_quota=1, warnings=None,
                                          temp=str(tmp_path / "tmp"))
    calls = []

    @server.rpc_worker("/jobs/square", cache_id=lambda request: request.n)
    def square(request: Count) -> Counted:
        calls.append(request.n)
        time.sleep(0.05)  # slower than a cache read (as quick_cache wants)
        return Counted(request.n ** 2)

    for n in (3, 3, 4, 3):
        assert worker_request(f"http://127.0.0.1:{server.port}/jobs/square",
                              Count(n), result_type=Counted) == \
            Counted(n * n)
    assert calls == [3, 4]


def test_an_async_typed_worker(make_server):
    server = make_server()
    cleaned = threading.Event()
    going = threading.Event()

    @server.rpc_worker("/jobs/slowly")
    async def slowly(request: Count) -> Counted:
        if not request.gate:
            await asyncio.sleep(0)
            return Counted(request.n)
        try:
            for step in range(1000):
                report_progress(step, 1000, "counting")
                going.set()
                await asyncio.sleep(0.01)
        finally:
            cleaned.set()
        return Counted(0)

    address = f"http://127.0.0.1:{server.port}/jobs/slowly"
    assert worker_request(address, Count(7), result_type=Counted) == \
        Counted(7)
    assert post(server.port, "/jobs/slowly", {
        "action": "start", "payload": {"n": "7"}})[1]["field"] == "n"
    status, reply = post(server.port, "/jobs/slowly", {
        "action": "start", "payload": {"n": 1, "gate": True}})
    assert going.wait(5)
    post(server.port, "/jobs/slowly", {"action": "stop",
                                       "token": reply["token"]})
    assert cleaned.wait(5), "the cancelled job's finally ran"


def test_a_file_answer(make_server, tmp_path):
    server = make_server()
    made = tmp_path / "report.txt"
    made.write_text("the report")

    @server.rpc_worker("/jobs/report")
    def report(request: Count) -> Counted | FileResponse:
        if request.n == 0:
            return Counted(0)
        return FileResponse(str(made), filename="report.txt")

    @server.rpc_worker("/jobs/no_files")
    def no_files(request: Count) -> Counted:
        return FileResponse(str(made))  # type: ignore[return-value]

    status, reply = post(server.port, "/jobs/report", {
        "action": "start", "payload": {"n": 1}, "wait": 10})
    info = json.loads(reply["result"])["file"]
    assert info["filename"] == "report.txt" and info["size"] == 10
    status, _, body = get(server.port, info["url"])
    assert (status, body) == (200, b"the report")
    status, reply = post(server.port, "/jobs/report", {
        "action": "start", "payload": {"n": 0}, "wait": 10})
    assert json.loads(reply["result"]) == {"total": 0, "squares": []}
    status, reply = post(server.port, "/jobs/no_files", {
        "action": "start", "payload": {"n": 1}, "wait": 10})
    assert status == 500 and "FileResponse" in reply["error"]["message"]


def test_registering_checks_the_function(make_server):
    server = make_server(start=False)
    with pytest.raises(TypeError, match="annotate its argument with a "
                                        "dataclass"):
        server.rpc_worker("/a")(lambda payload: payload)
    with pytest.raises(TypeError, match="return type"):
        @server.rpc_worker("/b")
        def untyped(request: Count):  # noqa: ANN202
            return None
    with pytest.raises(ValueError, match="executor"):
        server.rpc_worker("/c", executor="gpu")
    with pytest.raises(ValueError, match=":segments"):
        server.rpc_worker("/d/:id")

    @server.rpc("/api/count")
    def count(request: Count) -> Counted:
        return Counted(0)
    with pytest.raises(ValueError, match="name 'count' is taken by rpc "
                                         "/api/count.*name="):
        @server.rpc_worker("/jobs/count")
        def count(request: Count) -> Counted:  # noqa: F811
            return Counted(0)

    @server.rpc_worker("/jobs/count", name="count_job")
    def count(request: Count) -> Counted:  # noqa: F811
        return Counted(0)
    assert [(r.kind, r.name) for r in server.typed_routes()] == [
        ("rpc", "count"), ("worker", "count_job")]
    with pytest.raises(ValueError, match="an identifier"):
        server.rpc_worker("/jobs/e", name="not-a-name")(count)


# -- in a job process ------------------------------------------------------

APP = """
import os, sys
from dataclasses import dataclass
from quick_server import create_server, msg, report_progress

@dataclass
class Count:
    n: int

@dataclass
class Counted:
    total: int
    pid: int

server = create_server(("127.0.0.1", int(sys.argv[1])))

@server.rpc_worker("/jobs/count", executor="process")
def count(request: Count) -> Counted:
    report_progress(request.n, request.n, "counted")
    return Counted(request.n, os.getpid())

@server.json_get("/pid")
def _pid(req, args):
    return {"pid": os.getpid()}

msg("READY")
try:
    server.serve_forever()
finally:
    server.server_close()
"""


def test_a_typed_worker_in_a_job_process(tmp_path):
    script = tmp_path / "app.py"
    script.write_text(APP)
    sock, port = listening_socket()
    proc = start_process([str(script), str(port)], sock, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": ROOT})
    try:
        server_pid = json.loads(get(port, "/pid")[2])["pid"]
        seen = []
        result = worker_request(f"http://127.0.0.1:{port}/jobs/count",
                                {"n": 5}, on_progress=seen.append)
        assert result["total"] == 5 and result["pid"] != server_pid
        assert seen[-1]["message"] == "counted"
        status, error = post(port, "/jobs/count", {
            "action": "start", "payload": {"n": 5.5}})
        assert (status, error["field"]) == (400, "n")
    finally:
        code, out = stop_process(proc)
    assert "Traceback" not in out, out


# -- across a stop and a start ---------------------------------------------

def test_a_kept_typed_job_runs_again_after_a_restart(make_server, tmp_path):
    store = str(tmp_path / "jobs.sqlite3")
    gate, running = threading.Event(), threading.Event()

    def serve(register):
        server = make_server(start=False)
        server.persist_jobs(store)
        register(server)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        return server, thread

    def first(server):
        @server.rpc_worker("/jobs/count", restartable=True)
        def count(request: Count) -> Counted:
            running.set()
            gate.wait(10)
            return Counted(-1)

        @server.rpc_worker("/jobs/changed", restartable=True)
        def changed(request: Count) -> Counted:
            gate.wait(10)
            return Counted(-1)

    old, thread = serve(first)
    tokens = {}
    for path, payload in (("/jobs/count", {"n": 3, "label": "kept"}),
                          ("/jobs/changed", {"n": 3})):
        status, reply = post(old.port, path, {"action": "start",
                                              "payload": payload})
        tokens[path] = reply["token"]
    assert running.wait(10)
    old.shutdown()
    thread.join(10)
    gate.set()

    def second(server):
        @server.rpc_worker("/jobs/count", restartable=True)
        def count(request: Count) -> Counted:
            return Counted(request.n, [len(request.label)])

        @server.rpc_worker("/jobs/changed", restartable=True)
        def changed(request: Renamed) -> Counted:
            return Counted(request.count)

    new, _ = serve(second)
    status, reply = final(new.port, tokens["/jobs/count"])
    assert status == 200 and reply["done"], reply
    assert json.loads(reply["result"]) == {"total": 3, "squares": [4]}
    status, reply = post(new.port, "/jobs/changed", {
        "action": "get", "token": tokens["/jobs/changed"], "wait": 10})
    assert status == 500 and reply["error"]["type"] == "JobLost"
    assert "could not queue the job again: n: unknown field" in \
        reply["error"]["message"]
    new.shutdown()
