"""Where jobs run: threads, the server's own job processes, any
`concurrent.futures.Executor`; progress from each, cancelling, errors,
`server.submit`, and the job statistics. Process executors are tested in
real server processes (a server forks its job processes before it runs
any thread of its own)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from quick_server import WorkerError, report_progress, worker_request
from conftest import (UNREBUILDABLE_JOBS, get, listening_socket, pid_alive,
                      start_process, stop_process, wait_for)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_app(folder, source, *args):
    """Runs the server script `source` (from `folder`) as a process with
    this checkout's quick_server; (process, port)."""
    script = folder / "app.py"
    script.write_text(source)
    sock, port = listening_socket()
    proc = start_process([str(script), str(port), *args], sock, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": ROOT})
    return proc, port

APP = """
import concurrent.futures, os, sys, time
from quick_server import create_server, msg, report_progress

server = create_server(("127.0.0.1", int(sys.argv[1])))
server.worker_executor = "process"
server.max_processes = 2
pool = concurrent.futures.ProcessPoolExecutor(2)

def steps(payload):
    for step in range(1, 4):
        report_progress(step, 3, f"step {step}")
        time.sleep(0.06)
    return {"pid": os.getpid(), "parent": os.getppid()}

def sleeper(payload):
    report_progress(0, None, str(os.getpid()))
    time.sleep(60)  # one long C call

def fail(payload):
    raise KeyError("no such thing")

def square(x):
    return {"square": x * x, "pid": os.getpid()}

server.json_worker("/steps")(steps)
server.json_worker("/sleep")(sleeper)
server.json_worker("/fail")(fail)
server.json_worker("/thread", executor="thread")(steps)
server.json_worker("/pool", executor=pool)(steps)

""" + UNREBUILDABLE_JOBS + """

for route, fn in (("/odd", odd), ("/fragile", fragile)):
    server.json_worker(route)(fn)
    server.json_worker("/pool" + route, executor=pool)(fn)


@server.json_get("/submit_odd")
def _submit_odd(req, args):
    errors = [server.submit(fn, {}, executor=executor).exception(20)
              for fn in (odd, fragile) for executor in ("process", pool)]
    return [[type(err).__name__, str(err)] for err in errors]


def make_closure():
    def closure(payload):
        return 1
    return closure

server.json_worker("/closure")(make_closure())

@server.json_post("/jobs")
def _jobs(req, args):
    # the job-queue pattern: the route waits for its job
    return server.submit(square, args["post"]["x"]).result(timeout=20)

@server.json_get("/pid")
def _pid(req, args):
    return {"pid": os.getpid()}

msg("READY")
try:
    server.serve_forever()
finally:
    server.server_close()
    pool.shutdown()
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    proc, port = start_app(tmp_path_factory.mktemp("app"), APP)
    proc.port = port
    proc.url = f"http://127.0.0.1:{port}"
    proc.server_pid = json.loads(get(port, "/pid")[2])["pid"]
    yield proc
    proc.code, proc.out = stop_process(proc)


def test_process_jobs_run_in_job_processes_with_progress(app):
    seen = []
    result = worker_request(app.url + "/steps", {}, on_progress=seen.append)
    assert result["pid"] != app.server_pid
    assert result["parent"] != app.server_pid  # forked from the template
    assert seen[-1] == {"done": 3, "total": 3, "message": "step 3"}
    # the same from a thread, and from a ProcessPoolExecutor instance
    for route in ("/thread", "/pool"):
        seen = []
        result = worker_request(app.url + route, {}, on_progress=seen.append)
        assert seen and seen[-1]["done"] == 3, route
        if route == "/thread":
            assert result["pid"] == app.server_pid
        else:
            assert result["pid"] != app.server_pid


def _start(port, route, wait):
    status, _, body = get(port, route, "POST", json.dumps(
        {"action": "start", "wait": wait, "payload": {}}).encode())
    assert status == 200, body
    return json.loads(body)


def test_cancel_kills_the_job_process_and_the_pool_recovers(app):
    res = _start(app.port, "/sleep", 10)  # returns early with the first report
    assert not res["done"] and res["continue"] and res["progress"]
    pid = int(res["progress"]["message"])
    assert pid_alive(pid)
    t0 = time.monotonic()
    status, _, body = get(app.port, "/sleep", "POST", json.dumps(
        {"action": "stop", "token": res["token"]}).encode())
    assert status == 200 and json.loads(body)["done"]
    wait_for(lambda: not pid_alive(pid), timeout=5, what="the killed process")
    freed = time.monotonic() - t0
    assert freed < 1.0, f"the core was freed after {freed:.2f}s"
    # the pool replaced the process: jobs run again
    assert worker_request(app.url + "/steps", {})["pid"] != pid


def test_a_failing_job_reports_its_type_and_message(app):
    with pytest.raises(WorkerError) as info:
        worker_request(app.url + "/fail", {})
    err = info.value
    assert err.status_code == 500
    assert (err.error_type, err.error_message) == ("KeyError",
                                                   "'no such thing'")


def test_what_cannot_be_rebuilt_in_the_server_fails_the_job_only(app):
    """An exception (or a result) that pickle cannot rebuild in the server
    settles its job as an error with the type name and message, and frees
    its slot: more such jobs than processes, and jobs still run."""
    for route in ("/odd", "/pool/odd", "/fragile", "/pool/fragile"):
        for _ in range(3):  # max_processes and the pool's size are 2
            with pytest.raises(WorkerError) as info:
                worker_request(app.url + route, {}, timeout=20)
            err = info.value
            if route.endswith("odd"):
                assert (err.error_type, err.error_message) == \
                    ("OddError", "odd failure (code 7)")
            else:
                assert err.error_type == "TypeError", err
                assert "cannot be rebuilt in the server: a Fragile" in \
                    err.error_message, err
    status, _, body = get(app.port, "/submit_odd")
    assert status == 200, body
    errors = json.loads(body)
    assert errors[:2] == [["JobFailed", "OddError: odd failure (code 7)"]] * 2
    assert [name for name, _ in errors[2:]] == ["JobFailed"] * 2
    assert all("cannot be rebuilt" in text for _, text in errors[2:])
    for route in ("/steps", "/pool"):
        assert worker_request(app.url + route, {}, timeout=20)["pid"] != \
            app.server_pid


def test_an_unpicklable_job_is_a_clear_error(app):
    with pytest.raises(WorkerError) as info:
        worker_request(app.url + "/closure", {})
    assert "picklable" in info.value.error_message


def test_a_route_waits_for_a_submitted_job(app):
    status, _, body = get(app.port, "/jobs", "POST", b'{"x": 7}',
                          {"Content-Type": "application/json"})
    result = json.loads(body)
    assert status == 200 and result["square"] == 49
    assert result["pid"] != app.server_pid


def test_stopping_the_server_ends_every_job_process(tmp_path):
    proc, port = start_app(tmp_path, APP)
    res = _start(port, "/sleep", 10)
    pid = int(res["progress"]["message"])
    code, out = stop_process(proc)
    assert code == 0, out
    wait_for(lambda: not pid_alive(pid), timeout=5, what="the job process")
    assert "cannot run in a process" in out  # the closure, said at start
    assert "/sleep: started 1, finished 0, failed 0, cancelled 1" in out


# -- in this process: threads ----------------------------------------------

def test_thread_progress_ends_a_long_poll_early(make_server):
    server = make_server()
    step = threading.Event()

    @server.json_worker("/work")
    def _work(payload):
        report_progress(1, 2, "half")
        step.wait(10)
        report_progress(2, 2)
        return "done"

    t0 = time.monotonic()
    res = json.loads(get(server.port, "/work", "POST", json.dumps(
        {"action": "start", "wait": 20}).encode())[2])
    assert time.monotonic() - t0 < 5  # the report ended the long-poll
    assert res["progress"] == {"done": 1, "total": 2, "message": "half"}
    step.set()
    token, deadline = res["token"], time.monotonic() + 20
    while True:  # the last report is news too: it may answer a poll first
        res = json.loads(get(server.port, "/work", "POST", json.dumps(
            {"action": "get", "token": token, "wait": 20}).encode())[2])
        if res["done"] or time.monotonic() > deadline:
            break
        assert res["progress"] == {"done": 2, "total": 2, "message": None}
    assert res["done"] and json.loads(res["result"]) == "done"
    assert res["progress"] == {"done": 2, "total": 2, "message": None}


def test_report_progress_checks_its_arguments():
    report_progress(1)  # outside a job: nothing happens
    with pytest.raises(TypeError):
        report_progress("1")
    with pytest.raises(ValueError):
        report_progress(float("nan"))


def test_unknown_executor_is_an_error(make_server):
    server = make_server()
    with pytest.raises(ValueError, match="executor"):
        server.json_worker("/x", executor="gpu")


def test_workers_command_lists_jobs_by_route(make_server, capsys):
    server = make_server()

    @server.json_worker("/ok")
    def _ok(payload):
        return 1

    @server.json_worker("/bad")
    def _bad(payload):
        raise ValueError("bad")

    worker_request(f"http://127.0.0.1:{server.port}/ok", {})
    with pytest.raises(WorkerError):
        worker_request(f"http://127.0.0.1:{server.port}/bad", {})
    capsys.readouterr()
    server.commands.execute("workers")
    out = capsys.readouterr().err
    assert "/ok: started 1, finished 1, failed 0, cancelled 0" in out
    assert "/bad: started 1, finished 0, failed 1, cancelled 0" in out
    assert "mean " in out and "max " in out


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX")
def test_submit_from_python_returns_a_future(make_server):
    server = make_server()
    future = server.submit(pow, 2, 10)
    assert future.result(timeout=10) == 1024
    failing = server.submit(int, "x")
    with pytest.raises(ValueError):
        failing.result(timeout=10)


SUBMIT_ONLY_APP = """
import os, sys
from quick_server import create_server
server = create_server(("127.0.0.1", int(sys.argv[1])))
server.max_processes = 1  # says the pool is used: forked at the start

def square(x):
    return {"square": x * x, "pid": os.getpid()}

@server.json_get("/pid")
def _pid(req, args):
    return {"pid": os.getpid()}

@server.json_get("/square")
def _square(req, args):
    return server.submit(square, 5, executor="process").result(10)

server.serve_forever()
"""


def test_a_server_that_only_submits_forks_its_pool_at_start(tmp_path):
    proc, port = start_app(tmp_path, SUBMIT_ONLY_APP)
    try:
        server_pid = json.loads(get(port, "/pid")[2])["pid"]
        result = json.loads(get(port, "/square")[2])
    finally:
        code, out = stop_process(proc)
    assert result["square"] == 25 and result["pid"] != server_pid
    assert "runs threads already" not in out
    assert code == 0


THREADED_APP = """
import os, sys, threading
from quick_server import create_server
server = create_server(("127.0.0.1", int(sys.argv[1])))

def pid():
    return os.getpid()

if sys.argv[2] == "early":
    server.start_job_processes()  # after the job functions, before threads
threading.Thread(target=threading.Event().wait, daemon=True).start()

@server.json_get("/pid")
def _pid(req, args):
    return {"server": os.getpid(),
            "job": server.submit(pid, executor="process").result(10)}

server.serve_forever()
"""


@pytest.mark.parametrize("when", ["early", "late"])
def test_start_job_processes_forks_before_other_threads(tmp_path, when):
    proc, port = start_app(tmp_path, THREADED_APP, when)
    try:
        pids = json.loads(get(port, "/pid")[2])
    finally:
        code, out = stop_process(proc)
    assert pids["job"] != pids["server"] and code == 0
    # forking later, from a server with threads, works but is said
    assert ("runs threads already" in out) == (when == "late"), out


LATE_APP = """
import sys
from quick_server import create_server
server = create_server(("127.0.0.1", int(sys.argv[1])))
server.start_job_processes()

def late():  # defined after the job processes started
    return 1

@server.json_get("/late")
def _late(req, args):
    return server.submit(late, executor="process").result(10)

server.serve_forever()
"""


def test_a_function_defined_after_the_fork_is_a_clear_error(tmp_path):
    proc, port = start_app(tmp_path, LATE_APP)
    try:
        status, _, body = get(port, "/late", headers={"Accept": "text/plain"})
    finally:
        stop_process(proc)
    assert status == 500
    assert b"define job functions before serve_forever" in body


def test_submit_jobs_are_never_abandoned(make_server):
    """A job of `server.submit` has no client that polls it: the sweep
    that cancels abandoned worker jobs leaves it alone."""
    server = make_server()
    server.workers.abandon_timeout = 0
    server.workers.sweep_interval = 0
    release = threading.Event()

    @server.json_worker("/poll")
    def _poll(payload):
        release.wait(10)
        return "polled"

    future = server.submit(lambda: release.wait(10) and "submitted")
    res = json.loads(get(server.port, "/poll", "POST",
                         b'{"action": "start"}')[2])
    other = json.dumps({"action": "get", "token": "other"}).encode()
    # a sweep: the polled job (abandoned at once) is cancelled...
    wait_for(lambda: get(server.port, "/poll", "POST", other)[0] == 404 and
             get(server.port, "/poll", "POST", json.dumps(
                 {"action": "get", "token": res["token"]}).encode())[0]
             == 404, what="the abandoned worker job to go")
    release.set()
    assert future.result(timeout=10) == "submitted"  # ...this one is not


POOL_SCRIPT = """
import json, os, subprocess, sys, time
sys.path.insert(0, sys.argv[1])
from quick_server.jobs.processes import ProcessPool
import threading

def quick():
    return os.getpid()

def slow():
    time.sleep(1.0)
    return "slow done"

def spawner():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    from quick_server import report_progress
    report_progress(0, None, str(child.pid))
    time.sleep(60)

pool = ProcessPool(1)
pool.start()
done = {}
events = {k: threading.Event() for k in ("a", "b", "c")}
progress = {}

def finish(key):
    def on_done(outcome):
        done[key] = outcome[:2]
        events[key].set()
    return on_done

ticket_a = pool.run(quick, (), lambda p: None, finish("a"))
events["a"].wait(10)
ticket_b = pool.run(slow, (), lambda p: None, finish("b"))
pool.cancel(ticket_a)  # stale: job a is over, its process runs job b
events["b"].wait(10)
ticket_c = pool.run(spawner, (), lambda p: progress.update(pid=p.message), finish("c"))
deadline = time.monotonic() + 10
while "pid" not in progress and time.monotonic() < deadline:
    time.sleep(0.01)
pool.cancel(ticket_c)
events["c"].wait(10)
pool.close()
print(json.dumps({"a": done["a"], "b": done["b"], "c": done["c"][:1],
                  "child": int(progress["pid"])}))
"""


def test_process_pool_cancels_only_its_job_and_all_it_started(tmp_path):
    script = tmp_path / "pool.py"
    script.write_text(POOL_SCRIPT)
    out = subprocess.run([sys.executable, str(script), ROOT],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["b"] == ["done", "slow done"]  # a stale ticket: no kill
    assert result["c"] == ["cancelled"]
    wait_for(lambda: not pid_alive(result["child"]),
             what="the process the cancelled job started")


def test_the_template_ends_with_a_killed_server(tmp_path):
    proc, port = start_app(tmp_path, APP)
    children = []
    try:
        worker_request(f"http://127.0.0.1:{port}/steps", {})
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as handle:
            children = [int(pid) for pid in handle.read().split()]
        assert children
    finally:
        proc.kill()  # no clean-up at all
        proc.communicate()
    for pid in children:
        wait_for(lambda: not pid_alive(pid), what=f"process {pid} to end")


def test_the_progress_inbox_survives_bad_datagrams():
    import socket as sockets

    from quick_server.jobs.progress import ProgressInbox
    got = []
    inbox = ProgressInbox(lambda key, progress: got.append((key, progress)))
    try:
        with sockets.socket(sockets.AF_INET, sockets.SOCK_DGRAM) as out:
            for bad in (b"not json", b'{"key": "k", "done": 1' + b"0" * 400
                        + b"}", b'{"key": "k", "done": "x"}', b"[]",
                        b"[" * 60000, b'{"a":' * 12000, b"\xff\xfe",
                        b'"text"', b'{"key": "k"}'):
                out.sendto(bad, inbox.address)
            out.sendto(b'{"key": "k", "done": 2, "total": 4}', inbox.address)
            wait_for(lambda: got, what="the good datagram")
    finally:
        inbox.close()
    assert [(key, p.done, p.total) for key, p in got] == [("k", 2, 4)]
    with pytest.raises(ValueError):
        report_progress(10 ** 400)


def test_bad_datagrams_never_stop_executor_progress(make_server):
    """Anyone on this machine can send the progress inbox a datagram: one
    nested too deep for the parser (a RecursionError) is dropped like any
    bad one, and jobs on the executor still report progress."""
    import concurrent.futures
    import socket as sockets

    server = make_server()
    pool = concurrent.futures.ThreadPoolExecutor(1)
    seen = threading.Event()

    @server.json_worker("/steps", executor=pool)
    def _steps(payload):
        report_progress(1, 2, "half")
        seen.wait(10)  # until the client saw the report
        return "ok"

    url = f"http://127.0.0.1:{server.port}/steps"
    try:
        seen.set()
        assert worker_request(url, {}, timeout=20) == "ok"  # makes the inbox
        seen.clear()
        inbox = server.workers.runners.get(pool)._inbox
        with sockets.socket(sockets.AF_INET, sockets.SOCK_DGRAM) as out:
            for bad in (b"[" * 60000, b'{"a":' * 12000, b"[]" * 30000):
                out.sendto(bad, inbox.address)
        got = []
        assert worker_request(url, {}, timeout=20, on_progress=lambda p: (
            got.append(p), seen.set())) == "ok"
        assert got == [{"done": 1, "total": 2, "message": "half"}]
    finally:
        seen.set()
        pool.shutdown()


def test_a_dask_task_that_cannot_be_loaded_names_the_cause():
    """(test_dask provokes the scheduler's case for real; a worker that
    cannot import the job's module fails with an ImportError.)"""
    from quick_server.jobs.executors import dask_failure
    outcome = dask_failure(ModuleNotFoundError("No module named 'mine'"))
    assert outcome[:3] == ("error", "ModuleNotFoundError", (
        "No module named 'mine'. The cluster could not load the job: "
        "quick_server and the script's modules must be importable on the "
        "Dask scheduler and workers, in the same environment as the "
        "client."))
    assert dask_failure(KeyError("lost"))[:3] == ("error", "KeyError",
                                                  "'lost'")
