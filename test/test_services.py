"""Remote services pulling jobs over HTTP: the API with a fake service
speaking raw HTTP, then real service processes (`python -m
quick_server.service`) that die, restart, and outlive a server restart."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from quick_server import WorkerError, worker_request
from conftest import (get, listening_socket, start_process, statuses,
                      stop_process, wait_for)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = "test-key"


def call(port, method, path, body=None, key=KEY):
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    status, _, raw = get(port, path, method, data, headers)
    return status, (json.loads(raw) if raw[:1] in (b"{", b"[") else raw)


@pytest.fixture
def hub(make_server):
    server = make_server()
    server.bind_services(key=KEY, service_timeout=0.6)
    server.service_worker("/work", "resize")
    return server


def protocol(port, obj):
    return call(port, "POST", "/work", obj, key=None)


def test_every_call_needs_the_key(hub):
    for key in (None, "wrong", ""):
        assert call(hub.port, "POST", "/services", {"name": "x"},
                    key=key)[0] == 401
        assert call(hub.port, "GET", "/services", key=key)[0] == 401
        assert call(hub.port, "PATCH", "/services/abc", key=key)[0] == 401
    assert call(hub.port, "GET", "/services") == (200, [])  # nothing made
    status, _, _ = get(hub.port, "/services")
    assert status == 401


def test_a_job_through_a_service(hub):
    status, service = call(hub.port, "POST", "/services",
                           {"name": "resize", "description": "resizes"})
    assert status == 200 and service["id"]
    sid = service["id"]
    started = protocol(hub.port, {"action": "start", "payload": {"w": 3}})[1]
    assert not started["done"] and started["continue"]
    status, job = call(hub.port, "GET", f"/services/{sid}/next?wait=5")
    assert status == 200 and job["payload"] == {"w": 3}
    assert call(hub.port, "PATCH", f"/services/{sid}")[0] == 200
    assert call(hub.port, "POST", f"/services/{sid}/jobs/{job['job']}",
                {"progress": {"done": 1, "total": 2, "message": "half"}}
                )[0] == 200
    res = protocol(hub.port, {"action": "get", "token": started["token"],
                              "wait": 5})[1]
    assert res["progress"] == {"done": 1, "total": 2, "message": "half"}
    listed = call(hub.port, "GET", "/services")[1]
    assert [(s["name"], s["alive"], s["running"], s["done"])
            for s in listed] == [("resize", True, 1, 0)]
    assert call(hub.port, "POST", f"/services/{sid}/jobs/{job['job']}",
                {"result": {"size": 9}})[0] == 200
    res = protocol(hub.port, {"action": "get", "token": started["token"],
                              "wait": 5})[1]
    assert res["done"] and json.loads(res["result"]) == {"size": 9}
    assert call(hub.port, "GET", "/services")[1][0]["done"] == 1
    # nothing waiting: the long-poll ends with 204
    assert call(hub.port, "GET", f"/services/{sid}/next?wait=0.2")[0] == 204


def test_an_error_reaches_the_client_with_its_type(hub):
    sid = call(hub.port, "POST", "/services", {"name": "resize"})[1]["id"]
    token = protocol(hub.port, {"action": "start"})[1]["token"]
    job = call(hub.port, "GET", f"/services/{sid}/next?wait=5")[1]["job"]
    call(hub.port, "POST", f"/services/{sid}/jobs/{job}",
         {"error": "too big", "type": "ValueError"})
    status, res = protocol(hub.port, {"action": "get", "token": token,
                                      "wait": 5})
    assert status == 500
    assert res["error"] == {"type": "ValueError", "message": "too big"}


def test_stop_withdraws_the_job_from_its_service(hub):
    sid = call(hub.port, "POST", "/services", {"name": "resize"})[1]["id"]
    token = protocol(hub.port, {"action": "start"})[1]["token"]
    job = call(hub.port, "GET", f"/services/{sid}/next?wait=5")[1]["job"]
    assert protocol(hub.port, {"action": "stop", "token": token})[0] == 200
    assert call(hub.port, "PATCH", f"/services/{sid}") == (
        409, {"withdrawn": [job]})
    assert call(hub.port, "PATCH", f"/services/{sid}")[0] == 200  # told once
    assert call(hub.port, "POST", f"/services/{sid}/jobs/{job}",
                {"result": 1})[0] == 409


def test_bad_requests_are_400(hub):
    assert call(hub.port, "POST", "/services", {"nom": "x"})[0] == 400
    assert call(hub.port, "POST", "/services", ["x"])[0] == 400
    sid = call(hub.port, "POST", "/services", {"name": "resize"})[1]["id"]
    assert call(hub.port, "GET", f"/services/{sid}/next?wait=x")[0] == 400
    assert call(hub.port, "GET", "/services/nope/next")[0] == 404
    protocol(hub.port, {"action": "start"})
    job = call(hub.port, "GET", f"/services/{sid}/next?wait=5")[1]["job"]
    for body in ({"progress": 3}, {"progress": {"done": "x"}}):
        assert call(hub.port, "POST", f"/services/{sid}/jobs/{job}",
                    body)[0] == 400, body


# -- real processes -----------------------------------------------------------

SERVER_APP = """
import sys
from quick_server import create_server
server = create_server(("127.0.0.1", int(sys.argv[1])))
server.bind_services(key="test-key", service_timeout=float(sys.argv[2]))
server.max_body_size = int(sys.argv[3])
server.service_worker("/work", "resize")
server.serve_forever()
"""

SERVICE_MODULE = """
import os, time
from quick_server import report_progress

def work(payload):
    report_progress(0, None, str(os.getpid()))
    time.sleep(payload.get("seconds", 0))
    if payload.get("answer") == "complex":
        return 1j
    if payload.get("answer") == "big":
        return "x" * 5000
    return {"pid": os.getpid(), "x": payload.get("x")}
"""


@pytest.fixture
def cluster(tmp_path, request):
    (tmp_path / "server.py").write_text(SERVER_APP)
    (tmp_path / "svc.py").write_text(SERVICE_MODULE)
    # kept open: each server process adopts a copy, so one started again
    # listens on the same port (connections wait meanwhile)
    sock, port = listening_socket()
    env = {**os.environ, "PYTHONPATH": ROOT}
    state = {"port": port, "services": []}

    def start_server(timeout=1.0, max_body_size=1 << 20):
        state["server"] = start_process([str(tmp_path / "server.py"),
                                         str(port), str(timeout),
                                         str(max_body_size)], sock.dup(),
                                        cwd=tmp_path, env=env)

    def start_service(heartbeat=0.2):
        proc = subprocess.Popen(
            [sys.executable, "-m", "quick_server.service",
             f"http://127.0.0.1:{port}/services", "resize", "svc:work",
             "--key", KEY, "--heartbeat", str(heartbeat)],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)
        state["services"].append(proc)
        return proc

    state["start_server"] = start_server
    state["start_service"] = start_service
    start_server(**getattr(request, "param", {}))
    yield state
    for proc in state["services"]:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    if state["server"].poll() is None:
        stop_process(state["server"])
    sock.close()


def _alive_services(port):
    return [s for s in call(port, "GET", "/services")[1] if s["alive"]]


def test_a_killed_service_hands_its_job_to_another(cluster):
    port = cluster["port"]
    first = cluster["start_service"]()
    wait_for(lambda: len(_alive_services(port)) == 1, what="a service")
    result = {}
    seen = []

    def client():
        result["value"] = worker_request(
            f"http://127.0.0.1:{port}/work", {"seconds": 1.5, "x": 5},
            on_progress=seen.append)

    thread = threading.Thread(target=client)
    thread.start()
    wait_for(lambda: seen and seen[-1]["message"] == str(first.pid),
             what="the first service to take the job")
    second = cluster["start_service"]()
    wait_for(lambda: len(_alive_services(port)) == 2, what="two services")
    first.send_signal(signal.SIGKILL)  # dies mid-job
    thread.join(30)
    assert result["value"] == {"pid": second.pid, "x": 5}


def test_services_restart_and_outlive_a_server_restart(cluster):
    port = cluster["port"]
    url = f"http://127.0.0.1:{port}/work"
    service = cluster["start_service"]()
    assert worker_request(url, {"x": 1})["pid"] == service.pid
    service.send_signal(signal.SIGTERM)  # a service restarting
    assert service.wait(10) == 0
    service = cluster["start_service"]()
    assert worker_request(url, {"x": 2}) == {"pid": service.pid, "x": 2}
    # the server restarts: the service registers again by itself
    code, _ = stop_process(cluster["server"])
    assert code == 0
    cluster["start_server"]()
    wait_for(lambda: len(_alive_services(port)) == 1, timeout=20,
             what="the service to register with the new server")
    assert worker_request(url, {"x": 3}) == {"pid": service.pid, "x": 3}


@pytest.mark.parametrize("cluster", [{"timeout": 0.5}], indirect=True)
def test_a_service_fits_its_heartbeat_to_the_server(cluster):
    """A service asked for a heartbeat every 10 s, of a server that
    declares a service dead after 0.5 s of silence, beats often enough:
    it runs a 1.5 s job (no `next` meanwhile) to the end, registered
    once. Its log lines say that they are the service's."""
    port = cluster["port"]
    service = cluster["start_service"](heartbeat=10)
    wait_for(lambda: _alive_services(port), what="the service")
    result = worker_request(f"http://127.0.0.1:{port}/work",
                            {"seconds": 1.5, "x": 1}, timeout=20)
    assert result == {"pid": service.pid, "x": 1}
    assert [s["alive"] for s in call(port, "GET", "/services")[1]] == [True]
    service.send_signal(signal.SIGTERM)
    out = service.communicate(timeout=10)[0].decode()
    assert "[SERVICE resize] service resize registered as" in out, out
    assert "[SERVER]" not in out and "registering again" not in out, out


@pytest.mark.parametrize("cluster", [{"timeout": 0.5}], indirect=True)
def test_a_service_killed_while_it_waits_is_noticed(cluster):
    """A service's `next` waits no longer than the server's timeout: one
    killed while it waits is declared dead within about two timeouts."""
    port = cluster["port"]
    service = cluster["start_service"](heartbeat=10)
    sid = wait_for(lambda: _alive_services(port), what="the service")[0]["id"]
    wait_for(lambda: call(port, "GET", "/services")[1][0]["last_seen"] >
             time.time() - 0.1, what="the service to wait in next")
    service.send_signal(signal.SIGKILL)
    wait_for(lambda: not _alive_services(port), timeout=5,
             what="the killed service to be declared dead")
    assert call(port, "GET", "/services")[1][0]["id"] == sid


@pytest.mark.parametrize("cluster", [{"max_body_size": 1000}],
                         indirect=True)
def test_a_result_that_cannot_be_sent_ends_the_job(cluster):
    """A result that is not JSON, or that the server refuses (too large),
    ends its job with an error that says so; the service serves on."""
    port = cluster["port"]
    url = f"http://127.0.0.1:{port}/work"
    service = cluster["start_service"]()
    with pytest.raises(WorkerError) as info:
        worker_request(url, {"answer": "complex"}, timeout=20)
    assert info.value.error_type == "TypeError"
    assert "cannot be sent as JSON" in info.value.error_message
    with pytest.raises(WorkerError) as info:
        worker_request(url, {"answer": "big"}, timeout=20)
    assert info.value.error_type == "ServiceError"
    assert "did not take the result: HTTP 413" in info.value.error_message
    assert worker_request(url, {"x": 3}, timeout=20) == {
        "pid": service.pid, "x": 3}


def test_the_service_command_refuses_a_wrong_key(cluster):
    port = cluster["port"]
    proc = subprocess.run(
        [sys.executable, "-m", "quick_server.service",
         f"http://127.0.0.1:{port}/services", "resize", "os:getpid",
         "--key", "wrong"], cwd=ROOT, capture_output=True, text=True,
        timeout=30)
    assert proc.returncode == 2 and "refused the key" in proc.stderr
    assert call(port, "GET", "/services")[1] == []


def test_python_client_error_for_a_failed_service_job(hub):
    sid = call(hub.port, "POST", "/services", {"name": "resize"})[1]["id"]

    def fake_service():
        job = call(hub.port, "GET", f"/services/{sid}/next?wait=10")[1]
        call(hub.port, "POST", f"/services/{sid}/jobs/{job['job']}",
             {"error": "no luck", "type": "RuntimeError"})

    thread = threading.Thread(target=fake_service)
    thread.start()
    with pytest.raises(WorkerError) as info:
        worker_request(f"http://127.0.0.1:{hub.port}/work", {})
    thread.join(10)
    assert info.value.error_type == "RuntimeError"


BROWSER_SERVER = """
import sys
from quick_server import create_server
server = create_server(("127.0.0.1", int(sys.argv[1])))
server.bind_services(key="test-key", service_timeout=5.0)
server.service_worker("/work", "resize")
server.link_worker_js("/js/worker.js")
server.bind_path("/", sys.argv[2])
server.serve_forever()
"""

BROWSER_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<script src="/js/worker.js"></script></head><body><script>
window.progress = [];
const work = new quick_server.Worker();
work.post("job", "/work", {seconds: 0.3, x: 9},
          (result) => { window.result = result; },
          (progress) => { window.progress.push(progress); });
</script></body></html>"""


def test_a_browser_job_served_by_a_service(tmp_path, chromium):
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text(BROWSER_PAGE)
    (tmp_path / "server.py").write_text(BROWSER_SERVER)
    (tmp_path / "svc.py").write_text(SERVICE_MODULE)
    env = {**os.environ, "PYTHONPATH": ROOT}
    sock, port = listening_socket()
    server = start_process([str(tmp_path / "server.py"), str(port),
                            str(www)], sock, cwd=tmp_path, env=env)
    service = subprocess.Popen(
        [sys.executable, "-m", "quick_server.service",
         f"http://127.0.0.1:{port}/services", "resize", "svc:work",
         "--key", KEY, "--heartbeat", "1"], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    page = chromium.new_page()
    try:
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_function("window.result !== undefined", timeout=20000)
        assert page.evaluate("window.result") == {"pid": service.pid, "x": 9}
        assert page.evaluate("window.progress")[0]["message"] == \
            str(service.pid)
    finally:
        page.close()
        service.kill()
        service.communicate()
        stop_process(server)


def test_the_example_shouts_through_its_service(tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT}
    # under setup_restart() on port 0 (the supervisor would keep a
    # handed socket from its child): the port from the URL it prints
    server = start_process([os.path.join(ROOT, "example", "example.py")],
                           cwd=tmp_path, env={**env, "PORT": "0"})
    port = server.port
    service = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "example", "shout_service.py"),
         f"http://127.0.0.1:{port}/services"], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        result = worker_request(f"http://127.0.0.1:{port}/api/shout",
                                {"text": "hi", "seconds": 0})
        assert result == {"text": "HI!"}
    finally:
        service.send_signal(signal.SIGTERM)
        service.communicate(timeout=10)
        assert stop_process(server)[0] == 0


def test_a_nan_wait_is_a_400(hub):
    sid = call(hub.port, "POST", "/services", {"name": "resize"})[1]["id"]
    for wait in ("nan", "inf", "-inf"):
        assert call(hub.port, "GET",
                    f"/services/{sid}/next?wait={wait}")[0] == 400


def test_a_job_whose_handing_out_was_lost_is_handed_out_again(hub):
    """The answer to `next` never reached the service (a dropped long
    poll): when it asks again, it gets the job again."""
    sid = call(hub.port, "POST", "/services", {"name": "resize"})[1]["id"]
    token = protocol(hub.port, {"action": "start", "payload": 5})[1]["token"]
    first = call(hub.port, "GET", f"/services/{sid}/next?wait=5")[1]
    again = call(hub.port, "GET", f"/services/{sid}/next?wait=5")[1]
    assert again == first
    call(hub.port, "POST", f"/services/{sid}/jobs/{again['job']}",
         {"result": 25})
    res = protocol(hub.port, {"action": "get", "token": token, "wait": 5})[1]
    assert json.loads(res["result"]) == 25


def test_what_waits_for_services_is_bounded(hub):
    hub._services.max_jobs = 2  # noqa: SLF001
    assert protocol(hub.port, {"action": "start"})[0] == 200
    assert protocol(hub.port, {"action": "start"})[0] == 200
    status, _, _ = get(hub.port, "/work", "POST", b'{"action": "start"}')
    assert status == 503
    hub._services.max_jobs = 100  # noqa: SLF001
    hub._services.max_bytes = 1000  # noqa: SLF001
    status, _, _ = get(hub.port, "/work", "POST", json.dumps(
        {"action": "start", "payload": "x" * 2000}).encode())
    assert status == 503


def test_the_sweeper_starts_with_the_first_service(make_server):
    server = make_server()
    server.bind_services(key=KEY)
    names = {t.name for t in threading.enumerate()}
    assert "quick_server-services" not in names  # nothing before a service
    call(server.port, "POST", "/services", {"name": "x"})
    assert "quick_server-services" in {t.name for t in threading.enumerate()}


def test_a_request_without_the_key_is_refused_before_its_body(hub):
    """The 401 comes before a byte of the body is read: a client without
    the key cannot make the server parse anything."""
    with socket.create_connection(("127.0.0.1", hub.port), 5) as sock:
        sock.sendall(b"POST /services HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\n"
                     b"Content-Length: 100000000\r\n\r\n{")  # never sent
        sock.settimeout(5)
        assert statuses(sock.recv(4096)) == [401]
