"""The worker protocol: long jobs run off the request thread, the browser
polls (or long-polls) for them, large results come back in parts.

This module is the job table; `protocol` answers the requests of the wire
protocol (docs/protocol.rst) with it, `job` holds a job's record and the
table of its states, `held_results` the results waiting for clients."""
from __future__ import annotations

import concurrent.futures
import functools
import secrets
import threading
import time
from typing import Any, Callable

from .. import log
from ..http.files import FileResponse, download_path
from ..http.responses import HTTPError, to_json
from ..http.waiting import Signal
from .long_polls import LongPolls
from ..settings import Settings, WorkerPoolAliases
from ..stats import JobStats
from .executors import Runner, Runners
from .held_results import HeldResults, expired, text_bytes
from .job_answers import JobAnswers
from .job_queue import JobQueue
from .job_views import describe
from .job import (ACTIVE, CANCELLED, DONE, ERROR, QUEUED, RELEASED, RUNNING,
                  Job, may_move, move, reply)
from .outcomes import Outcome, RecordedResult, settle_future
from .progress import Progress
from .recording import NoRecorder, Recorder

__all__ = ["WorkerArgs", "WorkerPool"]

WorkerArgs = dict[str, Any]


class WorkerPool(JobAnswers, WorkerPoolAliases):
    """The job table: starts jobs on their executors (each runs at most
    its `capacity` at once; at most `settings.jobs.max_queue` more wait
    here), keeps results until they are fetched (or expire, or the results
    held exceed `max_result_bytes`), cancels abandoned jobs, stores the
    parts of large results, relays progress, and counts jobs per route.
    Its limits are the server's `settings.jobs` (the old names, such as
    `workers.max_queue`, are aliases)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = Settings() if settings is None else settings
        self.runners = Runners(self._progress_by_key, self.settings)
        self.stats = JobStats()
        self._lock = threading.Lock()
        # notified on every change of any job, for polls that watch many
        self._any_change = threading.Condition(self._lock)
        # fired with a job's token when it changed, with no lock held: a
        # long-poll waiting for it may be answered on the firing thread
        self.signal = Signal(direct=True)
        self.polls = LongPolls(self.signal)  # requests waiting for news
        self._jobs: dict[str, Job] = {}
        self._by_key: dict[str, Job] = {}  # progress key -> running job
        self._pending = JobQueue()
        self._running: dict[int, int] = {}  # id(runner) -> jobs running
        self._results = HeldResults()
        self._last_sweep = time.monotonic()
        self.closed = False
        self.recorder: Recorder = NoRecorder()  # the job store, if any
        # token -> what wraps the runner of the restored job with that
        # token (one that goes on in another process: `following.py`)
        self.adopt: dict[str, Callable[[Runner], Runner]] = {}

    # -- lifecycle ---------------------------------------------------------

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...], *,
               runner: Runner | None = None, route: str = "(job)",
               encode: Callable[[Any, float], str] | None = None,
               future: concurrent.futures.Future[Any] | None = None,
               token: str | None = None, kept: bool = False,
               key: str | None = None) -> Job:
        """Queues `fn(*args)` on `runner` (threads by default). A worker
        job gives `encode`, which turns the value into the JSON text of the
        result (given the value and the seconds the job ran); a
        `submit_future` job gives the `future` to settle. A `kept` job
        (its payload is `args[0]`) is in the job store, committed before
        this returns; `token` and `key` are a restored job's own."""
        self._sweep()
        runner = runner or self.runners.threads
        wrap = self.adopt.pop(token, None) if token else None
        job = Job(token or secrets.token_urlsafe(24), fn, args,
                  runner if wrap is None else wrap(runner), route, encode,
                  future, kept=kept)
        job.key = key or job.key
        job.changed = threading.Condition(self._lock)
        self.recorder.queued(job)  # before any other thread sees it
        try:
            with self._lock:
                if self.closed:
                    raise HTTPError(503, "Server is shutting down")
                if not self._has_room_locked(job.runner) and \
                        len(self._pending) >= self.settings.jobs.max_queue:
                    raise HTTPError(503, "Too many queued jobs",
                                    headers=[("Retry-After", "1")])
                self._jobs[job.token] = job
                self._pending.append(job)
        except HTTPError:
            self.recorder.cancelled(job)
            raise
        self._launch()
        return job

    def submit_future(self, fn: Callable[..., Any], args: tuple[Any, ...],
                      runner: Runner | None = None,
                      route: str = "(submit)"
                      ) -> concurrent.futures.Future[Any]:
        """`fn(*args)` as a job, its outcome in the returned future (a
        failure where it ran is a `JobFailed`, or the exception itself
        when the executor keeps it)."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.submit(fn, args, runner=runner, route=route, future=future)
        return future

    def finished_job(self, text: str | None, route: str, *,
                     token: str | None = None, payload: Any = None,
                     error: dict[str, str] | None = None,
                     file: FileResponse | None = None) -> Job:
        """A job that is done already, as `submit` would make it: a cached
        result (`text`), or a restored result, `error` or `file` answer
        (with its `token`)."""
        job = Job(token or secrets.token_urlsafe(24), lambda: None,
                  (payload,), self.runners.threads, route,
                  state=DONE if error is None else ERROR, result=text,
                  error=error, kept=True, file=file)
        job.changed = threading.Condition(self._lock)
        job.finished.set()
        with self._lock:
            if self.closed:
                raise HTTPError(503, "Server is shutting down")
            self._jobs[job.token] = job
            if error is None:
                self._hold_locked(job)
                self._ready_reply_locked(job)
        if token is None:
            self.stats.cached(route)
        self.recorder.ended(job)
        return job

    def _has_room_locked(self, runner: Runner) -> bool:
        return self._running.get(id(runner), 0) < runner.capacity

    def _launch(self) -> None:
        """Starts every queued job whose executor has room, in order."""
        while True:
            with self._lock:
                job = self._pending.next_startable(self._has_room_locked)
                if job is None:
                    return
                self._pending.remove(job)
                move(job, RUNNING)
                job.started = time.monotonic()
                self._running[id(job.runner)] = \
                    self._running.get(id(job.runner), 0) + 1
                self._by_key[job.key] = job
            self.stats.started(job.route)
            self.recorder.started(job)
            try:
                handle = job.runner.run(
                    job.fn, job.args, job.key,
                    functools.partial(self._report, job),
                    functools.partial(self._settle, job))
            except Exception as err:  # pylint: disable=broad-except
                # cannot be sent where it would run (not picklable, ...)
                log.job_error("worker job {0} on {1} cannot start: {2}",
                              job.token[:6], job.route, err)
                self._settle(job, ("error", type(err).__name__, str(err),
                                   "", None))
                continue
            with self._lock:
                running = job.state == RUNNING
                if running:
                    job.handle = handle
            if running and job.cancelled:  # cancelled while it started
                job.runner.cancel(handle)

    def _report(self, job: Job, progress: Progress) -> None:
        with self._lock:
            if job.state != RUNNING:
                return
            job.progress = progress
            job.changes += 1
            self._notify_locked(job)
        self.recorder.progress(job)
        self.signal.fire(job.token)

    def _count_end_locked(self, job: Job, kind: str) -> None:
        if not job.counted:
            job.counted = True
            now = time.monotonic()
            self.stats.ended(job.route, kind, now - job.started
                             if job.started else None,
                             describe(job, now, tracebacks=True))

    def _notify_locked(self, job: Job) -> None:
        if job.changed is not None:
            job.changed.notify_all()
        self._any_change.notify_all()  # (the caller fires `signal` after)

    def _progress_by_key(self, key: str, progress: Progress) -> None:
        """Progress that arrived on a channel shared by many jobs."""
        job = self._by_key.get(key)
        if job is not None:
            self._report(job, progress)

    def _settle(self, job: Job, outcome: Outcome) -> None:
        """Records a job's outcome (called once, from wherever the runner
        reports it)."""
        kind = outcome[0]
        elapsed = time.monotonic() - job.started
        text, error = None, None
        if kind == "done" and job.future is None and \
                isinstance(outcome[1], FileResponse):
            job.file = outcome[1]  # released with the job (or if cancelled)
        if kind == "error":
            error = {"type": str(outcome[1]), "message": str(outcome[2])}
            job.traceback = str(outcome[3]) if len(outcome) > 3 else ""
            if job.traceback:
                log.job_error("error in worker job {0} ({1}):\n{2}",
                              job.token[:6], job.route,
                              job.traceback.rstrip())
        elif kind == "done" and job.future is None and not job.cancelled:
            try:
                if job.file is not None:
                    text = to_json({"file": job.file.info(
                        download_path(job.route, job.token))})
                elif isinstance(outcome[1], RecordedResult):
                    text = str(outcome[1])
                else:
                    text = job.encode(outcome[1], elapsed) if job.encode \
                        else to_json(outcome[1])
            except Exception as err:  # pylint: disable=broad-except
                log.log_exception(f"the result of worker job "
                                  f"{job.token[:6]} cannot be sent:")
                kind, error = "error", {"type": type(err).__name__,
                                        "message": str(err)}
        if job.future is not None:
            settle_future(job.future, kind, outcome, error)
        with self._lock:
            self._running[id(job.runner)] -= 1
            self._by_key.pop(job.key, None)
            job.handle = None
            if job.cancelled:
                kind = CANCELLED
                move(job, CANCELLED)  # cancel() forgot it already
                self._release_locked(job)  # (a file it answered with)
            elif job.future is not None:  # the future has the outcome
                move(job, kind)
                self._release_locked(job)
            else:
                move(job, kind)
                job.result, job.error = text, error
                job.seen = time.monotonic()
                if kind == DONE:
                    self._hold_locked(job)
                    self._ready_reply_locked(job)
                elif kind == CANCELLED:
                    self._release_locked(job)
            self._notify_locked(job)
            self._count_end_locked(job, kind)
        self.recorder.ended(job)  # committed before the first reply
        self.signal.fire(job.token)
        job.finished.set()
        self._launch()

    def _hold_locked(self, job: Job) -> None:
        """Counts a finished result against `max_result_bytes`, releasing
        the oldest results held until it fits; a result larger than the
        bound on its own fails the job instead."""
        size = text_bytes(job.result or "null")
        bound = self.settings.jobs.max_result_bytes
        if size > bound:
            move(job, ERROR)
            job.result = None
            message = (f"its result ({log.size_string(size)}) is larger "
                       f"than max_result_bytes "
                       f"({log.size_string(bound)})")
            job.error = {"type": "ResultTooLarge", "message": message}
            log.job_warning("worker job {0}: {1}", job.token[:6], message)
            return
        for oldest in self._results.hold(job, size, bound):
            log.job_msg("releasing the result of worker job {0} to stay "
                        "under max_result_bytes", oldest.token[:6])
            self._release_locked(oldest)

    def _ready_reply_locked(self, job: Job) -> None:
        """Makes the final reply of a job that just ended with a result
        of one chunk (most), here where the table's lock is held already:
        a long-poll answering it then needs no lock (`answer`)."""
        text = job.result
        if job.state == DONE and text is not None and \
                len(text) <= self.settings.jobs.max_chunk_size:
            job.reply = reply(job, True, False, text)

    def _release_locked(self, job: Job) -> None:
        """Forgets `job` and frees its result and cargo parts; a finished
        job is released (a cancelled one stays cancelled, a running one is
        cancelled when it settles)."""
        self._jobs.pop(job.token, None)
        self._results.forget(job)
        self.recorder.released(job)  # (deleted with the next commit)
        job.reply = None
        if job.file is not None:
            job.file.release()  # removes a delete=True file
            job.file = None
        if may_move(job, RELEASED):
            move(job, RELEASED)

    def cancel(self, token: str) -> bool:
        """Cancels a queued or running job, or releases a finished one
        (and the parts of its result), and forgets it; requests waiting
        on it are answered at once. A running job is stopped as its
        executor can (see `executors.py`)."""
        with self._lock:
            job = self._jobs.get(token)
            if job is None:
                return False
            job.cancelled = True
            handle = job.handle if job.state == RUNNING else None
            if job.state == QUEUED:
                self._pending.remove(job)
                move(job, CANCELLED)
                self._count_end_locked(job, CANCELLED)
            elif job.state == RUNNING:
                self._count_end_locked(job, CANCELLED)
            self._release_locked(job)
            self._notify_locked(job)
        self.recorder.cancelled(job)
        self.signal.fire(job.token)
        job.finished.set()
        if handle is not None:
            job.runner.cancel(handle)
        return True

    def close(self, keep: bool = False) -> None:
        """Server shutdown: new jobs are refused, and every job is
        cancelled, its waiting requests answered at once with the
        cancelled reply. With `keep` (the job store keeps them for the
        next process) nothing is cancelled: waiting requests are answered
        `continue: true` (come back), and the store holds what it holds."""
        with self._lock:
            self.closed = True
            tokens = list(self._jobs)
            for job in self._jobs.values():
                self._notify_locked(job)  # (a poll that waits answers)
        if keep:  # what ends from now on (killed, say) is not recorded
            self.recorder.close()
            self.signal.fire(*tokens)
        else:
            for token in tokens:
                self.cancel(token)
        self.runners.close()
        self.recorder.close()

    def hand_over(self) -> list[Job]:
        """A restart whose old process finishes the running jobs: new jobs
        are refused, queued ones leave this table (the job store keeps
        them queued for the next process), a waiting poll is told to come
        back; the running kept jobs are returned (they go on)."""
        with self._lock:
            self.closed = True
            for job in list(self._pending):
                self._pending.remove(job)
                del self._jobs[job.token]
            tokens = list(self._jobs)
            for job in self._jobs.values():
                self._notify_locked(job)  # (a poll that waits answers)
            running = [job for job in self._jobs.values()
                       if job.state == RUNNING and job.kept]
        self.signal.fire(*tokens)
        return running

    def _sweep(self) -> None:
        """Cancels abandoned jobs and releases results nobody fetched."""
        now, jobs = time.monotonic(), self.settings.jobs
        if now - self._last_sweep < jobs.sweep_interval:
            return
        self._last_sweep = now
        abandoned = []
        with self._lock:
            for token, job in list(self._jobs.items()):
                if job.state in ACTIVE:
                    # (a submit() job has no client polling: its Future
                    # is its client, and cancels it)
                    if job.future is None and \
                            now - job.seen > jobs.abandon_timeout:
                        abandoned.append(token)
                elif expired(job, now, jobs.redeliver_timeout,
                             jobs.result_timeout):
                    self._release_locked(job)
        for token in abandoned:
            log.job_msg("cancelling abandoned worker job {0}...", token[:6])
            self.cancel(token)

    def view(self) -> tuple[list[Job], dict[Runner, int]]:
        """The jobs the table holds, and the jobs running per runner (a
        copy, for the dashboard: `jobs/job_views.py`)."""
        with self._lock:
            jobs = list(self._jobs.values())
            running = {job.runner: 0 for job in jobs}
            for job in jobs:
                running[job.runner] += job.state == RUNNING
        return jobs, running

    def cancel_by_id(self, job_id: str) -> bool:
        """Cancels the job whose id (its key, not its token, which is its
        client's secret) is `job_id`, as `cancel` does."""
        with self._lock:
            token = next((job.token for job in self._jobs.values()
                          if job.key == job_id), None)
        return token is not None and self.cancel(token)

    def active(self) -> int:
        """The number of queued and running jobs."""
        with self._lock:
            return sum(1 for j in self._jobs.values()
                       if j.state in ACTIVE)

    def waiting(self) -> int:
        """The number of requests waiting (long-polling) for a job."""
        return self.polls.waiting

    def held_bytes(self) -> int:
        """The bytes of finished results (and their parts) held for
        clients; at most `max_result_bytes`."""
        with self._lock:
            return self._results.bytes
