"""One job of the job table: its record, the states it moves through and
the protocol reply about it.

The states and the moves between them are data (`TRANSITIONS`), and every
change of a job's state goes through `move`, which refuses a move the
table does not allow: a job is queued, runs, and ends done, with an error
or cancelled; a finished result (done or error) is released once it was
fetched, expired or cancelled. A result too large to hold turns a done job
into an error. A cached result starts as done; a cancelled job is
forgotten as cancelled."""
from __future__ import annotations

import concurrent.futures
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..http.files import FileResponse
from ..http.responses import HTTPError
from .executors import Runner
from .progress import Progress

QUEUED = "queued"  # waits for room on its executor
RUNNING = "running"  # on its executor (maybe cancelled, until it settles)
DONE = "done"  # its result is held for its client
ERROR = "error"  # its error is held for its client
CANCELLED = "cancelled"  # stopped before it ended; forgotten
RELEASED = "released"  # its result or error was handed out; forgotten

TRANSITIONS: dict[str, frozenset[str]] = {
    QUEUED: frozenset({RUNNING, CANCELLED}),
    RUNNING: frozenset({DONE, ERROR, CANCELLED}),
    DONE: frozenset({ERROR, RELEASED}),  # error: too large to hold
    ERROR: frozenset({RELEASED}),
    CANCELLED: frozenset(),
    RELEASED: frozenset(),
}
ACTIVE = frozenset({QUEUED, RUNNING})  # not ended yet


class BadTransition(RuntimeError):
    """A move of a job's state that `TRANSITIONS` does not allow (a bug in
    the job table)."""


@dataclass
class Job:
    """One submitted computation and its outcome. A finished result is
    held as `result` (JSON text) until it is first handed out; a long one
    is then held as `parts`, each fetched with its key in `cargo`. A job
    made by `submit_future` hands its value to `future` instead."""
    token: str
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    runner: Runner
    route: str = "(job)"
    encode: Callable[[Any, float], str] | None = None
    future: concurrent.futures.Future[Any] | None = None
    key: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    state: str = QUEUED  # changed by `move` only
    handle: Any = None  # the runner's handle of a running job
    result: str | None = None
    parts: list[str] = field(default_factory=list)
    cargo: list[str] = field(default_factory=list)
    unfetched: set[str] = field(default_factory=set)  # cargo keys
    error: dict[str, str] | None = None  # {"type", "message"}
    cancelled: bool = False
    progress: Progress | None = None
    changes: int = 0  # counts progress reports, for long-polls
    delivered: int = 0  # `changes` when progress last went to a client
    counted: bool = False  # its end is in the statistics
    file: FileResponse | None = None  # a file answer, until released
    seen: float = field(default_factory=time.monotonic)
    started: float = 0.0
    # set once there is nothing more to wait for: finished or cancelled
    finished: threading.Event = field(default_factory=threading.Event)
    # notified (under the pool's lock) on progress and on the end
    changed: threading.Condition | None = None
    reply: dict[str, Any] | None = None  # the final answer, once built
    handed_out: float | None = None  # when the last piece was first sent
    size: int = 0  # bytes of the result held for the client
    kept: bool = False  # recorded in the job store (a worker's job)
    traceback: str = ""  # where a failed job raised (for the dashboard)


def may_move(job: Job, state: str) -> bool:
    """Whether `TRANSITIONS` lets `job` move to `state` now."""
    return state in TRANSITIONS[job.state]


def move(job: Job, state: str) -> None:
    """Moves `job` to `state`; BadTransition when the table forbids it."""
    if not may_move(job, state):
        raise BadTransition(f"worker job {job.token[:6]} cannot go from "
                            f"{job.state} to {state}")
    job.state = state


def has_news(job: Job) -> bool:
    """Whether a long-poll about `job` has news: an end, or progress no
    reply carried yet."""
    return job.cancelled or job.changes != job.delivered or \
        job.state not in ACTIVE


def reply(job: Job, done: bool, cont: bool, result: Any) -> dict[str, Any]:
    """A protocol reply about `job`, with its latest progress (call with
    the pool's lock held)."""
    progress = job.progress
    job.delivered = job.changes
    return {"token": job.token, "done": done, "continue": cont,
            "result": result,
            "progress": None if progress is None else progress.as_json()}


def check_token(token: Any, kind: str = "worker") -> str:
    """The `token` of a request; HTTPError 400 saying what is wrong when
    it is missing or not a string."""
    if not isinstance(token, str):
        raise HTTPError(400, f"Missing {kind} token" if token is None else
                        f"{kind.capitalize()} token must be a string")
    return token
