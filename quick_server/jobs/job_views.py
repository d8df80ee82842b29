"""The jobs as a person looks at them (the dashboard, `status.json`, the
`status` command): an id of their own (the job's key: never the token,
which is its client's secret), their route, state, progress, where they
run and for how long; and the executors' slots."""
from __future__ import annotations

import time
from typing import Any

from .job import CANCELLED, DONE, ERROR, QUEUED, RELEASED, RUNNING, Job

# the table's states as a viewer names them (a released result was done)
STATES = {QUEUED: "queued", RUNNING: "running", DONE: "done",
          ERROR: "error", CANCELLED: "cancelled", RELEASED: "done"}


def runs_on(job: Job) -> str:
    """Where a job runs: "thread", "process 1234", "dask <key>",
    "service <id>", "async", "executor" (None while queued)."""
    kind = type(job.runner).__name__
    handle = job.handle
    if kind == "ProcessRunner":
        process = handle[0] if isinstance(handle, tuple) else None
        return f"process {process.pid}" if process is not None else "process"
    if kind == "ServiceRunner":
        service = getattr(handle, "service", None)
        return f"service {service.id}" if service is not None else \
            "service (waiting for one)"
    if kind == "FuturesRunner":
        key = getattr(handle, "key", None)
        return f"dask {key}" if key is not None else "executor"
    if kind == "CoroutineJobRunner":
        return "async"
    return "thread"


def describe(job: Job, now: float, tracebacks: bool) -> dict[str, Any]:
    """One job as `status.json` lists it."""
    progress = job.progress
    row: dict[str, Any] = {
        "id": job.key, "path": job.route,
        "state": "cancelled" if job.cancelled else STATES[job.state],
        "progress": None if progress is None else progress.as_json(),
        "runs_on": runs_on(job) if job.state == RUNNING else None,
        "elapsed_s": round(now - job.started, 3) if job.started else 0.0}
    if job.error is not None:
        row["error"] = dict(job.error)
        if tracebacks and job.traceback:
            row["error"]["traceback"] = job.traceback
    return row


def slots(running: dict[Any, int]) -> list[dict[str, Any]]:
    """Each executor with jobs: `{"executor", "busy", "total"}`."""
    rows = []
    for runner, busy in running.items():
        name = type(runner).__name__.removesuffix("Runner").lower()
        rows.append({"executor": name, "busy": busy,
                     "total": getattr(runner, "capacity", None)})
    return rows


def jobs_now(pool: Any, tracebacks: bool) -> tuple[list[dict[str, Any]],
                                                   list[dict[str, Any]]]:
    """The jobs the table holds (then the recently ended it forgot, from
    its statistics) and the executors' slots."""
    jobs, running = pool.view()
    now = time.monotonic()
    rows = [describe(job, now, tracebacks) for job in jobs]
    seen = {row["id"] for row in rows}
    rows.extend(row for row in pool.stats.recent()
                if row["id"] not in seen)
    if not tracebacks:
        for row in rows:
            if "error" in row:
                row["error"] = {k: v for k, v in row["error"].items()
                                if k != "traceback"}
    return rows, slots(running)
