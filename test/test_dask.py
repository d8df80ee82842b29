"""Jobs on a real Dask cluster: a scheduler and two workers started as
processes on 127.0.0.1, and a quick_server process whose jobs run there
through `client.get_executor(pure=False)`. Proves that a job ran in a
worker process, with progress (Dask events), long-polls, cancelling,
errors, the cache, cargo, `server.submit`, and worker.js in Chromium."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any, Iterator

import pytest

distributed = pytest.importorskip("distributed")  # the test extra has it

from quick_server import WorkerError, worker_request  # noqa: E402
from conftest import (UNREBUILDABLE_JOBS, get,  # noqa: E402
                      listening_socket, start_process, stop_process,
                      wait_for)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# one task per worker thread at a time: a task that finds every worker
# busy waits at the scheduler (the tests of queued jobs rely on it), not
# in a worker's own queue where a cancel can race the task's start
ENV = {**os.environ, "PYTHONPATH": ROOT,
       "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0"}

APP = """
import json, os, sys, time
from dataclasses import dataclass
import distributed
import quick_cache
import app_helpers
from quick_server import create_server, msg, report_progress

port, scheduler, folder = int(sys.argv[1]), sys.argv[2], sys.argv[3]
server = create_server(("127.0.0.1", port))
server.no_command_loop = True
server.suppress_noise = True
server.bind_path("/", os.path.join(folder, "www"))
server.link_worker_js("/js/worker.js")
server.max_chunk_size = 1000
base = os.path.join(folder, "cache_base")
with open(base, "w") as handle:
    handle.write(f"dask test cache {time.time()}")  # names a fresh cache
server.cache = quick_cache.QuickCache(base, quota=10, ram_quota=1,
                                      warnings=None,
                                      temp=os.path.join(folder, "tmp"))
client = distributed.Client(scheduler, timeout=20)
dask = client.get_executor(pure=False)
server.worker_executor = dask


class Unlucky(Exception):
    pass


""" + UNREBUILDABLE_JOBS + """

def where():
    try:
        task = str(distributed.get_worker().get_current_task())
    except ValueError:  # not on a Dask worker
        task = None
    return {"pid": os.getpid(), "key": task}


def steps(payload):
    count = payload.get("steps", 3)
    for step in range(1, count + 1):
        report_progress(step, count, f"step {step}")
        time.sleep(0.1)
    return {**where(), "data": "x" * payload.get("size", 0)}


def gated(payload):
    # runs until the test creates the gate file (at most 15 s)
    tag = os.path.join(folder, payload["tag"])
    open(tag + ".started", "w").close()
    report_progress(0, 1, json.dumps(where()))
    end = time.monotonic() + 15
    while not os.path.exists(os.path.join(folder, "gate-" + payload["gate"])):
        if time.monotonic() > end:
            break
        time.sleep(0.02)
    return payload["tag"]


def fail(payload):
    raise Unlucky("no luck on " + str(os.getpid()))

def stamped(payload):
    return {"x": payload["x"], "ran": time.time_ns(), **where()}


def square(x):
    return {"square": x * x, **where()}


server.json_worker("/steps")(steps)
server.json_worker("/gated")(gated)
server.json_worker("/fail")(fail)
server.json_worker("/odd")(odd)
server.json_worker("/fragile")(fragile)
# a module beside the script, which the cluster cannot import
server.json_worker("/local")(app_helpers.local_job)
server.json_worker("/cached", cache_id=lambda args: {"x": args["x"]})(stamped)
server.json_worker("/thread", executor="thread")(steps)


@dataclass
class Steps:
    steps: int = 3


@dataclass
class Where:
    pid: int
    key: str | None


@server.rpc_worker("/typed")
def typed(request: Steps) -> Where:
    for step in range(1, request.steps + 1):
        report_progress(step, request.steps, f"step {step}")
    return Where(**where())


@server.json_post("/jobs")
def _jobs(req, args):
    # the job-queue pattern: the route waits for its job
    future = server.submit(square, args["post"]["x"], executor=dask)
    return future.result(timeout=20)


@server.json_get("/pid")
def _pid(req, args):
    return {"pid": os.getpid()}


@server.json_get("/stats")
def _stats(req, args):
    return server.workers.stats.lines()


msg("READY")
try:
    server.serve_forever()
finally:
    server.server_close()
    client.close()
"""

PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<script src="/js/worker.js"></script></head><body><script>
window.progress = [];
window.failed = null;
window.work = new quick_server.Worker({onError: (name, err) => {
  window.failed = err.message; }});
</script></body></html>"""


def _start_dask(args: list[str], log: Any) -> subprocess.Popen:
    """A Dask command-line process; its output goes to `log` (a file, so
    that it never blocks on a full pipe)."""
    return subprocess.Popen([sys.executable, "-m"] + args, env=ENV,
                            stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT)


def _stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM to each process we started, SIGKILL after 5 s (a Dask
    worker seldom stalls while closing)."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class Cluster:
    """The scheduler's address, its workers' pids, and a client of the
    test process (to look at the scheduler's tasks)."""

    def __init__(self, address: str, worker_pids: set[int],
                 client: Any) -> None:
        self.address = address
        self.worker_pids = worker_pids
        self.client = client

    def task_keys(self) -> set[str]:
        """The keys of every task the scheduler knows now."""
        return set(self.client.run_on_scheduler(
            lambda dask_scheduler: [str(key) for key in
                                    dask_scheduler.tasks]))


def _address(scheduler_file: Any, scheduler: subprocess.Popen) -> str | None:
    """The address the scheduler wrote to its file, once it did."""
    assert scheduler.poll() is None, "the scheduler exited"
    try:
        with open(scheduler_file, encoding="utf-8") as handle:
            return json.load(handle)["address"]
    except (FileNotFoundError, ValueError, KeyError):
        return None  # not written yet, or half


@contextlib.contextmanager
def dask_cluster(folder: Any) -> Iterator[Cluster]:
    """A scheduler and two workers, each a process we start (and stop),
    their output in `folder`/dask.log."""
    log = open(folder / "dask.log", "wb")  # noqa: SIM115
    scheduler_file = folder / "scheduler.json"  # its address, on port 0
    procs = [_start_dask(["distributed.cli.dask_scheduler", "--host",
                          "127.0.0.1", "--port", "0", "--no-dashboard",
                          "--scheduler-file", str(scheduler_file)], log)]
    client = None
    try:
        address = wait_for(lambda: _address(scheduler_file, procs[0]),
                           timeout=30, what="the scheduler's address")
        for _ in range(2):  # one process each: the worker is the process
            procs.append(_start_dask([
                "distributed.cli.dask_worker", address, "--nworkers", "1",
                "--nthreads", "1", "--no-nanny", "--no-dashboard", "--host",
                "127.0.0.1", "--local-directory", str(folder)], log))
        client = distributed.Client(address, timeout=20)
        client.wait_for_workers(2, timeout=30)
        pids = set(client.run(os.getpid).values())
        assert pids == {proc.pid for proc in procs[1:]}
        yield Cluster(address, pids, client)
    except Exception:
        log.flush()
        print((folder / "dask.log").read_text()[-5000:])
        raise
    finally:
        if client is not None:
            client.close()
        _stop(procs[1:])
        _stop(procs[:1])
        log.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with dask_cluster(tmp_path_factory.mktemp("dask")) as made:
        yield made


@pytest.fixture(scope="module")
def app(cluster, tmp_path_factory):
    folder = tmp_path_factory.mktemp("app")
    (folder / "www").mkdir()
    (folder / "www" / "index.html").write_text(PAGE)
    script = folder / "app.py"
    script.write_text(APP)
    (folder / "app_helpers.py").write_text(
        "def local_job(payload):\n    return 1\n")
    sock, port = listening_socket()
    proc = start_process([str(script), str(port), cluster.address,
                          str(folder)], sock, cwd=ROOT, env=ENV)
    proc.port = port
    proc.url = f"http://127.0.0.1:{port}"
    proc.folder = folder
    proc.server_pid = json.loads(get(port, "/pid")[2])["pid"]
    yield proc
    code, out = stop_process(proc)
    assert code == 0, out


def _post(app, route: str, obj: dict[str, Any]) -> tuple[int, Any]:
    """One protocol request: the status and the JSON answer (the text of
    an error that is not JSON)."""
    status, _, body = get(app.port, route, "POST", json.dumps(obj).encode(),
                          {"Content-Type": "application/json"})
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode()


def _run(app, route: str, payload: Any, **kwargs: Any) -> Any:
    """`worker_request` to a route of the app, given up after 20 s."""
    return worker_request(app.url + route, payload, timeout=20, **kwargs)


def _open_gate(app, gate: str) -> None:
    (app.folder / f"gate-{gate}").touch()


def _start_gated(app, tag: str, gate: str) -> tuple[str, dict[str, Any]]:
    """Starts a gated job and returns its token and where it runs (the
    start long-poll returns with its first progress report)."""
    status, res = _post(app, "/gated", {"action": "start", "wait": 20,
                                        "payload": {"tag": tag,
                                                    "gate": gate}})
    assert status == 200 and not res["done"] and res["continue"], res
    assert res["progress"] is not None, res
    return res["token"], json.loads(res["progress"]["message"])


def test_jobs_run_in_dask_worker_processes_with_progress(cluster, app):
    seen: list[dict[str, Any]] = []
    result = _run(app, "/steps", {}, on_progress=seen.append)
    assert result["pid"] in cluster.worker_pids
    assert result["pid"] != app.server_pid
    assert seen and seen[-1] == {"done": 3, "total": 3, "message": "step 3"}
    assert [p["done"] for p in seen] == sorted(p["done"] for p in seen)
    # a route on threads runs in the server itself
    assert _run(app, "/thread", {})["pid"] == app.server_pid


def test_a_typed_worker_runs_on_dask(cluster, app):
    """The request and result dataclasses travel to the Dask worker and
    back (defined in the server's script: by value, as cloudpickle sends
    them, and still the server's own classes when the result comes
    back)."""
    seen: list[dict[str, Any]] = []
    result = _run(app, "/typed", {"steps": 2}, on_progress=seen.append)
    assert result["pid"] in cluster.worker_pids
    assert seen[-1] == {"done": 2, "total": 2, "message": "step 2"}
    with pytest.raises(WorkerError) as info:
        _run(app, "/typed", {"steps": "2"})
    assert (info.value.status, info.value.field) == (400, "steps")


def test_the_protocol_long_polls_on_dask_progress(cluster, app):
    t0 = time.monotonic()
    token, job = _start_gated(app, "poll", "poll")
    assert time.monotonic() - t0 < 15  # the report ended the 20 s wait
    assert job["pid"] in cluster.worker_pids
    _open_gate(app, "poll")
    status, res = _post(app, "/gated", {"action": "get", "token": token,
                                        "wait": 20})
    assert status == 200 and res["done"] and not res["continue"], res
    assert json.loads(res["result"]) == "poll"


def test_stop_cancels_a_running_dask_job(cluster, app):
    token, job = _start_gated(app, "running", "running")
    try:
        assert job["key"] in cluster.task_keys()
        status, res = _post(app, "/gated", {"action": "stop",
                                            "token": token})
        assert status == 200 and res["done"]
        assert _post(app, "/gated", {"action": "get", "token": token})[0] \
            == 404
        # the cancel reached Dask: the scheduler forgets the task
        wait_for(lambda: job["key"] not in cluster.task_keys(), 10,
                 "the scheduler to forget the cancelled task")
    finally:
        _open_gate(app, "running")  # a running task ends by itself


def test_stop_cancels_a_queued_dask_job(cluster, app):
    before = cluster.task_keys()
    # both workers (one thread each) busy, a third job waits in Dask
    tokens, keys = [], []
    try:
        for tag in ("busy1", "busy2"):
            token, job = _start_gated(app, tag, "queued")
            tokens.append(token)
            keys.append(job["key"])
        status, res = _post(app, "/gated", {"action": "start", "payload": {
            "tag": "waiting", "gate": "queued"}})
        assert status == 200 and res["continue"] and not res["done"], res
        queued = wait_for(lambda: cluster.task_keys() - before - set(keys),
                          10, "the third task at the scheduler")
        assert len(queued) == 1
        assert _post(app, "/gated", {"action": "stop",
                                     "token": res["token"]})[1]["done"]
        wait_for(lambda: not queued & cluster.task_keys(), 10,
                 "the scheduler to forget the queued task")
    finally:
        _open_gate(app, "queued")
    for token in tokens:
        status, res = _post(app, "/gated", {"action": "get", "token": token,
                                            "wait": 20})
        assert status == 200 and res["done"], res
    # a later job runs, and the cancelled one never did
    assert _run(app, "/steps", {"steps": 1})["pid"] in \
        cluster.worker_pids
    assert not (app.folder / "waiting.started").exists()


def test_a_failing_dask_job_reports_its_type_and_message(cluster, app):
    with pytest.raises(WorkerError) as info:
        _run(app, "/fail", {})
    err = info.value
    assert err.status_code == 500
    assert err.error_type == "Unlucky"
    assert err.error_message.startswith("no luck on ")
    assert int(err.error_message.split()[-1]) in cluster.worker_pids


def test_what_cannot_be_rebuilt_in_the_server_fails_the_dask_job(cluster,
                                                                  app):
    """An exception pickle cannot rebuild keeps its type name and message;
    a result that cannot be rebuilt in the server is an error (Dask's
    own future would never settle), and jobs still run."""
    for _ in range(3):  # more than the workers
        with pytest.raises(WorkerError) as info:
            _run(app, "/odd", {})
        assert (info.value.error_type, info.value.error_message) == \
            ("OddError", "odd failure (code 7)")
        with pytest.raises(WorkerError) as info:
            _run(app, "/fragile", {})
        assert info.value.error_type == "TypeError"
        assert "cannot be rebuilt in the server: a Fragile" in \
            info.value.error_message
    assert _run(app, "/steps", {"steps": 1})["pid"] in cluster.worker_pids


def test_a_task_the_cluster_cannot_load_names_the_likely_cause(cluster,
                                                               app):
    """A job function from a module the scheduler cannot import: Dask's
    "Error during deserialization of the task graph" comes with its cause
    and what to do."""
    with pytest.raises(WorkerError) as info:
        _run(app, "/local", {})
    message = info.value.error_message
    assert info.value.error_type == "RuntimeError"
    assert "Error during deserialization of the task graph" in message
    assert ("The cluster could not load the job (ModuleNotFoundError: No "
            "module named 'app_helpers'): quick_server and the script's "
            "modules must be importable on the Dask scheduler and workers"
            ) in message
    assert _run(app, "/steps", {"steps": 1})["pid"] in cluster.worker_pids


def test_cached_results_skip_dask(cluster, app):
    first = _run(app, "/cached", {"x": 3})
    assert first["pid"] in cluster.worker_pids
    # answered in the start reply, from the cache: the same run
    status, res = _post(app, "/cached", {"action": "start",
                                         "payload": {"x": 3}})
    assert status == 200 and res["done"], res
    assert json.loads(res["result"]) == first
    assert _run(app, "/cached", {"x": 4})["ran"] != \
        first["ran"]
    stats = json.loads(get(app.port, "/stats")[2])
    line = next(line for line in stats if "/cached:" in line)
    assert "started 2, finished 2" in line and "cached 1" in line, line


def test_large_dask_results_come_in_cargo_parts(cluster, app):
    status, res = _post(app, "/steps", {"action": "start", "wait": 20,
                                        "payload": {"steps": 1,
                                                    "size": 5500}})
    while status == 200 and not res["done"]:
        status, res = _post(app, "/steps", {"action": "get", "wait": 20,
                                            "token": res["token"]})
    assert status == 200 and res["continue"], res
    keys = res["result"]
    assert len(keys) >= 6  # 5.5 kB in parts of max_chunk_size (1000)
    parts = [_post(app, "/steps", {"action": "cargo", "token": key})[1]
             for key in keys]
    assert all(len(part["result"]) <= 1000 for part in parts)
    result = json.loads("".join(part["result"] for part in parts))
    assert result["data"] == "x" * 5500
    assert result["pid"] in cluster.worker_pids
    # the Python client joins them too
    assert _run(app, "/steps", {"steps": 1, "size": 3000})[
        "data"] == "x" * 3000


def test_a_route_waits_for_a_job_submitted_to_dask(cluster, app):
    status, res = _post(app, "/jobs", {"x": 7})
    assert status == 200, res
    assert res["square"] == 49 and res["pid"] in cluster.worker_pids


def test_worker_js_in_chromium_gets_dask_progress_and_result(cluster, app,
                                                            chromium):
    tab = chromium.new_page()
    try:
        tab.goto(app.url + "/")
        tab.wait_for_function("window.work !== undefined")
        tab.evaluate(
            "() => work.post('job', '/steps', {steps: 4}, "
            "(r) => { window.result = r; }, "
            "(p) => { window.progress.push(p); })")
        tab.wait_for_function(
            "window.result !== undefined || window.failed !== null",
            timeout=20000)
        assert tab.evaluate("window.failed") is None
        result = tab.evaluate("window.result")
        progress = tab.evaluate("window.progress")
    finally:
        tab.close()
    assert result["pid"] in cluster.worker_pids
    assert progress, "no progress reached the page"
    assert progress[-1] == {"done": 4, "total": 4, "message": "step 4"}
