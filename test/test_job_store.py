"""The job store (issue 21, first part: `jobs/job_store.py`), without a
server: a job's life reloads in a new store on the same file (as a
restarted server would), progress is batched, the file is bounded, a
store of another version or a corrupt one is moved aside, the file is
private, and what was committed survives a `kill -9`."""
from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys

import pytest

from quick_server.jobs import job_store
from quick_server.jobs.job_store import JobStore, store_path


def _store(tmp_path, **kwargs):
    logged: list[str] = []
    store = JobStore(str(tmp_path / "jobs.sqlite3"),
                     kwargs.get("max_bytes", 1 << 20), logged.append)
    return store, logged


def test_a_job_life_is_there_after_a_restart(tmp_path):
    store, _ = _store(tmp_path)
    store.queued("t1", "/api/job", '{"n":1}')
    store.started("t1")
    store.progress("t1", '{"done":1,"total":2,"message":"half"}')
    store.ended("t1", "done", result='{"sum":3}')
    store.queued("t2", "/api/job", '{"n":2}')
    store.close()
    again, _ = _store(tmp_path)  # the restarted server's
    jobs = {job.token: job for job in again.load()}
    assert jobs["t1"].state == "done" and jobs["t1"].result == '{"sum":3}'
    assert jobs["t1"].progress == '{"done":1,"total":2,"message":"half"}'
    assert jobs["t2"].state == "queued" and jobs["t2"].payload == '{"n":2}'
    assert again.summary() == {"done": 1, "queued": 1}
    again.handed_out("t1")
    assert again.load()[0].handed_out is not None
    again.close()


def test_progress_is_batched(tmp_path, monkeypatch):
    monkeypatch.setattr(job_store, "PROGRESS_EVERY", 3600.0)
    store, _ = _store(tmp_path)
    store.queued("t", "/job", "{}")
    for done in range(100):
        store.progress("t", f'{{"done":{done}}}')
    reader = sqlite3.connect(str(tmp_path / "jobs.sqlite3"))
    saved = reader.execute("SELECT progress FROM jobs").fetchone()[0]
    assert saved is None, "no commit per report"
    store.flush()
    saved = reader.execute("SELECT progress FROM jobs").fetchone()[0]
    assert saved == '{"done":99}'
    reader.close()
    store.close()


def test_the_file_is_bounded_and_keeps_jobs_still_to_run(tmp_path):
    store, _ = _store(tmp_path, max_bytes=300)
    store.queued("waiting", "/job", "x" * 100)
    for n in range(5):
        store.queued(f"d{n}", "/job", "{}")
        store.ended(f"d{n}", "done", result="r" * 60)
    tokens = [job.token for job in store.load()]
    assert "waiting" in tokens
    assert tokens[-1] == "d4" and "d0" not in tokens  # oldest gone first
    store.close()


def test_expire_clear_and_a_bad_end(tmp_path):
    store, _ = _store(tmp_path)
    store.queued("a", "/job", "{}")
    store.ended("a", "error", error='{"type":"X","message":"m"}')
    store.queued("b", "/job", "{}")
    assert store.expire(finished_before=0.0) == 0
    assert store.expire(finished_before=float("inf")) == 1
    with pytest.raises(ValueError):
        store.ended("b", "running")
    assert store.clear() == 1 and store.load() == []
    store.close()


@pytest.mark.parametrize("damage", ["garbage", "other version"])
def test_an_unusable_store_is_moved_aside(tmp_path, damage):
    path = tmp_path / "jobs.sqlite3"
    if damage == "garbage":
        path.write_bytes(b"this is not a database" * 100)
    else:
        first, _ = _store(tmp_path)
        first.queued("old", "/job", "{}")
        first.close()
        db = sqlite3.connect(str(path))
        db.execute("UPDATE meta SET value = '0' WHERE key = 'version'")
        db.commit()
        db.close()
    store, logged = _store(tmp_path)
    assert store.load() == []
    assert len(logged) == 1 and "moved to" in logged[0]
    assert any(name.startswith("jobs.sqlite3.set-aside-")
               for name in os.listdir(tmp_path))
    store.close()


def test_the_store_is_private_and_named_per_script_and_port(tmp_path):
    path = store_path("/srv/app.py", 8000, str(tmp_path / "quick_server"))
    assert path != store_path("/srv/app.py", 8001, str(tmp_path / "quick_server"))
    assert path != store_path("/other/app.py", 8000, str(tmp_path / "quick_server"))
    store = JobStore(path, 1 << 20)
    store.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700


def test_what_was_committed_survives_kill_9(tmp_path):
    path = str(tmp_path / "jobs.sqlite3")
    script = (
        "import os, signal, sys\n"
        "from quick_server.jobs.job_store import JobStore\n"
        "store = JobStore(sys.argv[1], 1 << 20)\n"
        "store.queued('kept', '/job', '{\"n\":1}')\n"
        "store.ended('kept', 'done', result='42')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n")
    run = subprocess.run([sys.executable, "-c", script, path], timeout=60,
                         check=False)
    assert run.returncode == -9
    store = JobStore(path, 1 << 20)
    assert [(j.token, j.state, j.result) for j in store.load()] == \
        [("kept", "done", "42")]
    store.close()


def test_a_draining_process_and_its_follower_share_the_store(tmp_path):
    old, _ = _store(tmp_path)  # the process that restarted, draining
    for token in ("t1", "t2", "t3"):
        old.queued(token, "/api/job", "{}")
        old.started(token)
    old.draining(["t1", "t2", "t3"], 4242)
    new, _ = _store(tmp_path)  # the next process, on the same file
    assert new.drain_owners() == {"t1": 4242, "t2": 4242, "t3": 4242}
    old.progress("t1", '{"done":1,"total":2,"message":null}')
    old.flush()
    row, pid = new.followed(["t1"])["t1"]
    assert row.state == "running" and pid == 4242
    assert row.progress == '{"done":1,"total":2,"message":null}'
    old.ended("t1", "done", result="7")  # the end and its mark, at once
    new.forget("t2")  # cancelled by the next process's client
    assert old.followed(["t2"]) == {}  # what the old one sees: cancel it
    old.drained(["t3"])  # given up at drain_timeout
    seen = new.followed(["t1", "t3"])
    assert seen["t1"][0].result == "7" and seen["t1"][1] is None
    assert seen["t3"][0].state == "running" and seen["t3"][1] is None
    assert new.drain_owners() == {}
    old.close()
    new.close()
