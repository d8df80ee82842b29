"""The job table's states, without sockets: the state table refuses moves
it does not list, and the pool moves its jobs only along it (queued ->
running -> done / error / cancelled, a finished result -> released)."""
from __future__ import annotations

import threading

import pytest

from quick_server.jobs import job as states
from quick_server.jobs.job import (ACTIVE, CANCELLED, DONE, ERROR, QUEUED,
                                   RELEASED, RUNNING, TRANSITIONS,
                                   BadTransition, Job, move)
from quick_server.jobs.table import WorkerPool
from test_workers import wait_for

WAIT = 10.0


def test_the_table_lists_every_state_and_only_known_ones():
    every = {QUEUED, RUNNING, DONE, ERROR, CANCELLED, RELEASED}
    assert set(TRANSITIONS) == every
    assert all(targets <= every for targets in TRANSITIONS.values())
    assert ACTIVE == {QUEUED, RUNNING}
    assert not TRANSITIONS[CANCELLED] and not TRANSITIONS[RELEASED]


def test_move_follows_the_table_and_refuses_the_rest():
    job = Job("tok123", lambda: None, (), None)  # type: ignore[arg-type]
    for state in (RUNNING, DONE, RELEASED):
        move(job, state)
    assert job.state == RELEASED
    with pytest.raises(BadTransition, match="tok123.*released to done"):
        move(job, DONE)
    for start, bad in ((QUEUED, DONE), (DONE, RUNNING), (ERROR, DONE),
                       (CANCELLED, RELEASED), (RUNNING, RELEASED)):
        job.state = start
        with pytest.raises(BadTransition):
            move(job, bad)
        assert job.state == start


@pytest.fixture
def pool(monkeypatch):
    """A job table whose every move is recorded as (from, to)."""
    moves: list[tuple[str, str]] = []
    real_move = states.move

    def recording(job, state):
        moves.append((job.state, state))
        real_move(job, state)

    monkeypatch.setattr("quick_server.jobs.table.move", recording)
    table = WorkerPool()
    table.moves = moves
    yield table
    table.close()


def settled(job):
    assert job.finished.wait(WAIT)
    return job


def test_a_fetched_result_is_released(pool):
    job = settled(pool.submit(lambda: 41 + 1, ()))
    assert job.state == DONE and job.result == "42"
    assert pool.answer(job, 0, 1000)["result"] == "42"
    assert pool.cancel(job.token)  # the client is done with it
    assert job.state == RELEASED and pool.held_bytes() == 0
    assert pool.moves == [(QUEUED, RUNNING), (RUNNING, DONE),
                          (DONE, RELEASED)]


def test_a_failing_job_ends_as_an_error(pool):
    job = settled(pool.submit(lambda: 1 / 0, ()))
    assert job.state == ERROR and job.error["type"] == "ZeroDivisionError"
    assert pool.moves == [(QUEUED, RUNNING), (RUNNING, ERROR)]


def test_a_queued_job_is_cancelled_and_a_running_one_on_settling(pool):
    pool.max_workers = 1
    gate = threading.Event()
    running = pool.submit(gate.wait, (WAIT,))
    queued = pool.submit(lambda: None, ())
    assert queued.state == QUEUED
    assert pool.cancel(queued.token) and queued.state == CANCELLED
    assert pool.cancel(running.token)
    gate.set()  # (cancelled, it is answered at once; it settles later)
    wait_for(lambda: running.state == CANCELLED, WAIT)
    assert pool.active() == 0
    assert sorted(pool.moves) == sorted([
        (QUEUED, RUNNING), (QUEUED, CANCELLED), (RUNNING, CANCELLED)])


def test_a_result_too_large_to_hold_turns_done_into_an_error(pool):
    pool.max_result_bytes = 4
    job = pool.finished_job('"too long"', "/cached")
    assert job.state == ERROR and job.error["type"] == "ResultTooLarge"
    assert pool.moves == [(DONE, ERROR)]


def test_a_future_job_hands_its_value_on_and_is_released(pool):
    future = pool.submit_future(lambda: "value", ())
    assert future.result(WAIT) == "value"
    failing = pool.submit_future(lambda: 1 / 0, ())
    with pytest.raises(ZeroDivisionError):
        failing.result(WAIT)
    assert (RUNNING, DONE) in pool.moves and (DONE, RELEASED) in pool.moves
    assert (RUNNING, ERROR) in pool.moves and \
        (ERROR, RELEASED) in pool.moves
    assert pool.active() == 0


def test_a_split_result_is_fetched_in_parts(pool):
    job = settled(pool.submit(lambda: "x" * 25, ()))
    answer = pool.answer(job, 0, 10)
    assert answer["continue"] and len(answer["result"]) == 3
    parts = [pool.take_cargo(key)["result"] for key in answer["result"]]
    assert "".join(parts) == '"' + "x" * 25 + '"'
    pool.cancel(job.token)
    assert pool.held_bytes() == 0 and job.state == RELEASED
    with pytest.raises(Exception, match="cargo"):
        pool.take_cargo(answer["result"][0])


def test_closing_cancels_every_job(pool):
    gate = threading.Event()
    job = pool.submit(gate.wait, (WAIT,))
    pool.close()
    assert settled(job).state == RUNNING and job.cancelled
    gate.set()
    wait_for(lambda: job.state == CANCELLED, WAIT)
    with pytest.raises(Exception, match="shutting down"):
        pool.submit(lambda: None, ())
