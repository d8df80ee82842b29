"""The `poll` action: one long-poll for many jobs (a browser's shared hub
watches the jobs of all its tabs with it)."""
from __future__ import annotations

import json
import threading
import time

import pytest

from conftest import get
from quick_server import report_progress

GATES: dict[str, threading.Event] = {}


@pytest.fixture
def server(make_server):
    server = make_server(start=False)
    server.max_workers = 8

    @server.json_worker("/gated")
    def _gated(payload):
        report_progress(0, 2, "started")
        GATES[payload["gate"]].wait(10)
        if payload.get("fail"):
            raise ValueError("it failed")
        if payload.get("progress"):
            report_progress(1, 2, "half")
            GATES[payload["gate"] + "-end"].wait(10)
        return {"gate": payload["gate"]}

    @server.json_worker("/other")
    def _other(payload):
        GATES[payload["gate"]].wait(10)
        return "other"

    from conftest import run_in_thread
    run_in_thread(server)
    yield server
    for gate in GATES.values():
        gate.set()
    GATES.clear()


def post(server, path, body):
    status, _, data = get(server.port, path, "POST", json.dumps(body).encode(),
                          {"Content-Type": "application/json"})
    return status, json.loads(data) if data.startswith((b"{", b"[")) \
        else data


def start(server, gate, path="/gated", **payload):
    GATES[gate] = threading.Event()
    GATES[gate + "-end"] = threading.Event()
    status, reply = post(server, path, {"action": "start",
                                        "payload": {"gate": gate,
                                                    **payload}})
    assert status == 200 and not reply["done"], reply
    return reply["token"]


def poll(server, tokens, wait=5, **extra):
    return post(server, "/gated", {"action": "poll", "tokens": tokens,
                                   "wait": wait, **extra})


def settle_progress(server, token):
    """Waits until a reply carried the job's first report (so that only
    later changes count as news)."""
    deadline = time.monotonic() + 5
    while True:
        status, reply = post(server, "/gated", {"action": "get",
                                                "token": token})
        assert status == 200
        if reply["progress"] is not None:
            assert reply["progress"]["message"] == "started"
            return
        assert time.monotonic() < deadline, "no progress reported"
        time.sleep(0.01)


def test_a_poll_answers_the_jobs_that_changed(server):
    one, two = start(server, "a"), start(server, "b", path="/other")
    settle_progress(server, one)
    threading.Timer(0.1, GATES["a"].set).start()
    began = time.monotonic()
    status, answer = poll(server, [one, two])
    assert status == 200 and time.monotonic() - began < 4
    assert list(answer["replies"]) == [one]  # tokens of any worker path
    assert answer["replies"][one]["done"] is True
    assert json.loads(answer["replies"][one]["result"]) == {"gate": "a"}
    GATES["b"].set()
    status, answer = poll(server, [two])
    assert json.loads(answer["replies"][two]["result"]) == "other"


def test_progress_is_news(server):
    token = start(server, "p", progress=True)
    settle_progress(server, token)
    # later than the 50 ms within which a job's further reports are dropped
    threading.Timer(0.1, GATES["p"].set).start()
    status, answer = poll(server, [token])
    reply = answer["replies"][token]
    assert (reply["done"], reply["continue"]) == (False, True)
    assert reply["progress"] == {"done": 1, "total": 2, "message": "half"}


def test_without_news_every_job_is_answered_when_the_wait_ends(server):
    one, two = start(server, "c"), start(server, "d")
    settle_progress(server, one)
    settle_progress(server, two)
    began = time.monotonic()
    status, answer = poll(server, [one, two], wait=0.3)
    assert time.monotonic() - began >= 0.3, answer
    assert set(answer["replies"]) == {one, two}
    assert all(reply["continue"] for reply in answer["replies"].values())
    status, answer = poll(server, [one, two], wait=0)  # no wait: all now
    assert set(answer["replies"]) == {one, two}


def test_unknown_tokens_and_failed_jobs_carry_their_status(server):
    token = start(server, "f", fail=True)
    settle_progress(server, token)
    GATES["f"].set()
    status, answer = poll(server, [token])
    failed = answer["replies"][token]
    assert failed["status"] == 500
    assert failed["error"] == {"type": "ValueError", "message": "it failed"}
    status, answer = poll(server, ["no-such-job", token], wait=5)
    assert answer["replies"]["no-such-job"] == {
        "status": 404, "error": "Unknown or expired worker token"}


def test_a_newer_poll_with_the_same_id_supersedes_the_older(server):
    token = start(server, "s")
    settle_progress(server, token)
    answers = []
    older = threading.Thread(target=lambda: answers.append(
        poll(server, [token], wait=20, poll="hub-1")))
    older.start()
    deadline = time.monotonic() + 5
    while server.workers.waiting() == 0:  # the older one waits
        assert time.monotonic() < deadline
        time.sleep(0.01)
    began = time.monotonic()
    status, answer = poll(server, [token], wait=0.2, poll="hub-1")
    older.join(5)
    assert answers == [(200, {"replies": {}})]  # answered, nothing new
    assert time.monotonic() - began < 2
    assert set(answer["replies"]) == {token}  # its own wait ran out


@pytest.mark.parametrize("body,message", [
    ({"tokens": "x"}, b"'tokens' must be a list"),
    ({"tokens": []}, b"'tokens' must be a list"),
    ({"tokens": [1]}, b"Worker token must be a string"),
    ({"tokens": ["x"] * 1001}, b"at most 1000 jobs"),
    ({"tokens": ["x"], "poll": "p" * 65}, b"'poll' must be a string"),
    ({"tokens": ["x"], "wait": -1}, b"'wait' must be a number"),
])
def test_bad_polls_are_400s(server, body, message):
    status, data = post(server, "/gated", {"action": "poll", **body})
    assert status == 400 and message in data
