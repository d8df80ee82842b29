"""Bounds of the worker protocol: the bytes of results held, the expiry of
results and of abandoned jobs, and prompt answers to long-polls when a job
is cancelled or the server shuts down."""
from __future__ import annotations

import json
import threading
import time

import pytest

from quick_server import WorkerError, is_worker_alive, worker_request
from test_workers import post, wait_for

CANCELLED = {"done": False, "continue": False, "result": None,
             "progress": None}


@pytest.fixture
def gated(make_server):
    """A server whose job at /work returns `size` characters of data once
    `server.gate` is set. The job waits in one C call, which cancelling
    cannot interrupt: it keeps running until the gate opens."""
    server = make_server()
    server.gate = threading.Event()

    @server.json_worker("/work")
    def _work(payload):
        server.gate.wait(10)
        return {"i": payload.get("i"), "data": "y" * payload.get("size", 0)}

    yield server
    server.gate.set()


def start(server, payload, wait=0):
    status, res = post(server.port, {"action": "start", "payload": payload,
                                     "wait": wait})
    assert status == 200, res
    return res


def long_poll(port, token):
    """Sends `get` with wait=25 on a thread; returns `answer(timeout)`,
    which fails unless the poll was answered within `timeout` s."""
    answers = []
    answered = threading.Event()

    def run():
        answers.append(post(port, {"action": "get", "token": token,
                                   "wait": 25}))
        answered.set()

    threading.Thread(target=run, daemon=True).start()

    def answer(timeout):
        assert answered.wait(timeout), "the long-poll is still waiting"
        return answers[0]
    return answer


# -- the bytes of results held ---------------------------------------------

def test_held_results_are_bounded_oldest_released_first(gated):
    pool = gated.workers
    gated.max_workers = 1  # the jobs finish in order
    pool.max_result_bytes = 1000  # two results of 420 bytes fit, not three
    tokens = [start(gated, {"i": i, "size": 400})["token"] for i in range(3)]
    gated.gate.set()
    wait_for(lambda: pool.active() == 0)
    assert 0 < pool.held_bytes() <= 1000
    status, body = post(gated.port, {"action": "get", "token": tokens[0]})
    assert status == 404 and b"Unknown or expired worker token" in body
    for i in (1, 2):
        _, res = post(gated.port, {"action": "get", "token": tokens[i]})
        assert json.loads(res["result"]) == {"i": i, "data": "y" * 400}


def test_split_results_count_and_are_released_with_their_parts(gated):
    pool = gated.workers
    pool.max_result_bytes = 1000
    gated.max_chunk_size = 100
    gated.gate.set()
    first = start(gated, {"i": 1, "size": 600}, wait=5)
    assert first["continue"]  # split in parts, none fetched yet
    second = start(gated, {"i": 2, "size": 600}, wait=5)
    for key in first["result"]:
        assert post(gated.port, {"action": "cargo", "token": key})[0] == 404
    assert post(gated.port, {"action": "get",
                             "token": first["token"]})[0] == 404
    text = "".join(post(gated.port, {"action": "cargo", "token": key})[1][
        "result"] for key in second["result"])
    assert json.loads(text) == {"i": 2, "data": "y" * 600}
    assert pool.held_bytes() == len(text)


def test_a_result_larger_than_the_bound_fails_alone(gated):
    pool = gated.workers
    pool.max_result_bytes = 1000
    gated.gate.set()
    small = start(gated, {"i": 1, "size": 300}, wait=5)
    held = pool.held_bytes()
    status, body = post(gated.port, {"action": "start", "wait": 5,
                                     "payload": {"i": 2, "size": 2000}})
    assert status == 500 and body["error"]["type"] == "ResultTooLarge"
    assert "larger than max_result_bytes" in body["error"]["message"]
    assert pool.held_bytes() == held  # nothing released for it
    assert post(gated.port, {"action": "get",
                             "token": small["token"]}) == (200, small)
    assert start(gated, {"i": 3}, wait=5)["done"]  # the server still works


# -- expiry ----------------------------------------------------------------

def test_an_unfetched_result_is_released(gated):
    pool = gated.workers
    pool.result_timeout = 0.3
    pool.sweep_interval = 0
    token = start(gated, {"i": 1, "size": 100})["token"]
    gated.gate.set()
    wait_for(lambda: pool.active() == 0)
    assert pool.held_bytes() > 0
    # nobody asks for the result; other requests run the sweep
    wait_for(lambda: post(gated.port, {"action": "get", "token": "other"})[
        0] == 404 and pool.held_bytes() == 0)
    assert post(gated.port, {"action": "get", "token": token})[0] == 404


def test_an_abandoned_job_is_cancelled(make_server):
    server = make_server()
    stopped = threading.Event()

    @server.json_worker("/work")
    def _work(payload):
        while is_worker_alive():
            time.sleep(0.01)
        stopped.set()

    server.workers.abandon_timeout = 0.3
    server.workers.sweep_interval = 0
    _, res = post(server.port, {"action": "start", "payload": {}})
    assert res["continue"]
    # nobody asks for the job; other requests run the sweep
    wait_for(lambda: post(server.port, {"action": "get", "token": "other"})[
        0] == 404 and stopped.is_set())
    assert post(server.port, {"action": "get",
                              "token": res["token"]})[0] == 404


# -- waiting long-polls are answered at once -------------------------------

@pytest.mark.parametrize("queued", [False, True], ids=["running", "queued"])
def test_stop_answers_a_waiting_long_poll(gated, queued):
    gated.max_workers = 1
    job = start(gated, {"i": 1})
    if queued:
        job = start(gated, {"i": 2})
    answer = long_poll(gated.port, job["token"])
    wait_for(lambda: gated.workers.waiting() == 1)
    post(gated.port, {"action": "stop", "token": job["token"]})
    assert answer(5) == (200, dict(CANCELLED, token=job["token"]))


def test_close_answers_a_waiting_long_poll(gated):
    job = start(gated, {"i": 1})
    answer = long_poll(gated.port, job["token"])
    wait_for(lambda: gated.workers.waiting() == 1)
    gated.workers.close()
    assert answer(5) == (200, dict(CANCELLED, token=job["token"]))
    assert post(gated.port, {"action": "start"})[0] == 503


def test_shutdown_answers_a_waiting_long_poll(gated):
    gated.shutdown_grace = 6.0  # the poll must not wait for it
    job = start(gated, {"i": 1})
    answer = long_poll(gated.port, job["token"])
    wait_for(lambda: gated.workers.waiting() == 1)
    gated.shutdown()
    assert answer(5) == (200, dict(CANCELLED, token=job["token"]))


def test_python_client_reports_a_cancelled_job(gated):
    url = f"http://127.0.0.1:{gated.port}/work"
    gated.workers.start_wait = 0  # only the long-poll `get` waits
    errors = []

    def run():
        try:
            worker_request(url, {"i": 1})
        except WorkerError as err:
            errors.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    wait_for(lambda: gated.workers.waiting() == 1)
    gated.workers.close()
    thread.join(5)
    assert not thread.is_alive()
    assert str(errors[0]) == "the server cancelled the job"
    assert errors[0].status_code is None
