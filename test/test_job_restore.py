"""What a restarted server makes of its stored jobs (`jobs/restoring.py`,
`jobs/recording.py`), without sockets: a job table records through a
store, a second table restores from the same file as the next process
would, and each stored state comes back as the issue says."""
from __future__ import annotations

import json
import threading
from typing import Any, NamedTuple

import pytest

from quick_server import FileResponse
from quick_server.jobs.job_store import JobStore
from quick_server.jobs.recording import StoreRecorder
from quick_server.jobs.restoring import restore
from quick_server.jobs.table import WorkerPool


class Entry(NamedTuple):
    start: Any
    restartable: bool
    resume: Any = None  # (a Dask job's: not here)


def table(store):
    pool = WorkerPool()
    pool.recorder = StoreRecorder(store)
    return pool


def worker(pool, fn, route="/w"):
    def start(payload, token=None, key=None):
        return pool.submit(fn, (payload,), route=route, token=token,
                           kept=True, key=key)
    return start


def final(pool, token):
    job = pool.lookup(token)
    job.finished.wait(10)
    return pool.answer(job, 0, 1 << 20)


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "jobs.sqlite3")


def test_each_stored_state_comes_back(path, tmp_path):
    store = JobStore(path, 1 << 20)
    old = table(store)
    gate = threading.Event()
    done = worker(old, lambda p: {"twice": p["n"] * 2})({"n": 2})
    failed = worker(old, lambda p: 1 / 0)({"n": 0})
    running = worker(old, lambda p: gate.wait(10))({"n": 3})
    again = worker(old, lambda p: gate.wait(10), "/again")({"n": 4})
    gone = worker(old, lambda p: gate.wait(10), "/gone")({"n": 5})
    (tmp_path / "f.txt").write_text("f")
    with_file = worker(old, lambda p: FileResponse(str(tmp_path / "f.txt")),
                       "/file")({})
    for job in (done, failed, with_file):
        job.finished.wait(10)
    old.close(keep=True)  # the process ends; the store keeps everything
    gate.set()

    store = JobStore(path, 1 << 20)
    new = table(store)
    ran = []
    counts = restore(new, store, store.load(), {
        "/w": Entry(worker(new, lambda p: ran.append(p) or "new"), False),
        "/again": Entry(worker(new, lambda p: ran.append(p) or "again",
                               "/again"), True),
        "/file": Entry(worker(new, lambda p: None, "/file"), False),
    })
    assert counts == {"held": 3, "queued": 1, "lost": 2}
    assert json.loads(final(new, done.token)["result"]) == {"twice": 4}
    error = final(new, failed.token)
    assert error.code == 500 and \
        error.response["error"]["type"] == "ZeroDivisionError"
    lost = final(new, running.token).response["error"]
    assert lost["type"] == "JobLost" and "restartable=True" in \
        lost["message"]
    assert json.loads(final(new, again.token)["result"]) == "again"
    assert ran == [{"n": 4}]  # only the restartable one ran again
    assert "no worker at /gone" in \
        final(new, gone.token).response["error"]["message"]
    assert new.download(with_file.token).path == str(tmp_path / "f.txt")
    new.close()


def test_a_file_answer_whose_file_is_gone_is_lost(path, tmp_path):
    store = JobStore(path, 1 << 20)
    old = table(store)
    (tmp_path / "f.txt").write_text("f")
    job = worker(old, lambda p: FileResponse(str(tmp_path / "f.txt")))({})
    job.finished.wait(10)
    old.close(keep=True)
    (tmp_path / "f.txt").unlink()
    store = JobStore(path, 1 << 20)
    new = table(store)
    assert restore(new, store, store.load(), {}) == {"lost": 1}
    assert "gone" in final(new, job.token).response["error"]["message"]
    new.close()


def test_a_stop_for_good_cancels_and_forgets(path):
    store = JobStore(path, 1 << 20)
    pool = table(store)
    gate = threading.Event()
    job = worker(pool, lambda p: gate.wait(10))({})
    pool.close()  # no keep: cancelled, and the store forgets it
    gate.set()
    job.finished.wait(10)
    assert JobStore(path, 1 << 20).load() == []


def test_released_results_leave_the_store(path):
    store = JobStore(path, 1 << 20)
    pool = table(store)
    job = worker(pool, lambda p: "x")({})
    job.finished.wait(10)
    assert [j.state for j in store.load()] == ["done"]
    pool.cancel(job.token)  # a client's stop releases the result
    assert store.load() == []
    pool.close()
