"""What the job table tells the job store: each change of a kept job (a
worker's, not a `submit` future's, which lives in the process that made
it). `NoRecorder` is the table without a store; `StoreRecorder` writes
through a `JobStore`. The table calls these with no lock of its own held
(but `released`, which it calls under its lock: that only notes the
token, deleted with the store's next commit)."""
from __future__ import annotations

import json
import os
from typing import Any

from ..http.files import FileResponse
from ..http.responses import to_json
from .job import CANCELLED, DONE, ERROR, Job
from .job_store import JobStore
from .services_hub import HubRecorder, Service, ServiceJob


class NoRecorder:
    """Records nothing (no job store)."""

    def queued(self, job: Job) -> None:
        """A new job, committed before it can start or be answered."""

    def started(self, job: Job) -> None:
        """The job began to run."""

    def progress(self, job: Job) -> None:
        """The job reported progress (batched: no commit each)."""

    def ended(self, job: Job) -> None:
        """The job ended (done, error, cancelled), committed before its
        first reply."""

    def cancelled(self, job: Job) -> None:
        """A client cancelled the job (or the table refused it)."""

    def released(self, job: Job) -> None:
        """The job's result was handed out long enough ago, expired or
        was pushed out by newer ones."""

    def close(self) -> None:
        """The table closes: what is pending is written."""


Recorder = NoRecorder  # the interface, and its empty implementation


class StoreRecorder(NoRecorder):
    """Records the kept jobs of a table in `store`."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    def queued(self, job: Job) -> None:
        if job.kept and not elsewhere(job):
            self.store.queued(job.token, job.route, to_json(job.args[0]),
                              job.key)

    def started(self, job: Job) -> None:
        if job.kept and not elsewhere(job):
            self.store.started(job.token)

    def progress(self, job: Job) -> None:
        progress = job.progress
        if job.kept and progress is not None and not elsewhere(job):
            self.store.progress(job.token, to_json(progress.as_json()))

    def ended(self, job: Job) -> None:
        if not job.kept:
            return
        # a job that never ran (a cached result) was not stored yet
        new = {} if job.started else {"route": job.route,
                                      "payload": to_json(job.args[0])}
        if job.state == DONE:
            self.store.ended(job.token, DONE, job.result, file=_file_of(job),
                             **new)
        elif job.state == ERROR:
            self.store.ended(job.token, ERROR, error=to_json(job.error),
                             **new)
        else:  # cancelled (or released already): nothing to keep
            self.store.forget(job.token)

    def cancelled(self, job: Job) -> None:
        if job.kept:
            self.store.forget(job.token)

    def released(self, job: Job) -> None:
        if job.kept and job.state != CANCELLED:
            self.store.forget_later(job.token)

    def close(self) -> None:
        self.store.close()


class ServiceRecorder(HubRecorder):
    """Records the services of a hub, and which holds which job, in
    `store`."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    def registered(self, service: Service) -> None:
        self.store.service_saved(service.id, service.name,
                                 service.description)

    def gone(self, service: Service) -> None:
        self.store.service_gone(service.id)

    def took(self, job: ServiceJob, service: Service | None) -> None:
        self.store.service_took(job.id, None if service is None
                                else service.id)


def elsewhere(job: Job) -> bool:
    """Whether another process runs `job` and records it (one that the
    process before a restart finishes: `following.py`)."""
    return getattr(job.runner, "follows", False) and \
        getattr(job.handle, "elsewhere", True)


def _file_of(job: Job) -> str | None:
    """What rebuilds a job's file answer in the next process (JSON)."""
    file = job.file
    if file is None:
        return None
    return to_json({"path": file.path, "filename": file.filename,
                    "content_type": file.content_type,
                    "inline": file.inline, "delete": file.delete})


def file_answer(text: str) -> FileResponse:
    """The file answer `_file_of` described; OSError when the file is
    gone."""
    info: dict[str, Any] = json.loads(text)
    os.stat(info["path"])
    return FileResponse(info["path"], info["filename"], info["content_type"],
                        bool(info["inline"]), delete=bool(info["delete"]))
