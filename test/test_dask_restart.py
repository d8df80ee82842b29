"""Dask jobs across a restart of the server (issue 21), with real
processes: a scheduler and two workers on 127.0.0.1 (test_dask's
`cluster`), and a quick_server process whose worker jobs run there. A
job's task is held on the scheduler, so a job that was running when the
server restarted (the `restart` command, or `kill -9` with
`persist_jobs`) goes on where it runs: the client gets its result with
the same token, its progress keeps coming, and once collected (or
cancelled) the scheduler forgets the task. A job whose task is gone
fails with `JobLost`, or runs again when its worker is restartable; with
a `LocalCluster` the task dies with the process."""
from __future__ import annotations

import http.client
import json
import signal
import threading
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")  # the test extra has it

from conftest import (end_process, listening_socket,  # noqa: E402
                      start_process, wait_for)
from test_dask import ENV, ROOT, dask_cluster  # noqa: E402

APP = """
import json, os, sys, time
import distributed
from quick_server import create_server, msg, report_progress

port, scheduler, folder, store = sys.argv[1:5]
BOOT = time.time_ns()  # this program's start (a restart keeps the pid)
server = create_server(("127.0.0.1", int(port)))
server.auto_restart = False
server.suppress_noise = True
server.persist_jobs(store)
if scheduler == "local":  # a cluster of this process: it dies with it
    client = distributed.Client(distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False,
        dashboard_address=None, host="127.0.0.1", protocol="tcp"))
else:
    client = distributed.Client(scheduler, timeout=20)
server.worker_executor = client.get_executor(pure=False)


def where():
    return {"pid": os.getpid(),
            "key": str(distributed.get_worker().get_current_task())}


def gated(payload):
    # reports progress (a step count) until the gate file exists
    with open(os.path.join(folder, payload["tag"] + ".runs"), "a") as log:
        log.write("run\\n")
    gate = os.path.join(folder, "gate-" + payload["gate"])
    end = time.monotonic() + 60
    step = 0
    while not os.path.exists(gate):
        if time.monotonic() > end:
            raise TimeoutError(gate)
        step += 1
        report_progress(step, None, json.dumps(where()))
        time.sleep(0.05)
    return {"tag": payload["tag"], **where()}


server.json_worker("/gated")(gated)
server.json_worker("/again", restartable=True)(gated)


@server.json_get("/boot")
def _boot(req, args):
    return BOOT


msg("READY")
try:
    server.serve_forever()
finally:
    server.server_close()
    client.close()
"""


class App:
    """The app above as a process (its output read as it comes, commands
    typed on its standard input)."""

    def __init__(self, folder: Any, scheduler: str) -> None:
        self.folder = folder
        script = folder / "app.py"
        script.write_text(APP)
        sock, self.port = listening_socket()
        self.proc = start_process(
            [str(script), str(self.port), scheduler, str(folder),
             str(folder / "jobs.sqlite3")], sock, stdin_pipe=True,
            cwd=ROOT, env=ENV)
        self.output = self.proc.early_output
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in iter(self.proc.stdout.readline, b""):
            self.output += line.decode("utf-8", "replace")

    def type(self, command: str) -> None:
        self.proc.stdin.write(command.encode() + b"\n")
        self.proc.stdin.flush()

    def boot(self) -> int | None:
        """The running program's start time (None while none answers)."""
        try:
            status, answer = call(self.port, "GET", "/boot")
        except OSError:
            return None
        return answer if status == 200 else None

    def restart(self) -> None:
        """The `restart` command; waits for the new program."""
        old = self.boot()
        self.type("restart")
        wait_for(lambda: self.boot() not in (None, old), 30,
                 "the restarted program")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        return end_process(self.proc, sig, 20, self._reader)


def call(port: int, method: str, path: str, obj: Any = None,
         timeout: float = 30) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        body = None if obj is None else json.dumps(obj).encode()
        conn.request(method, path, body,
                     {"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, json.loads(data) if data else None
    finally:
        conn.close()


def start(app: App, path: str, tag: str, gate: str) -> str:
    status, answer = call(app.port, "POST", path, {
        "action": "start", "payload": {"tag": tag, "gate": gate}})
    assert status == 200, answer
    return answer["token"]


def progress(app: App, token: str, path: str = "/gated") -> dict[str, Any]:
    """The job's progress (a step count and where its task runs), once
    it reports: a long-poll answers as the job reports."""
    def reported() -> dict[str, Any] | None:
        status, answer = call(app.port, "POST", path, {
            "action": "get", "token": token, "wait": 5})
        assert status == 200 and not answer["done"], answer
        report = answer["progress"]
        return None if report is None else {
            "step": report["done"], **json.loads(report["message"])}
    return wait_for(reported, 30, "the job's progress")


def result(app: App, token: str, path: str = "/gated") -> tuple[int, Any]:
    """The final answer about `token`: (status, result or error)."""
    def final() -> tuple[int, Any] | None:
        status, answer = call(app.port, "POST", path, {
            "action": "get", "token": token, "wait": 5})
        if status == 200 and answer["continue"]:
            return None
        return status, (json.loads(answer["result"]) if status == 200
                        else answer["error"])
    return wait_for(final, 40, "the job's answer")


def held_by_variable(cluster: Any, key: str) -> bool:
    """Whether the variable that holds the task `key` is on the scheduler
    (its virtual client)."""
    return f"variable-{key}" in set(cluster.client.run_on_scheduler(
        lambda dask_scheduler: list(dask_scheduler.clients)))


def held_on_scheduler(cluster: Any, key: str) -> bool:
    """Whether the scheduler still knows the task `key`, or its variable."""
    return key in cluster.task_keys() or held_by_variable(cluster, key)


def progress_held(app: App, cluster: Any, token: str,
                  path: str = "/gated") -> dict[str, Any]:
    """The job's progress, once its task is held on the scheduler (the
    server holds it as it submits it, asynchronously)."""
    report = progress(app, token, path)
    wait_for(lambda: held_by_variable(cluster, report["key"]), 10,
             "the task to be held")
    return report


def forget(cluster: Any, key: str) -> None:
    """Deletes the variable that holds a task, while no server holds it:
    the scheduler forgets the task."""
    distributed.Variable(key, cluster.client).delete()
    wait_for(lambda: not held_on_scheduler(cluster, key), 10,
             f"the scheduler to forget {key}")


def runs(folder: Any, tag: str) -> int:
    return (folder / f"{tag}.runs").read_text().count("run")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with dask_cluster(tmp_path_factory.mktemp("dask")) as made:
        yield made


@pytest.fixture
def apps(tmp_path):
    started: list[App] = []

    def make(scheduler: str) -> App:
        app = App(tmp_path, scheduler)
        started.append(app)
        return app
    yield make
    for app in started:
        if app.proc.poll() is None:
            app.stop()


@pytest.mark.parametrize("how", ["restart", "kill"])
def test_a_running_dask_job_goes_on_across_a_restart(cluster, apps,
                                                     tmp_path, how):
    app = apps(cluster.address)
    token = start(app, "/gated", "goes-on", "goes-on")
    before = progress_held(app, cluster, token)
    key = before["key"]
    assert key.startswith("quick_server-") and \
        before["pid"] in cluster.worker_pids
    try:
        if how == "restart":
            app.restart()
        else:
            app.stop(signal.SIGKILL)
            app = apps(cluster.address)  # the script again, same store
        wait_for(lambda: "1 resumed" in app.output, 10,
                 "the restored job's log line")
        assert key in cluster.task_keys()  # it never stopped
        # the same run goes on, and its progress reaches the new server
        after = progress(app, token)
        assert after["key"] == key and after["step"] > before["step"]
    finally:
        (tmp_path / "gate-goes-on").touch()
    status, answer = result(app, token)
    assert status == 200, answer
    assert answer == {"tag": "goes-on", "pid": before["pid"], "key": key}
    assert runs(tmp_path, "goes-on") == 1
    # collected: the scheduler forgets the task, and nothing holds it
    wait_for(lambda: not held_on_scheduler(cluster, key), 10,
             "the scheduler to forget the collected task")
    assert app.stop() == 0


def test_a_collected_dask_job_leaves_nothing_on_the_scheduler(cluster, apps,
                                                              tmp_path):
    app = apps(cluster.address)
    (tmp_path / "gate-now").touch()
    token = start(app, "/gated", "now", "now")
    status, answer = result(app, token)
    assert status == 200, answer
    wait_for(lambda: not held_on_scheduler(cluster, answer["key"]), 10,
             "the scheduler to forget the collected task")
    assert app.stop() == 0


def test_cancelling_a_job_after_a_restart_releases_its_task(cluster, apps,
                                                            tmp_path):
    app = apps(cluster.address)
    token = start(app, "/gated", "cancelled", "cancelled")
    try:
        key = progress_held(app, cluster, token)["key"]
        app.restart()
        progress(app, token)  # taken up again
        status, answer = call(app.port, "POST", "/gated", {
            "action": "stop", "token": token})
        assert status == 200 and answer["done"], answer
        wait_for(lambda: not held_on_scheduler(cluster, key), 10,
                 "the scheduler to forget the cancelled task")
    finally:
        (tmp_path / "gate-cancelled").touch()  # a running task ends so
    assert app.stop() == 0


def test_a_dask_job_whose_task_is_gone_is_lost_or_runs_again(cluster, apps,
                                                             tmp_path):
    app = apps(cluster.address)
    lost = start(app, "/gated", "lost", "gone")
    again = start(app, "/again", "again", "gone")
    try:
        lost_key = progress_held(app, cluster, lost)["key"]
        again_key = progress_held(app, cluster, again, "/again")["key"]
        app.stop(signal.SIGKILL)
        forget(cluster, lost_key)  # as a scheduler that restarted would
        forget(cluster, again_key)
        app = apps(cluster.address)
        status, error = result(app, lost)
        assert status == 500 and error["type"] == "JobLost", error
        assert f"its Dask task {lost_key} is gone: the scheduler no " \
            f"longer has it" in error["message"]
        assert "restartable=True" in error["message"]
        wait_for(lambda: "runs again" in app.output, 10,
                 "the restartable job to run again")
    finally:
        (tmp_path / "gate-gone").touch()
    status, answer = result(app, again, "/again")
    assert status == 200 and answer["tag"] == "again", answer
    assert answer["key"] == again_key  # the job's own task name again
    wait_for(lambda: not held_on_scheduler(cluster, again_key), 10,
             "the scheduler to forget the collected task")
    assert app.stop() == 0


def test_with_a_local_cluster_a_running_job_is_lost(apps, tmp_path):
    app = apps("local")
    token = start(app, "/gated", "local", "local")
    try:
        progress(app, token)
        app.restart()
        status, error = result(app, token)
    finally:
        (tmp_path / "gate-local").touch()
    assert status == 500 and error["type"] == "JobLost", error
    assert "the local Dask cluster died with the previous process" in \
        error["message"]
    assert app.stop() == 0
