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
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable

from . import log
from .response import HTTPError

WorkerArgs = dict[str, Any]
MAX_WAIT = 30.0
UNKNOWN_TOKEN = "Unknown or expired worker token"


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


def text_bytes(text: str) -> int:
    """The size of `text` in UTF-8, without copying ASCII text."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))


@dataclass
class Job:
    """One submitted computation and its outcome. A finished result is
    held as `result` until it is first handed out; a long one is then
    held as `parts`, each fetched with its key in `cargo`."""
    token: str
    run: Callable[[], str]
    state: str = "queued"  # queued, running, done, error, cancelled, released
    result: str | None = None
    parts: list[str] = field(default_factory=list)
    cargo: list[str] = field(default_factory=list)
    unfetched: set[str] = field(default_factory=set)  # cargo keys
    error: str | None = None
    cancelled: bool = False
    thread_id: int | None = None
    seen: float = field(default_factory=time.monotonic)
    # set once there is nothing more to wait for: finished or cancelled
    finished: threading.Event = field(default_factory=threading.Event)
    reply: dict[str, Any] | None = None  # the final answer, once built
    handed_out: float | None = None  # when the last piece was first sent
    size: int = 0  # bytes of the result held for the client


class WorkerPool:
    """Runs jobs on at most `max_workers` threads with a bounded queue,
    keeps results until they are fetched (or expire, or the results held
    exceed `max_result_bytes`), cancels abandoned jobs, and stores the
    parts of large results."""

    def __init__(self) -> None:
        self.max_workers = 8
        self.max_queue = 256
        self.max_result_bytes = 256 * 1024 * 1024
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
        self._waiting = 0
        self._held: OrderedDict[str, Job] = OrderedDict()  # oldest first
        self._held_bytes = 0
        self._cargo: dict[str, tuple[Job, int]] = {}  # key -> job, part
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
            self._running -= 1
            job.thread_id = None
            if job.cancelled:
                job.state = "cancelled"  # cancel() forgot it already
            else:
                job.state, job.result, job.error = state, result, error
                job.seen = time.monotonic()
                if state == "done":
                    self._hold_locked(job)
                elif state == "cancelled":  # the job raised WorkerDeath
                    self._release_locked(job)
            self._launch_locked()
        job.finished.set()

    def _hold_locked(self, job: Job) -> None:
        """Counts a finished result against `max_result_bytes`, releasing
        the oldest results held until it fits; a result larger than the
        bound on its own fails the job instead."""
        size = text_bytes(job.result or "null")
        if size > self.max_result_bytes:
            job.state, job.result = "error", None
            job.error = (f"its result ({log.size_string(size)}) is larger "
                         f"than max_result_bytes "
                         f"({log.size_string(self.max_result_bytes)})")
            log.msg("worker job {0}: {1}", job.token[:6], job.error)
            return
        job.size = size
        self._held[job.token] = job
        self._held_bytes += size
        while self._held_bytes > self.max_result_bytes:
            oldest = next(iter(self._held.values()))
            log.msg("releasing the result of worker job {0} to stay "
                    "under max_result_bytes", oldest.token[:6])
            self._release_locked(oldest)

    def _release_locked(self, job: Job) -> None:
        """Forgets `job` and frees its result and cargo parts."""
        self._jobs.pop(job.token, None)
        for key in job.cargo:
            self._cargo.pop(key, None)
        if self._held.pop(job.token, None) is not None:
            self._held_bytes -= job.size
        job.result, job.parts, job.reply = None, [], None
        if job.state in ("done", "error"):
            job.state = "released"

    def cancel(self, token: str) -> bool:
        """Cancels a queued or running job, or releases a finished one
        (and the parts of its result), and forgets it; requests waiting
        on it are answered at once. A running job sees `is_worker_alive()`
        turn false; if it is still running after `cancel_grace` seconds,
        `WorkerDeath` is raised in its thread."""
        with self._lock:
            job = self._jobs.get(token)
            if job is None:
                return False
            job.cancelled = True
            running = job.state == "running"
            if job.state == "queued":
                self._pending.remove(job)
                job.state = "cancelled"
            self._release_locked(job)
        job.finished.set()
        if running:
            timer = threading.Timer(self.cancel_grace, self._interrupt,
                                    (job,))
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
        """Cancels every job (server shutdown): every request waiting on
        one is answered at once with the cancelled reply, and new jobs
        are refused."""
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
                raise HTTPError(404, UNKNOWN_TOKEN)
            job.seen = time.monotonic()
        return job

    def answer(self, job: Job, wait: float, max_chunk: int
               ) -> dict[str, Any]:
        """Waits up to `wait` s for the job and builds the reply. The final
        reply is kept `redeliver_timeout` s after it was first handed out,
        so a client whose connection dropped can ask again."""
        if wait > 0:
            self._wait(job, min(wait, MAX_WAIT))
        with self._lock:
            now = time.monotonic()
            job.seen = now
            if job.cancelled:
                return reply(job.token, False, False, None)
            if job.state in ("queued", "running"):
                return reply(job.token, False, True, None)
            if job.state == "released":
                raise HTTPError(404, UNKNOWN_TOKEN)
            if job.handed_out is None:
                job.handed_out = now
            if job.state == "error":
                raise HTTPError(500, f"Worker job failed: {job.error}")
            if job.reply is None:
                job.reply = self._final_reply(job, max_chunk)
            return job.reply

    def _wait(self, job: Job, seconds: float) -> None:
        with self._lock:
            self._waiting += 1
        try:
            job.finished.wait(seconds)
        finally:
            with self._lock:
                self._waiting -= 1

    def _final_reply(self, job: Job, max_chunk: int) -> dict[str, Any]:
        """The reply to a finished job; a result longer than `max_chunk`
        is moved into parts fetched with the cargo keys it lists."""
        text = job.result or "null"
        if len(text) <= max_chunk:
            return reply(job.token, True, False, text)
        job.parts = [text[pos:pos + max_chunk]
                     for pos in range(0, len(text), max_chunk)]
        job.result = None
        job.cargo = [secrets.token_urlsafe(24) for _ in job.parts]
        job.unfetched = set(job.cargo)
        for index, key in enumerate(job.cargo):
            self._cargo[key] = (job, index)
        return reply(job.token, True, True, job.cargo)

    def take_cargo(self, token: Any) -> dict[str, Any]:
        """One part of a split result; like a final reply, it can be
        fetched again for `redeliver_timeout` s after the last part was
        first fetched."""
        if not isinstance(token, str):
            raise HTTPError(400, "Missing cargo token")
        self._sweep()
        with self._lock:
            entry = self._cargo.get(token)
            if entry is None:
                raise HTTPError(404, "Unknown or expired cargo token")
            job, index = entry
            job.seen = time.monotonic()
            if token in job.unfetched:
                job.unfetched.discard(token)
                job.handed_out = job.seen
            return reply(token, True, False, job.parts[index])

    def _sweep(self) -> None:
        """Cancels abandoned jobs and releases results nobody fetched."""
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
                elif self._expired(now, job):
                    self._release_locked(job)
        for token in abandoned:
            log.msg("cancelling abandoned worker job {0}...", token[:6])
            self.cancel(token)

    def _expired(self, now: float, job: Job) -> bool:
        """True for a finished job whose every piece was handed out more
        than `redeliver_timeout` s ago, or that nobody asked for during
        `result_timeout` s."""
        if job.handed_out is not None and not job.unfetched and \
                now - job.handed_out > self.redeliver_timeout:
            return True
        return now - job.seen > self.result_timeout

    def active(self) -> int:
        """The number of queued and running jobs."""
        with self._lock:
            return sum(1 for j in self._jobs.values()
                       if j.state in ("queued", "running"))

    def waiting(self) -> int:
        """The number of requests waiting (long-polling) for a job."""
        with self._lock:
            return self._waiting

    def held_bytes(self) -> int:
        """The bytes of finished results (and their parts) held for
        clients; at most `max_result_bytes`."""
        with self._lock:
            return self._held_bytes


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
        if not isinstance(token, str):
            raise HTTPError(400, "Missing worker token")
        pool.cancel(token)
        return reply(token, True, False, None)
    if action == "cargo":
        return pool.take_cargo(post.get("token"))
    raise HTTPError(400, f"Unknown worker action {action!r}")
