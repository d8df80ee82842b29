"""The new process's side of a restart whose old process finishes its
running jobs (`draining.py`): such a job is restored as a job that runs
elsewhere (`Following`, a runner wrapping the worker's own), whose
progress and end come from the job store, read every `FOLLOW_EVERY` s
while any is followed. Its client polls the new process as for any job.

A cancel here deletes the job from the store, which the old process
notices and cancels the job there. When the old process ends without
recording an end (killed, crashed, or its `drain_timeout` passed), the
job is treated as any job that was running on a restart: it runs again
here from its start when its worker is `restartable`, else it fails with
`JobLost`."""
from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, Callable

from .. import log
from .dask_tasks import LOST
from .executors import OnDone, OnProgress, Runner
from .job_store import JobStore, StoredJob
from .outcomes import Outcome, RecordedResult
from .progress import Progress
from .recording import file_answer
from ..threads import make_thread

FOLLOW_EVERY = 0.1  # seconds between reads of the followed jobs
MARGIN = 60.0  # seconds a job is followed past `drain_timeout`, at most


def pid_alive(pid: int) -> bool:
    """Whether the process `pid` still runs (a zombie counts as alive:
    the supervisor reaps its children at once)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class FollowHandle:
    """A followed job (the table's handle of it)."""

    def __init__(self, token: str, run: Callable[[], Any],
                 on_progress: OnProgress, on_done: OnDone) -> None:
        self.token = token
        self.run = run  # runs the job here instead
        self.on_progress = on_progress
        self.on_done = on_done
        self.progress: str | None = None  # the JSON last relayed
        self.local: Any = None  # the handle once it runs here
        self.ended = False
        self.since = time.monotonic()

    @property
    def elsewhere(self) -> bool:
        """Whether the job still runs in the other process."""
        return self.local is None


class Follower:
    """Reads the followed jobs from `store` on a thread of its own, while
    any is followed and `stopped()` is false (the table closed); a job
    followed longer than `limit` s counts as given up (its process's pid
    may have been taken by another)."""

    def __init__(self, store: JobStore, stopped: Callable[[], bool],
                 limit: float, alive: Callable[[int], bool] = pid_alive
                 ) -> None:
        self.store = store
        self.limit = limit
        self.stopped = stopped
        self.alive = alive
        self._lock = threading.Lock()
        self._handles: dict[str, FollowHandle] = {}
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()

    def add(self, handle: FollowHandle) -> None:
        with self._lock:
            self._handles[handle.token] = handle
            if self._thread is None:
                self._thread = make_thread(
                    target=self._follow, daemon=True, name="job-follower")
                self._thread.start()

    def drop(self, handle: FollowHandle) -> bool:
        """Stops following `handle`; False when it was not followed."""
        with self._lock:
            return self._handles.pop(handle.token, None) is not None

    def _follow(self) -> None:
        while not self._wake.wait(FOLLOW_EVERY):
            with self._lock:
                handles = list(self._handles.values())
                if not handles or self.stopped():
                    self._thread = None
                    return
            try:
                stored = self.store.followed([h.token for h in handles])
            except Exception:  # pylint: disable=broad-except
                log.log_exception("the job store cannot be read:")
                continue
            for handle in handles:
                self._look(handle, stored.get(handle.token))

    def _look(self, handle: FollowHandle,
              found: tuple[StoredJob, int | None] | None) -> None:
        if self.stopped():
            return
        if found is None:  # cancelled here (or `jobs clear`)
            self._end(handle, ("cancelled",))
            return
        row, pid = found
        if row.state in ("done", "error", "cancelled"):
            self._end(handle, _outcome(row))
            return
        if row.progress is not None and row.progress != handle.progress:
            handle.progress = row.progress
            try:
                handle.on_progress(Progress(**json.loads(row.progress)))
            except (ValueError, TypeError):
                pass
        if pid is None or not self.alive(pid) or \
                time.monotonic() - handle.since > self.limit:
            if self.drop(handle):
                handle.run()

    def _end(self, handle: FollowHandle, outcome: Outcome) -> None:
        if self.drop(handle) and not handle.ended:
            handle.ended = True
            handle.on_done(outcome)


def _outcome(row: StoredJob) -> Outcome:
    """What the other process recorded, as the runner's outcome."""
    if row.state == "done":
        if row.file is not None:
            try:
                return ("done", file_answer(row.file))
            except OSError:
                return ("error", LOST, "the file it answered with is gone",
                        "", None)
        return ("done", RecordedResult(row.result or "null"))
    if row.state == "error":
        error = json.loads(row.error or "{}")
        return ("error", str(error.get("type", "Error")),
                str(error.get("message", "")), "", None)
    return ("cancelled",)


class Following:
    """The runner of the restored job `token`, which goes on in the
    process that restarted: `run` follows it in the store; should that
    process end first, the job runs on `runner` when `restartable`, else
    it fails with `JobLost`."""
    follows = True  # the old process records the job (`recording.py`)

    def __init__(self, runner: Runner, follower: Follower,
                 restartable: bool, token: str) -> None:
        self.runner = runner
        self.token = token
        self.follower = follower
        self.restartable = restartable
        self.capacity = 1 << 30  # it runs elsewhere: it takes no room

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...],
            key: str, on_progress: OnProgress, on_done: OnDone
            ) -> FollowHandle:
        def run_here() -> None:
            if not self.restartable:
                log.job_msg("worker job {0}: the process finishing it "
                            "ended first; it is lost", key[:6])
                handle.ended = True
                on_done(("error", LOST, "the server restarted while the "
                         "job ran, and the old process ended before the "
                         "job did (a worker registered with "
                         "restartable=True would run it again)", "", None))
                return
            log.job_msg("worker job {0}: the process finishing it ended "
                        "first; it runs again here", key[:6])
            try:
                handle.local = self.runner.run(fn, args, key, on_progress,
                                               on_done)
            except Exception as err:  # pylint: disable=broad-except
                handle.ended = True
                on_done(("error", type(err).__name__, str(err), "", None))
        handle = FollowHandle(self.token, run_here, on_progress, on_done)
        self.follower.add(handle)
        return handle

    def cancel(self, handle: FollowHandle) -> None:
        if handle.local is not None:
            self.runner.cancel(handle.local)
        elif self.follower.drop(handle) and not handle.ended:
            handle.ended = True  # the store forgot it: the old process
            handle.on_done(("cancelled",))  # cancels it there

    def close(self) -> None:
        pass

