"""The worker protocol over real HTTP, and the Python client."""
from __future__ import annotations

import json
import threading
import time

import pytest

from quick_server import WorkerError, is_worker_alive, worker_request
from conftest import get


def post(port, obj):
    status, _, body = get(port, "/work", "POST", json.dumps(obj).encode(),
                          {"Content-Type": "application/json"})
    return status, (json.loads(body) if body.startswith(b"{") else body)


def wait_for(condition, timeout=10.0):
    """Polls `condition` until it is true; fails after `timeout` s."""
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.02)


def get_when_done(port, token):
    """Asks for the job (without long-polling) until it is done."""
    answers = []
    wait_for(lambda: answers.append(
        post(port, {"action": "get", "token": token})[1]) or
        answers[-1]["done"])
    return answers[-1]


@pytest.fixture
def workers(make_server):
    """A server with a job at /work; a payload with "gate" waits until
    `server.gate` is set."""
    server = make_server()
    server.effects = []
    server.gate = threading.Event()
    server.ended = threading.Event()

    @server.json_worker("/work")
    def _work(payload):
        try:
            if payload.get("fail"):
                raise ValueError("job failed on purpose")
            if payload.get("gate"):
                server.gate.wait(10)
            for _ in range(int(payload.get("steps", 0))):
                time.sleep(0.02)
                server.effects.append(1)
            time.sleep(float(payload.get("ms", 0)) / 1000)
            return {"x": payload.get("x"),
                    "data": "y" * payload.get("size", 0)}
        finally:
            server.ended.set()

    yield server
    server.gate.set()


def test_quick_job_answers_in_start(workers):
    status, res = post(workers.port, {"action": "start",
                                      "payload": {"x": 3}})
    assert status == 200 and res["done"] and not res["continue"]
    assert json.loads(res["result"]) == {"x": 3, "data": ""}


def test_classic_polling(workers):
    _, res = post(workers.port, {"action": "start",
                                 "payload": {"gate": True}})
    assert not res["done"] and res["continue"]
    token = res["token"]
    _, res = post(workers.port, {"action": "get", "token": token})
    assert not res["done"] and res["continue"] and res["token"] == token
    workers.gate.set()
    res = get_when_done(workers.port, token)
    assert json.loads(res["result"])["x"] is None
    # a client whose connection dropped can ask again for a while...
    workers.workers.redeliver_timeout = 0.3
    workers.workers.sweep_interval = 0
    assert post(workers.port, {"action": "get", "token": token}) == (200, res)
    # ...then the result is released
    wait_for(lambda: post(workers.port, {"action": "get",
                                         "token": token})[0] == 404)


def test_long_poll_latency(workers):
    t0 = time.monotonic()
    _, res = post(workers.port, {"action": "start", "wait": 5,
                                 "payload": {"ms": 200}})
    elapsed = time.monotonic() - t0
    assert res["done"]
    assert 0.19 < elapsed < 2.5, elapsed  # answered long before `wait`
    _, res = post(workers.port, {"action": "start", "payload": {"ms": 300}})
    t0 = time.monotonic()
    _, res = post(workers.port, {"action": "get", "token": res["token"],
                                 "wait": 5})
    assert res["done"] and time.monotonic() - t0 < 2.5


def test_cancel_stops_side_effects(workers):
    _, res = post(workers.port, {"action": "start",
                                 "payload": {"steps": 100}})
    wait_for(lambda: workers.effects)
    post(workers.port, {"action": "stop", "token": res["token"]})
    assert workers.ended.wait(10)  # interrupted: no more side effects
    assert len(workers.effects) < 100
    assert post(workers.port, {"action": "get",
                               "token": res["token"]})[0] == 404


def test_stop_answers_done(workers):
    """`stop` answers as the original protocol does, for any token."""
    _, res = post(workers.port, {"action": "start",
                                 "payload": {"gate": True}})
    token = res["token"]
    stopped = {"token": token, "done": True, "continue": False,
               "result": None}
    assert post(workers.port, {"action": "stop", "token": token}) == (
        200, stopped)
    assert post(workers.port, {"action": "stop", "token": token}) == (
        200, stopped)  # stopping is idempotent
    assert post(workers.port, {"action": "stop", "token": "gone"}) == (
        200, dict(stopped, token="gone"))
    assert post(workers.port, {"action": "stop"})[0] == 400
    assert post(workers.port, {"action": "get", "token": token})[0] == 404


def test_cooperative_cancel(make_server):
    server = make_server()
    stopped = threading.Event()

    @server.json_worker("/work")
    def _work(payload):
        while is_worker_alive():
            time.sleep(0.01)
        stopped.set()
        return None

    _, res = post(server.port, {"action": "start", "payload": {}})
    post(server.port, {"action": "stop", "token": res["token"]})
    assert stopped.wait(5)


def test_cargo(workers):
    workers.max_chunk_size = 1000
    _, res = post(workers.port, {"action": "start", "wait": 5,
                                 "payload": {"size": 3500}})
    assert res["done"] and res["continue"]
    keys = res["result"]
    assert len(keys) == 4
    parts = []
    for key in keys:
        status, part = post(workers.port, {"action": "cargo", "token": key})
        assert status == 200 and part["token"] == key
        parts.append(part["result"])
    assert json.loads("".join(parts))["data"] == "y" * 3500
    # asked again (a dropped connection): the same reply and parts
    workers.workers.redeliver_timeout = 0.3
    workers.workers.sweep_interval = 0
    _, again = post(workers.port, {"action": "get", "token": res["token"]})
    assert again == res
    assert post(workers.port, {"action": "cargo",
                               "token": keys[0]})[1]["result"] == parts[0]
    wait_for(lambda: post(workers.port, {"action": "cargo",
                                         "token": keys[0]})[0] == 404)
    assert post(workers.port, {"action": "get",
                               "token": res["token"]})[0] == 404
    # stop releases a split result's parts at once
    _, res = post(workers.port, {"action": "start", "wait": 5,
                                 "payload": {"size": 3500}})
    post(workers.port, {"action": "stop", "token": res["token"]})
    assert post(workers.port, {"action": "cargo",
                               "token": res["result"][0]})[0] == 404


def test_errors(workers, capsys):
    status, body = post(workers.port, {"action": "start", "wait": 5,
                                       "payload": {"fail": True}})
    assert status == 500 and body["error"] == {
        "type": "ValueError", "message": "job failed on purpose"}
    assert body["done"] and not body["continue"]
    assert "job failed on purpose" in capsys.readouterr().err
    assert post(workers.port, {"action": "get", "token": "nope"})[0] == 404
    assert post(workers.port, {"action": "dance"})[0] == 400
    assert post(workers.port, {"action": "get"})[0] == 400
    assert post(workers.port, {"action": "start", "wait": "x"})[0] == 400
    assert get(workers.port, "/work", "POST", b"[1]")[0] == 400


def test_queue_full(make_server):
    server = make_server()
    server.max_workers = 1
    server.workers.max_queue = 1
    release = threading.Event()

    @server.json_worker("/work")
    def _work(payload):
        release.wait(5)
        return 1

    try:
        assert post(server.port, {"action": "start"})[1]["continue"]
        assert post(server.port, {"action": "start"})[1]["continue"]
        status, _, _ = get(server.port, "/work", "POST",
                           b'{"action": "start"}')
        assert status == 503
        assert get(server.port, "/work", "POST", b'{"action": "start"}')[1][
            "retry-after"] == "1"
    finally:
        release.set()


def test_cache_hit(make_server, tmp_path):
    import quick_cache  # the test extra installs it
    server = make_server()
    base = tmp_path / "cache_base"
    base.write_text(f"test cache {time.time()}")  # names a fresh cache
    server.cache = quick_cache.QuickCache(str(base), quota=10,
                                          ram_quota=1, warnings=None,
                                          temp=str(tmp_path / "tmp"))
    calls = []

    @server.json_worker("/work", cache_id=lambda args: {"x": args["x"]})
    def _work(payload):
        calls.append(payload["x"])
        time.sleep(0.05)  # slower than a cache read
        return {"sq": payload["x"] ** 2}

    for x in (3, 3, 4, 3):
        _, res = post(server.port, {"action": "start", "wait": 5,
                                    "payload": {"x": x}})
        assert json.loads(res["result"]) == {"sq": x * x}
    assert calls == [3, 4]

    @server.json_get("/cube", cache_id=lambda args: args["query"].get("x"),
                     cache_section="cubes")
    def _cube(req, args):
        calls.append(args["query"]["x"])
        return {"cube": int(args["query"]["x"]) ** 3}

    for x in ("2", "2", "5", "2"):
        assert json.loads(get(server.port, f"/cube?x={x}")[2]) == {
            "cube": int(x) ** 3}
    assert get(server.port, "/cube")[0] == 500  # no key: computed, fails
    assert calls == [3, 4, "2", "5"]


def test_python_client(workers):
    url = f"http://127.0.0.1:{workers.port}/work"
    assert worker_request(url, {"x": 5, "ms": 100}) == {"x": 5, "data": ""}
    workers.max_chunk_size = 100
    assert worker_request(url, {"size": 450})["data"] == "y" * 450
    with pytest.raises(WorkerError) as err:
        worker_request(url, {"fail": True})
    assert err.value.status_code == 500


def test_python_client_retries_a_full_queue(workers):
    workers.max_workers = 1
    workers.workers.max_queue = 0
    url = f"http://127.0.0.1:{workers.port}/work"
    first = {}
    thread = threading.Thread(target=lambda: first.update(
        worker_request(url, {"x": 1, "gate": True})))
    thread.start()
    wait_for(lambda: workers.workers.active() == 1)
    # the first job ends once the second was refused
    opener = threading.Thread(target=lambda: (
        wait_for(lambda: "5xx" in workers.stats.summary()),
        workers.gate.set()))
    opener.start()
    t0 = time.monotonic()
    # refused with 503 + Retry-After: 1 while the first job runs, then in
    assert worker_request(url, {"x": 2}) == {"x": 2, "data": ""}
    assert time.monotonic() - t0 >= 0.9
    opener.join(10)
    thread.join(10)
    assert first == {"x": 1, "data": ""}


def test_a_token_that_is_not_a_string_says_so(workers):
    for action in ("get", "stop", "cargo"):
        status, body = post(workers.port, {"action": action, "token": 5})
        assert status == 400 and b"token must be a string" in body, body
        status, body = post(workers.port, {"action": action})
        assert status == 400 and b"Missing" in body, body


@pytest.mark.parametrize("executor", ["thread", "executor"])
def test_a_file_answer_nobody_takes_is_deleted(make_server, tmp_path,
                                               executor):
    """`FileResponse(delete=True)` from a job that was cancelled while it
    ran (a thread job, or one an executor could not stop), or whose
    `submit()` future was cancelled, has its file removed."""
    from concurrent.futures import ThreadPoolExecutor

    from quick_server import FileResponse
    server = make_server()
    server.workers.cancel_grace = 30  # no WorkerDeath: the job returns
    gates = {name: threading.Event() for name in ("polled", "submitted")}
    pool = ThreadPoolExecutor(2)
    where = pool if executor == "executor" else "thread"

    def make_file(payload):
        path = tmp_path / payload["name"]
        path.write_text("made for one answer")
        gates[payload["name"]].wait(10)
        return FileResponse(path, delete=True)

    server.json_worker("/work", executor=where)(make_file)
    try:
        _, res = post(server.port, {"action": "start",
                                    "payload": {"name": "polled"}})
        future = server.submit(make_file, {"name": "submitted"},
                               executor=where)
        wait_for(lambda: (tmp_path / "polled").exists() and
                 (tmp_path / "submitted").exists())
        assert post(server.port, {"action": "stop",
                                  "token": res["token"]})[0] == 200
        assert future.cancel()  # (its job runs on: it cannot be stopped)
        for name, gate in gates.items():
            gate.set()
            wait_for(lambda: not (tmp_path / name).exists())
    finally:
        for gate in gates.values():
            gate.set()
        pool.shutdown()
