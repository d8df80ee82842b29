"""Nothing lost on restart (issue 21), with real processes: worker jobs
keep their tokens across the `restart` command and an auto-restart (a
restartable job runs again, another fails with `JobLost`, a finished
result not fetched yet is there, a file answer too); a job whose worker
the edit removed fails saying so; a service holding a job posts its
result to the restarted server without registering again; with
`persist_jobs`, a job queued for a service survives `quit` and `kill -9`
and a new start of the script; `worker_request` rides over a restart."""
from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
from typing import Any, Callable, Iterator

import pytest

from conftest import end_process, listening_socket, start_process, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = "test-services-key"

APP = """
import os, sys, time
sys.path.insert(0, {root!r})
from quick_server import FileResponse, create_server, report_progress
import mod
BOOT = time.time_ns()  # this process's program (exec keeps the pid)
server = create_server(("127.0.0.1", {port}))
server.auto_restart = {auto}
server.suppress_noise = True
if {persist!r}:
    server.persist_jobs({persist!r})

def wait_for_file(name):
    end = time.monotonic() + 60
    while not os.path.exists(name):
        if time.monotonic() > end:
            raise TimeoutError(name)
        time.sleep(0.02)

@server.json_get("/value")
def _value(req, args):
    return [mod.VALUE, BOOT]

@server.json_get("/waiting")
def _waiting(req, args):
    return server.workers.waiting()

if mod.WORKERS:
    @server.json_worker("/job")
    def _job(payload):
        report_progress(1, 2, "waiting")
        wait_for_file(payload["go"])
        return {{"n": payload["n"]}}

    @server.json_worker("/again", restartable=True)
    def _again(payload):
        wait_for_file(payload["go"])
        return {{"n": payload["n"], "boot": BOOT}}

    @server.json_worker("/process", executor="process")
    def _process(payload):
        wait_for_file(payload["go"])
        return {{"n": payload["n"]}}

    @server.json_worker("/file")
    def _file(payload):
        with open("answer.txt", "w") as handle:
            handle.write("kept")
        return FileResponse("answer.txt")

server.bind_services("/services", key={key!r})
server.service_worker("/svc", "svc")

try:
    server.serve_forever()
finally:
    server.server_close()
"""

SERVICE = """
import os, time

def handle(payload):
    open("taken-" + str(payload["n"]), "w").close()
    end = time.monotonic() + 60
    while not os.path.exists(payload["go"]):
        if time.monotonic() > end:
            raise TimeoutError(payload["go"])
        time.sleep(0.02)
    return {"svc": payload["n"]}
"""


class App:
    """The app above as a process on a handed socket, its output read as
    it comes (`output`), commands typed on its standard input."""

    def __init__(self, folder, persist=None, workers=True, auto=True):
        self.folder = folder
        (folder / "mod.py").write_text(f"VALUE = 1\nWORKERS = {workers}\n")
        sock, self.port = listening_socket()
        (folder / "app.py").write_text(APP.format(
            root=ROOT, port=self.port, persist=persist, key=KEY, auto=auto))
        self.proc = start_process([str(folder / "app.py")], sock,
                                  stdin_pipe=True, cwd=folder)
        self.output = self.proc.early_output
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in iter(self.proc.stdout.readline, b""):
            self.output += line.decode("utf-8", "replace")

    def type(self, command):
        self.proc.stdin.write(command.encode() + b"\n")
        self.proc.stdin.flush()

    def store_has(self, what):
        """Types `jobs` until its answer shows `what` (a 10 s deadline)."""
        def listed():
            seen = self.output.count("job store ")
            self.type("jobs")
            wait_for(lambda: self.output.count("job store ") > seen, 5,
                     "the jobs command's answer")
            return what in self.output.rsplit("job store ", 1)[1]
        wait_for(listed, 10, f"{what} in the job store")

    def value(self):
        """[VALUE, BOOT] served now (None while nobody answers)."""
        try:
            status, answer = call(self.port, "GET", "/value")
        except OSError:
            return None
        return answer if status == 200 else None

    def edit(self, value, workers=True, command=False):
        """Edits mod.py (an auto-restart, or `command` restarts) and waits
        for the new program."""
        (self.folder / "mod.py").write_text(
            f"VALUE = {value}\nWORKERS = {workers}\n")
        if command:
            self.type("restart")
        return wait_for(lambda: (self.value() or [0])[0] == value, 20,
                        "the restarted program")

    def stop(self, sig=signal.SIGTERM):
        return end_process(self.proc, sig, 15, self._reader)


def call(port, method, path, obj=None, headers=None, timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        body = None if obj is None else json.dumps(obj).encode()
        conn.request(method, path, body, {
            "Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, json.loads(data) if data else None
    finally:
        conn.close()


def start(port, path, payload):
    status, answer = call(port, "POST", path, {"action": "start",
                                               "payload": payload})
    assert status == 200, answer
    return answer["token"]


def result(port, token, path="/job", wait=10):
    """The final answer about `token`: (status, result or error)."""
    status, answer = call(port, "POST", path, {"action": "get",
                                               "token": token, "wait": wait})
    while status == 200 and answer["continue"]:
        status, answer = call(port, "POST", path, {
            "action": "get", "token": token, "wait": wait})
    if status == 200:
        return status, json.loads(answer["result"])
    return status, answer["error"]


@contextlib.contextmanager
def apps(cls: Any, tmp_path: Any) -> Iterator[Callable[..., Any]]:
    """`make(**kwargs)`: an app of `cls` in `tmp_path`; those still
    running are stopped at the end."""
    running = []

    def make(**kwargs):
        made = cls(tmp_path, **kwargs)
        running.append(made)
        return made
    try:
        yield make
    finally:
        for made in running:
            if made.proc.poll() is None:
                made.stop()


@pytest.fixture
def app(tmp_path):
    with apps(App, tmp_path) as make:
        yield make


@pytest.mark.parametrize("how", ["command", "auto"])
def test_jobs_keep_their_tokens_across_a_restart(app, tmp_path, how):
    server = app(auto=how == "auto")
    old_boot = server.value()[1]
    again = start(server.port, "/again", {"go": "go", "n": 1})
    lost = start(server.port, "/job", {"go": "go", "n": 2})
    finished = start(server.port, "/job", {"go": "go-now", "n": 3})
    in_process = start(server.port, "/process", {"go": "go", "n": 6})
    (tmp_path / "go-now").write_text("")
    server.store_has("1 done")  # the finished job (not fetched)
    server.edit(2, command=how == "command")
    assert server.value()[1] != old_boot
    wait_for(lambda: "jobs restored from" in server.output, 10,
             "the restored jobs' log line")  # (read by a thread)
    (tmp_path / "go").write_text("")
    status, answer = result(server.port, again)
    assert status == 200 and answer["n"] == 1
    assert answer["boot"] != old_boot  # it ran again, in the new program
    status, error = result(server.port, lost)
    assert status == 500 and error["type"] == "JobLost"
    assert "restarted" in error["message"]
    assert result(server.port, finished) == (200, {"n": 3})
    status, error = result(server.port, in_process)  # its process was
    assert status == 500 and error["type"] == "JobLost"  # killed: no error
    assert server.stop() == 0


def test_a_file_answer_is_there_after_a_restart(app, tmp_path):
    server = app(auto=False)
    token = start(server.port, "/file", {})
    server.store_has("1 done")
    server.edit(2, command=True)
    status, answer = result(server.port, token, "/file")
    assert status == 200 and answer["file"]["filename"] == "answer.txt"
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", answer["file"]["url"])
    resp = conn.getresponse()
    assert resp.status == 200 and resp.read() == b"kept"
    conn.close()
    assert server.stop() == 0


def test_a_job_whose_worker_the_edit_removed_fails_saying_so(app, tmp_path):
    server = app()
    token = start(server.port, "/job", {"go": "go", "n": 1})
    (tmp_path / "mod.py").write_text("VALUE = 2\nWORKERS = False\n")
    wait_for(lambda: (server.value() or [0])[0] == 2, 20, "the new program")
    status, answer = call(server.port, "POST", "/svc", {
        "action": "get", "token": token, "wait": 1})
    assert status == 500, answer  # (any worker path answers any token)
    assert answer["error"]["type"] == "JobLost"
    assert "no worker at /job" in answer["error"]["message"]
    assert server.stop() == 0


def start_service(folder, port):
    (folder / "svc.py").write_text(SERVICE)
    return subprocess.Popen(
        [sys.executable, "-m", "quick_server.service",
         f"http://127.0.0.1:{port}/services", "svc", "svc:handle",
         "--key", KEY], cwd=folder, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": ROOT})


def stop_service(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.communicate(timeout=15)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def services(port):
    status, listed = call(port, "GET", "/services",
                          headers={"Authorization": f"Bearer {KEY}"})
    assert status == 200
    return listed


def test_a_service_posts_its_result_to_the_restarted_server(app, tmp_path):
    server = app(auto=False)
    service = start_service(tmp_path, server.port)
    try:
        token = start(server.port, "/svc", {"go": "go", "n": 7})
        wait_for(lambda: (tmp_path / "taken-7").exists(), 20,
                 "the service to take the job")
        before = services(server.port)
        server.edit(2, command=True)
        after = services(server.port)
        assert [s["id"] for s in after] == [s["id"] for s in before]
        assert after[0]["alive"] and after[0]["running"] == 1
        (tmp_path / "go").write_text("")
        assert result(server.port, token, "/svc") == (200, {"svc": 7})
    finally:
        out = stop_service(service)
    assert out.count("registered as") == 1, out  # never registered again
    assert server.stop() == 0


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_with_persist_jobs_a_service_job_survives_a_stop_and_a_start(
        app, tmp_path, stop):
    store = str(tmp_path / "jobs.sqlite3")
    first = app(persist=store)
    token = start(first.port, "/svc", {"go": "go", "n": 5})
    first.stop(stop)
    second = app(persist=store)  # the script started again (another port)
    service = start_service(tmp_path, second.port)
    try:
        (tmp_path / "go").write_text("")
        assert result(second.port, token, "/svc") == (200, {"svc": 5})
    finally:
        stop_service(service)
    assert second.stop() == 0


def test_with_persist_jobs_quit_answers_a_waiting_poll_come_back(
        app, tmp_path):
    first = app(persist=str(tmp_path / "jobs.sqlite3"))
    token = start(first.port, "/job", {"go": "go", "n": 1})
    answers = []
    poll = threading.Thread(target=lambda: answers.append(call(
        first.port, "POST", "/job", {"action": "get", "token": token,
                                     "wait": 20})))
    poll.start()
    wait_for(lambda: call(first.port, "GET", "/waiting")[1] == 1, 10,
             "the poll to wait")
    first.type("quit")
    poll.join(20)
    status, answer = answers[0]
    assert status == 200 and answer["continue"] and not answer["done"]
    assert first.proc.wait(15) == 0
    second = app(persist=str(tmp_path / "jobs.sqlite3"))
    status, error = result(second.port, token)  # it was running: lost
    assert status == 500 and error["type"] == "JobLost"
    assert second.stop() == 0


def test_worker_request_rides_over_a_restart(app, tmp_path):
    from quick_server import worker_request
    server = app(auto=False)
    old_boot = server.value()[1]
    got = []

    def run():
        try:
            got.append(worker_request(
                f"http://127.0.0.1:{server.port}/again",
                {"go": "go", "n": 4}, wait=2))
        except Exception as err:  # pylint: disable=broad-except
            got.append(err)
    client = threading.Thread(target=run)
    client.start()
    wait_for(lambda: call(server.port, "GET", "/waiting")[1] == 1, 10,
             "the client's long-poll")
    server.edit(2, command=True)  # the poll is answered: come back
    (tmp_path / "go").write_text("")
    client.join(30)
    assert len(got) == 1 and isinstance(got[0], dict), got
    assert got[0]["n"] == 4 and got[0]["boot"] != old_boot
    assert server.stop() == 0
