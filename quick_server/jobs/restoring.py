"""What a restarted server makes of the jobs its store kept: finished
results and errors are held again for their clients, queued jobs are
queued again, a job that was running goes on where it runs when its
executor kept it there (a Dask task, `dask_tasks.py`), else runs again
from its start when its worker is `restartable`, and fails with `JobLost`
otherwise; a job whose worker is gone fails with `JobLost` too. A job
that the old process goes on running (under `setup_restart`'s
supervisor, `draining.py`) is followed in the store until it ends there
(`following.py`). Every job keeps its token: a client that polls after
the restart gets its answer, never a 404."""
from __future__ import annotations

import functools
import json
from collections import Counter
from typing import Any, Callable, Mapping, Protocol

from .. import log
from ..http.responses import HTTPError
from .job import DONE, ERROR, QUEUED, RUNNING
from .dask_tasks import LOST
from .following import MARGIN, Follower, Following, pid_alive
from .job_store import JobStore, StoredJob
from .recording import file_answer
from .table import WorkerPool


class WorkerEntry(Protocol):
    """How a restarted server starts a worker route's job again:
    `start(payload, token, key)` queues it (the worker's own checks,
    cache and executor) with its token and key; whether a job that was
    running may run again; and `resume(payload, token, key)`, which lets
    a job that was running take up its task where it still runs (None
    when the executor keeps none: then it runs again, or is lost)."""

    @property
    def start(self) -> Callable[[Any, str, str], Any]: ...

    @property
    def restartable(self) -> bool: ...

    @property
    def resume(self) -> Callable[[Any, str, str], Any] | None: ...


def restore(pool: WorkerPool, store: JobStore, stored: list[StoredJob],
            workers: Mapping[str, WorkerEntry]) -> Counter[str]:
    """Puts the jobs `store` kept (`stored`) back into `pool` (which
    records in `store`); how many of each outcome ("held", "queued",
    "lost"). A job a service held goes back to it when the services hub
    was told (`ServiceHub.restore`) first."""
    counts: Counter[str] = Counter()
    owners = store.drain_owners()
    gone = {pid for pid in owners.values() if not pid_alive(pid)}
    if gone:  # the process finishing them ended first: as on a restart
        store.drained([token for token, pid in owners.items()
                       if pid in gone])
    follower = Follower(store, lambda: pool.closed,
                        pool.settings.jobs.drain_timeout + MARGIN)
    for job in stored:
        pid = owners.get(job.token)
        follow = job.state == RUNNING and pid is not None and pid not in gone
        if follow:
            pool.adopt[job.token] = functools.partial(
                _follow, follower=follower, token=job.token,
                entry=workers.get(job.route))
        try:
            outcome = _restore_one(pool, job, workers.get(job.route))
        except (ValueError, TypeError, KeyError) as err:  # unreadable row
            log.job_warning("stored job {0} cannot be restored: {1}",
                            job.token[:6], err)
            outcome = "dropped"
        if follow and pool.adopt.pop(job.token, None) is None and \
                outcome == "queued":  # (its runner follows it)
            outcome = "followed"
        if outcome == "dropped":
            store.forget(job.token)
        counts[outcome] += 1
    return counts


def _restore_one(pool: WorkerPool, job: StoredJob,
                 entry: WorkerEntry | None) -> str:
    payload = json.loads(job.payload)
    if job.state == DONE:
        file = None
        if job.file is not None:
            try:
                file = file_answer(job.file)
            except OSError:
                return _lost(pool, job, payload, "the file it answered "
                             "with is gone since the server restarted")
        pool.finished_job(job.result, job.route, token=job.token,
                          payload=payload, file=file)
        return "held"
    if job.state == ERROR:
        pool.finished_job(None, job.route, token=job.token, payload=payload,
                          error=json.loads(job.error or "{}"))
        return "held"
    if job.state not in (QUEUED, RUNNING):
        return "dropped"
    if entry is None:
        return _lost(pool, job, payload, f"the server restarted and has no "
                     f"worker at {job.route} any more")
    try:
        if job.token in pool.adopt:  # it finishes in the old process
            entry.start(payload, job.token, job.key)
            return "queued"
        if job.state == RUNNING and entry.resume is not None and \
                entry.resume(payload, job.token, job.key) is not None:
            return "resumed"  # (or lost, or run again, once it is looked up)
        if job.state == RUNNING and not entry.restartable:
            return _lost(pool, job, payload, "the server restarted while "
                         "the job ran (a worker registered with "
                         "restartable=True would run it again)")
        entry.start(payload, job.token, job.key)
    except HTTPError as err:
        return _lost(pool, job, payload, f"the server restarted and could "
                     f"not queue the job again: {err.message}")
    return "queued"


def _follow(runner: Any, *, follower: Follower, token: str,
            entry: WorkerEntry | None) -> Following:
    return Following(runner, follower, entry is not None and
                     entry.restartable, token)


def _lost(pool: WorkerPool, job: StoredJob, payload: Any, message: str
          ) -> str:
    pool.finished_job(None, job.route, token=job.token, payload=payload,
                      error={"type": LOST, "message": message})
    return "lost"

