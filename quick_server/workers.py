"""The worker protocol: long jobs run off the request thread, the browser
polls (or long-polls) for them, large results come back in parts.

Wire protocol (see protocol.md): POST JSON `{"action": "start", "payload"}`,
`{"action": "get", "token"}`, `{"action": "stop", "token"}`,
`{"action": "cargo", "token"}`; `start` and `get` may add `"wait": s`.
Every answer is `{"token", "done", "continue", "result"}`."""
from __future__ import annotations

import ctypes
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from . import log
from .response import HTTPError

WorkerArgs = dict[str, Any]
MAX_WAIT = 30.0


class WorkerDeath(BaseException):
    """Raised inside a job's thread when its job was cancelled."""


_CURRENT = threading.local()


def is_worker_alive() -> bool:
    """False once the job running on this thread was cancelled; long jobs
    check it to stop early and cleanly."""
    job = getattr(_CURRENT, "job", None)
    return job is None or not job.cancelled


def get_worker_check() -> Callable[[], bool]:
    """`is_worker_alive` bound to the current job, for other threads."""
    job = getattr(_CURRENT, "job", None)
    return lambda: job is None or not job.cancelled


@dataclass
class Job:
    """One submitted computation and its outcome."""
    token: str
    run: Callable[[], str]
    state: str = "queued"  # queued, running, done, error, cancelled
    result: str | None = None
    error: str | None = None
    cancelled: bool = False
    thread_id: int | None = None
    seen: float = field(default_factory=time.monotonic)
    finished: threading.Event = field(default_factory=threading.Event)
    reply: dict[str, Any] | None = None  # the final answer, once built
    delivered: float | None = None  # when it was first handed out


class WorkerPool:
    """Runs jobs on at most `max_workers` threads with a bounded queue,
    keeps results until they are fetched (or expire), cancels abandoned
    jobs, and stores the parts of large results."""

    def __init__(self) -> None:
        self.max_workers = 8
        self.max_queue = 256
        self.abandon_timeout = 120.0
        self.result_timeout = 600.0
        self.redeliver_timeout = 60.0
        self.sweep_interval = 1.0
        self.start_wait = 0.05
        self.cancel_grace = 0.5
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._pending: deque[Job] = deque()
        self._running = 0
        # cargo token -> [part, made, first fetched or None]
        self._cargo: dict[str, list[Any]] = {}
        self._last_sweep = time.monotonic()
        self.closed = False

    # -- lifecycle ---------------------------------------------------------

    def submit(self, run: Callable[[], str]) -> Job:
        """Queues `run` (which returns the JSON text of the result)."""
        self._sweep()
        with self._lock:
            if self.closed:
                raise HTTPError(503, "Server is shutting down")
            if self._running >= self.max_workers and \
                    len(self._pending) >= self.max_queue:
                raise HTTPError(503, "Too many queued jobs",
                                headers=[("Retry-After", "1")])
            job = Job(secrets.token_urlsafe(24), run)
            self._jobs[job.token] = job
            self._pending.append(job)
            self._launch_locked()
        return job

    def _launch_locked(self) -> None:
        while self._pending and self._running < self.max_workers:
            job = self._pending.popleft()
            if job.cancelled:
                continue
            job.state = "running"
            self._running += 1
            threading.Thread(target=self._execute, args=(job,),
                             name=f"worker-{job.token[:6]}",
                             daemon=True).start()

    def _execute(self, job: Job) -> None:
        try:
            job.thread_id = threading.get_ident()
            _CURRENT.job = job
            outcome: tuple[str, str | None, str | None]
            try:
                outcome = ("done", job.run(), None)
            except WorkerDeath:
                outcome = ("cancelled", None, None)
            except HTTPError as err:
                outcome = ("error", None, err.message)
            except Exception as err:  # pylint: disable=broad-except
                log.log_exception("error in worker job:")
                outcome = ("error", None, f"{type(err).__name__}")
            self._settle(job, *outcome)
        except WorkerDeath:
            self._settle(job, "cancelled", None, None)
        finally:
            _CURRENT.job = None

    def _settle(self, job: Job, state: str, result: str | None,
                error: str | None) -> None:
        with self._lock:
            if job.state == "running":
                self._running -= 1
            if job.cancelled:
                state, result = "cancelled", None
            job.state, job.result, job.error = state, result, error
            job.seen = time.monotonic()
            job.thread_id = None
            if state == "cancelled":
                self._jobs.pop(job.token, None)
            self._launch_locked()
        job.finished.set()

    def cancel(self, token: str) -> bool:
        """Cancels a queued or running job, or releases a finished one
        (and the parts of its result), and forgets it. A running job
        sees `is_worker_alive()` turn false; if it is still running after
        `cancel_grace` seconds, `WorkerDeath` is raised in its thread."""
        with self._lock:
            job = self._jobs.pop(token, None)
            if job is None:
                return False
            job.cancelled = True
            if job.reply is not None and job.reply["continue"]:
                for key in job.reply["result"]:  # a split result's parts
                    self._cargo.pop(key, None)
            if job.state == "queued":
                job.state = "cancelled"
                job.finished.set()
                return True
        timer = threading.Timer(self.cancel_grace, self._interrupt, (job,))
        timer.daemon = True
        timer.start()
        return True

    def _interrupt(self, job: Job) -> None:
        with self._lock:
            if job.state == "running" and job.thread_id is not None:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(job.thread_id),
                    ctypes.py_object(WorkerDeath))

    def close(self) -> None:
        """Cancels every job (server shutdown)."""
        with self._lock:
            self.closed = True
            tokens = list(self._jobs)
        for token in tokens:
            self.cancel(token)

    # -- protocol ----------------------------------------------------------

    def lookup(self, token: Any) -> Job:
        if not isinstance(token, str):
            raise HTTPError(400, "Missing worker token")
        self._sweep()
        with self._lock:
            job = self._jobs.get(token)
            if job is None:
                raise HTTPError(404, "Unknown or expired worker token")
            job.seen = time.monotonic()
        return job

    def answer(self, job: Job, wait: float, max_chunk: int
               ) -> dict[str, Any]:
        """Waits up to `wait` s for the job and builds the reply. The final
        reply is kept `redeliver_timeout` s after it was first handed out,
        so a client whose connection dropped can ask again."""
        if wait > 0:
            job.finished.wait(min(wait, MAX_WAIT))
        with self._lock:
            now = time.monotonic()
            job.seen = now
            if job.state in ("queued", "running"):
                return reply(job.token, False, True, None)
            if job.delivered is None:
                job.delivered = now
            if job.state == "error":
                raise HTTPError(500, f"Worker job failed: {job.error}")
            if job.reply is None:
                job.reply = self._final_reply(job, max_chunk, now)
            return job.reply

    def _final_reply(self, job: Job, max_chunk: int, now: float
                     ) -> dict[str, Any]:
        if job.state == "cancelled":
            return reply(job.token, False, False, None)
        text = job.result or "null"
        if len(text) <= max_chunk:
            return reply(job.token, True, False, text)
        keys = []
        for pos in range(0, len(text), max_chunk):
            key = secrets.token_urlsafe(24)
            self._cargo[key] = [text[pos:pos + max_chunk], now, None]
            keys.append(key)
        job.result = None  # the parts hold it now
        return reply(job.token, True, True, keys)

    def take_cargo(self, token: Any) -> dict[str, Any]:
        """One part of a split result; like a final reply, it can be
        fetched again for `redeliver_timeout` s."""
        if not isinstance(token, str):
            raise HTTPError(400, "Missing cargo token")
        self._sweep()
        with self._lock:
            part = self._cargo.get(token)
            if part is None:
                raise HTTPError(404, "Unknown or expired cargo token")
            if part[2] is None:
                part[2] = time.monotonic()
        return reply(token, True, False, part[0])

    def _sweep(self) -> None:
        """Cancels abandoned jobs and drops results nobody fetched."""
        now = time.monotonic()
        if now - self._last_sweep < self.sweep_interval:
            return
        self._last_sweep = now
        abandoned = []
        with self._lock:
            for token, job in list(self._jobs.items()):
                if job.state in ("queued", "running"):
                    if now - job.seen > self.abandon_timeout:
                        abandoned.append(token)
                elif self._expired(now, job.seen, job.delivered):
                    del self._jobs[token]
            for key, (_, made, fetched) in list(self._cargo.items()):
                if self._expired(now, made, fetched):
                    del self._cargo[key]
        for token in abandoned:
            log.msg("cancelling abandoned worker job {0}...", token[:6])
            self.cancel(token)

    def _expired(self, now: float, made: float, delivered: float | None
                 ) -> bool:
        if delivered is not None:
            return now - delivered > self.redeliver_timeout
        return now - made > self.result_timeout

    def active(self) -> int:
        with self._lock:
            return sum(1 for j in self._jobs.values()
                       if j.state in ("queued", "running"))


def reply(token: str, done: bool, cont: bool, result: Any) -> dict[str, Any]:
    return {"token": token, "done": done, "continue": cont, "result": result}


def handle_request(pool: WorkerPool, post: Any,
                   start: Callable[[WorkerArgs], Job],
                   max_chunk: int) -> dict[str, Any]:
    """Answers one protocol request (the POSTed JSON object)."""
    if not isinstance(post, dict):
        raise HTTPError(400, "Worker requests are JSON objects")
    action = post.get("action")
    wait = post.get("wait", 0)
    if not isinstance(wait, (int, float)) or isinstance(wait, bool) \
            or wait < 0:
        raise HTTPError(400, "'wait' must be a number of seconds")
    if action == "start":
        payload = post.get("payload", {})
        job = start(payload)
        return pool.answer(job, wait or pool.start_wait, max_chunk)
    if action == "get":
        return pool.answer(pool.lookup(post.get("token")), wait, max_chunk)
    if action == "stop":
        token = post.get("token")
        pool.cancel(token if isinstance(token, str) else "")
        return reply(str(token), False, False, None)
    if action == "cargo":
        return pool.take_cargo(post.get("token"))
    raise HTTPError(400, f"Unknown worker action {action!r}")
