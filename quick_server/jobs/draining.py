"""The old process's side of a restart under `setup_restart`'s supervisor
that loses no running job: the process stops serving, hands its
listening sockets over and lets the next process start at once, but
goes on running the jobs that run (threads, job processes, executors),
recording their progress and ends in the job store, until they end or
`settings.jobs.drain_timeout` passes; then it ends. The next process
follows those jobs in the store (`following.py`).

Queued jobs go to the next process (the store keeps them queued). A job
the next process cancels is deleted from the store: seen here, it is
cancelled here too. Jobs still running at the deadline are given up
(their drain mark is removed): the next process then runs them again or
fails them with `JobLost`, as on a restart without draining."""
from __future__ import annotations

import os
import time

from .. import log
from .job import RUNNING, Job
from .job_store import JobStore
from .table import WorkerPool

DRAIN_EVERY = 0.1  # seconds between looks at the store while draining


def runs_here(job: Job) -> bool:
    """Whether `job` runs in (or for) this process: not on a service,
    nor followed from another draining process."""
    return getattr(job.runner, "runs_here", True) and \
        not getattr(job.handle, "elsewhere", False)


def hand_over(pool: WorkerPool, store: JobStore) -> list[Job]:
    """Stops `pool` taking jobs (queued ones go to the next process) and
    marks its running jobs in `store` as finishing in this process; those
    jobs."""
    jobs = [job for job in pool.hand_over() if runs_here(job)]
    if jobs:
        store.draining([job.token for job in jobs], os.getpid())
    return jobs


def drain(pool: WorkerPool, store: JobStore, jobs: list[Job],
          timeout: float) -> list[Job]:
    """Waits until `jobs` ended (their ends are recorded as they come),
    at most `timeout` s, cancelling those the store forgot (the next
    process cancelled them: each gets `cancel_grace` and a second more to
    stop); the jobs still running then are given up and returned. Ctrl-C
    gives them up at once."""
    end = time.monotonic() + timeout
    stopping: dict[str, float] = {}  # token -> when a cancelled one is let go
    try:
        while True:
            now = time.monotonic()
            running = [job for job in jobs if job.state == RUNNING and
                       stopping.get(job.token, end) > now]
            if not running or now >= end:
                break
            store.flush()  # progress the next process relays
            stored = store.followed([job.token for job in running])
            for job in running:
                if job.token not in stored and job.token not in stopping:
                    log.job_msg("worker job {0} was cancelled by the next "
                                "process", job.token[:6])
                    stopping[job.token] = \
                        now + pool.settings.jobs.cancel_grace + 1.0
                    pool.cancel(job.token)
            time.sleep(DRAIN_EVERY)
    except KeyboardInterrupt:
        pass
    left = [job for job in jobs if job.state == RUNNING and
            job.token not in stopping]
    if left:
        store.drained([job.token for job in left])
    return left
