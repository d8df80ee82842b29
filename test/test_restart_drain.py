"""Nothing lost on restart, better still (issue 21): under
`setup_restart`'s supervisor a restart lets the running jobs finish in
the old process while the new one serves; the new one answers their
polls from the job store (progress, then the result, at the same token),
runs them again (`restartable`) or fails them (`JobLost`) when the old
process dies first or its `drain_timeout` passes, and a cancel reaches
the old process. Real processes; every wait has a deadline, and each job
waits on files the test writes."""
from __future__ import annotations

import http.client
import json
import os
import signal
import threading

import pytest

from conftest import end_process, listening_socket, start_process, wait_for
from quick_server.jobs.following import pid_alive
from test_restart_jobs import apps, call, result, start

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

APP = """
import os, sys, time
sys.path.insert(0, {root!r})
from quick_server import (create_server, is_worker_alive, report_progress,
                          setup_restart)
setup_restart()
import mod
server = create_server(("127.0.0.1", {port}))
server.suppress_noise = True
server.auto_restart = {auto}
server.settings.jobs.drain_timeout = {drain}

def wait_for_file(name, n):
    end = time.monotonic() + 60
    while not os.path.exists(name):
        if not is_worker_alive():
            open("cancelled-%d" % n, "w").close()
            return False
        if time.monotonic() > end:
            raise TimeoutError(name)
        time.sleep(0.02)
    return True

def job(payload):
    n = payload["n"]
    with open("runs-%d" % n, "a") as handle:
        handle.write("%d\\n" % os.getpid())
    report_progress(1, 3, "started")
    if wait_for_file("step-%d" % n, n):
        report_progress(2, 3, "stepped")
        if wait_for_file("go-%d" % n, n):
            return {{"n": n, "pid": os.getpid()}}

@server.json_get("/value")
def _value(req, args):
    return [mod.VALUE, os.getpid()]

server.json_worker("/job")(job)
server.json_worker("/again", restartable=True)(job)
server.json_worker("/process", executor="process")(job)

try:
    server.serve_forever()
finally:
    server.server_close()
"""


class App:
    """The app above under its supervisor, on a handed socket; commands
    typed on its standard input."""

    def __init__(self, folder, drain=600.0, auto=False):
        self.folder = folder
        (folder / "mod.py").write_text("VALUE = 1\n")
        sock, self.port = listening_socket()
        (folder / "app.py").write_text(APP.format(root=ROOT, port=self.port,
                                                  drain=drain, auto=auto))
        self.proc = start_process([str(folder / "app.py")], sock,
                                  stdin_pipe=True, cwd=folder)
        self.output = self.proc.early_output
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in iter(self.proc.stdout.readline, b""):
            self.output += line.decode("utf-8", "replace")

    def value(self):
        try:
            status, answer = call(self.port, "GET", "/value", timeout=5)
        except OSError:
            return None
        return answer if status == 200 else None

    def restart(self, value, auto=False):
        """Restarts (the command, or an edit) and waits for the new
        program; the pid that serves now."""
        (self.folder / "mod.py").write_text(f"VALUE = {value}\n")
        if not auto:
            self.proc.stdin.write(b"restart\n")
            self.proc.stdin.flush()
        return wait_for(lambda: (self.value() or [0])[0] == value and
                        self.value()[1], 20, "the restarted program")

    def runs(self, n):
        path = self.folder / f"runs-{n}"
        return path.read_text().split() if path.exists() else []

    def release(self, n, step="go"):
        (self.folder / f"{step}-{n}").write_text("")

    def stop(self):
        return end_process(self.proc, signal.SIGTERM, 15, self._reader)


def progress(port, token, path="/job"):
    status, answer = call(port, "POST", path, {"action": "get",
                                               "token": token, "wait": 0})
    assert status == 200, answer
    return (answer["progress"] or {}).get("message")


@pytest.fixture
def app(tmp_path):
    with apps(App, tmp_path) as make:
        yield make


@pytest.mark.parametrize("path,how", [("/job", "command"), ("/job", "auto"),
                                      ("/process", "command")])
def test_a_running_job_finishes_in_the_old_process(app, path, how):
    server = app(auto=how == "auto")
    old = server.value()[1]
    token = start(server.port, path, {"n": 1})
    wait_for(lambda: server.runs(1), 10, "the job to start")
    new = server.restart(2, auto=how == "auto")
    assert new != old and pid_alive(old)  # the new one serves, the old drains
    wait_for(lambda: progress(server.port, token, path) == "started", 10,
             "the progress the old process recorded")
    server.release(1, "step")
    wait_for(lambda: progress(server.port, token, path) == "stepped", 10,
             "the progress to advance")
    server.release(1)
    status, answer = result(server.port, token, path)
    assert status == 200 and answer["n"] == 1
    assert server.runs(1) == [str(answer["pid"])]  # one run, not again
    assert answer["pid"] != new  # in the old process (or its job process)
    wait_for(lambda: not pid_alive(old), 10, "the old process to end")
    assert "finish in this process" in server.output
    assert server.stop() == 0


@pytest.mark.parametrize("path", ["/again", "/job"])
def test_a_killed_draining_process_runs_again_or_loses_the_job(app, path):
    server = app()
    old = server.value()[1]
    token = start(server.port, path, {"n": 2})
    wait_for(lambda: server.runs(2), 10, "the job to start")
    new = server.restart(2)
    wait_for(lambda: progress(server.port, token, path) == "started", 10,
             "the job followed")
    os.kill(old, signal.SIGKILL)
    server.release(2, "step")
    server.release(2)
    status, answer = result(server.port, token, path)
    if path == "/again":
        assert status == 200 and answer["pid"] == new
        assert server.runs(2) == [str(old), str(new)]
    else:
        assert status == 500 and answer["type"] == "JobLost", answer
        assert server.runs(2) == [str(old)]
    assert server.stop() == 0


def test_after_drain_timeout_the_job_is_given_up(app):
    server = app(drain=0.5)
    old = server.value()[1]
    token = start(server.port, "/job", {"n": 3})
    wait_for(lambda: server.runs(3), 10, "the job to start")
    server.restart(2)
    wait_for(lambda: not pid_alive(old), 10, "the old process to give up")
    status, answer = result(server.port, token)
    assert status == 500 and answer["type"] == "JobLost", answer
    assert "drain_timeout" in server.output
    assert server.stop() == 0


def test_a_cancel_reaches_the_draining_process(app, tmp_path):
    server = app()
    old = server.value()[1]
    token = start(server.port, "/job", {"n": 4})
    wait_for(lambda: server.runs(4), 10, "the job to start")
    server.restart(2)
    wait_for(lambda: progress(server.port, token) == "started", 10,
             "the job followed")
    status, answer = call(server.port, "POST", "/job", {"action": "stop",
                                                        "token": token})
    assert status == 200, answer
    wait_for(lambda: (tmp_path / "cancelled-4").exists(), 10,
             "the old process to cancel the job")
    wait_for(lambda: not pid_alive(old), 10, "the old process to end")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("POST", "/job", json.dumps({"action": "get",
                                             "token": token}))
    assert conn.getresponse().status == 404  # forgotten, as any cancel
    conn.close()
    assert server.stop() == 0


def test_two_processes_drain_at_once_and_quit_ends_them(app):
    server = app()
    first = server.value()[1]
    one = start(server.port, "/job", {"n": 5})
    wait_for(lambda: server.runs(5), 10, "the first job to start")
    second = server.restart(2)
    two = start(server.port, "/process", {"n": 6})
    wait_for(lambda: server.runs(6), 10, "the second job to start")
    third = server.restart(3)
    assert len({first, second, third}) == 3
    assert pid_alive(first) and pid_alive(second)
    server.release(6, "step")
    server.release(6)
    status, answer = result(server.port, two, "/process")
    assert status == 200 and answer["n"] == 6
    wait_for(lambda: not pid_alive(second), 10, "the second process to end")
    assert pid_alive(first)  # its job still runs: quit ends it
    assert progress(server.port, one) == "started"
    assert server.stop() == 0
    wait_for(lambda: not pid_alive(first), 10, "quit to end the drainer")


def test_worker_request_sees_no_difference_but_the_job_finishing(app):
    from quick_server import worker_request
    server = app()
    old = server.value()[1]
    got = []

    def run():
        try:
            got.append(worker_request(f"http://127.0.0.1:{server.port}/job",
                                      {"n": 7}, wait=2))
        except Exception as err:  # pylint: disable=broad-except
            got.append(err)
    client = threading.Thread(target=run)
    client.start()
    wait_for(lambda: server.runs(7), 10, "the job to start")
    server.restart(2)  # the client's long-poll is told to come back
    server.release(7, "step")
    server.release(7)
    client.join(30)
    assert got == [{"n": 7, "pid": old}]
    assert server.runs(7) == [str(old)]
    assert server.stop() == 0
