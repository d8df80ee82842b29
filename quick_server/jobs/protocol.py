"""The worker protocol's requests, answered with the job table.

POST JSON `{"action": "start", "payload"}`, `{"action": "get", "token"}`,
`{"action": "stop", "token"}`, `{"action": "cargo", "token"}`; `start` and
`get` may add `"wait": s`. Every answer is `{"token", "done", "continue",
"result", "progress"}` (docs/protocol.rst).

`{"action": "poll", "tokens": [...], "wait": s, "poll": id}` is one
long-poll for many jobs (those of every tab of a browser, asked by the
browser's shared hub in worker.js): it answers as soon as any of the jobs
changed (progress that no reply carried, an end) with `{"replies": {token:
reply}}` for every job that changed, or for all of them when `wait` runs
out. A reply is the job's `get` reply; where `get` would answer an error,
it is that error's JSON with its `"status"`. A poll whose `poll` id is the
id of one still waiting supersedes it: the older one answers at once with
what changed so far (the hub now watches other jobs)."""
from __future__ import annotations

import math
import threading
from typing import Any, Callable

from ..http.responses import HTTPError, Response, WaitingResponse
from .job import Job, has_news
from .job import check_token
from .table import WorkerArgs, WorkerPool

MAX_POLL_TOKENS = 1000  # jobs one poll may watch
MAX_POLL_ID = 64  # characters of a poll's id
MAX_POLLS = 1000  # polls with an id waiting at once


def handle_request(pool: WorkerPool, polls: Polls, post: Any,
                   start: Callable[[WorkerArgs], Job], max_chunk: int
                   ) -> dict[str, Any] | Response | WaitingResponse:
    """Answers one protocol request (the POSTed JSON object); one that
    waits (a `wait`, or a `start` that gives a quick job a moment) is a
    `WaitingResponse`, parked until its job has news."""
    if not isinstance(post, dict):
        raise HTTPError(400, "Worker requests are JSON objects")
    action = post.get("action")
    wait = request_wait(post)
    if action == "start":
        payload = post.get("payload", {})
        job = start(payload)
        return pool.waiting_answer(job, wait or pool.start_wait, max_chunk)
    if action == "get":
        return pool.waiting_answer(pool.lookup(post.get("token")), wait,
                                   max_chunk)
    if action == "poll":
        return polls.poll(post.get("tokens"), post.get("poll"), wait,
                          max_chunk)
    if action == "stop":
        token = check_token(post.get("token"))
        pool.cancel(token)
        return {"token": token, "done": True, "continue": False,
                "result": None}
    if action == "cargo":
        return pool.take_cargo(post.get("token"))
    raise HTTPError(400, f"Unknown worker action {action!r}")


def request_wait(post: dict[str, Any]) -> float:
    """The seconds a request may be held (`wait`, default 0)."""
    wait = post.get("wait", 0)
    if not isinstance(wait, (int, float)) or isinstance(wait, bool) \
            or not 0 <= wait < math.inf:
        raise HTTPError(400, "'wait' must be a number of seconds")
    return float(wait)


class Polls:
    """The `poll` action: one long-poll watching many jobs, superseded by
    a newer poll with the same id."""

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool
        self._lock = threading.Lock()
        self._latest: dict[str, int] = {}  # poll id -> its newest poll
        self._serial = 0

    def poll(self, tokens: Any, poll_id: Any, wait: float,
             max_chunk: int) -> dict[str, Any] | WaitingResponse:
        tokens = _tokens(tokens)
        replies: dict[str, Any] = {}
        jobs = []
        for token in tokens:
            try:
                jobs.append(self.pool.lookup(token))
            except HTTPError as err:  # unknown or expired: news at once
                replies[token] = {"status": err.code, "error": err.message}
        poll_id = _poll_id(poll_id)
        if replies or wait <= 0:  # news already (with what else changed)
            changed = [job for job in jobs if has_news(job)] \
                if replies else jobs
            return self._replies(replies, changed, max_chunk)
        return self._long_poll(jobs, wait, poll_id, max_chunk)

    def _replies(self, replies: dict[str, Any], jobs: list[Job],
                 max_chunk: int) -> dict[str, Any]:
        for job in jobs:
            replies[job.token] = self._reply(job, max_chunk)
        return {"replies": replies}

    def _long_poll(self, jobs: list[Job], wait: float, poll_id: str | None,
                   max_chunk: int) -> WaitingResponse:
        """What changed within `wait` (every job when nothing did), or
        what changed until a newer poll with this id came."""
        mine = self._register(poll_id)

        def superseded() -> bool:
            return poll_id is not None and self._latest.get(poll_id) != mine

        def answer(seconds: float) -> dict[str, Any]:
            changed = self.pool.wait_any(jobs, seconds, superseded)
            if not superseded():  # else only what changed, maybe none
                changed = changed or jobs
            return self._replies({}, changed, max_chunk)

        def done() -> None:
            with self._lock:
                if poll_id is not None and self._latest.get(poll_id) == mine:
                    del self._latest[poll_id]
        keys = tuple(job.token for job in jobs) + (("poll", poll_id),)
        return self.pool.polls.hold(
            answer, wait, keys,
            lambda: superseded() or self.pool.closed or
            any(map(has_news, jobs)), done)

    def _register(self, poll_id: str | None) -> int | None:
        """Makes this the newest poll with `poll_id` (the older one
        answers now); its serial (None: no id)."""
        if poll_id is None:
            return None
        with self._lock:
            if poll_id not in self._latest and \
                    len(self._latest) >= MAX_POLLS:
                raise HTTPError(503, "Too many polls waiting",
                                headers=[("Retry-After", "1")])
            self._serial += 1
            mine = self._serial
            superseded = poll_id in self._latest
            self._latest[poll_id] = mine
        if superseded:
            self.pool.wake()  # the older poll with this id answers now
            self.pool.signal.fire(("poll", poll_id))
        return mine

    def _reply(self, job: Job, max_chunk: int) -> dict[str, Any]:
        """The job's `get` reply, an error as its JSON and status."""
        try:
            answer = self.pool.answer(job, 0, max_chunk)
        except HTTPError as err:
            return {"status": err.code, "error": err.message}
        if isinstance(answer, Response):
            return {**answer.response, "status": answer.code}
        return answer


def _tokens(tokens: Any) -> list[str]:
    if not isinstance(tokens, list) or not tokens:
        raise HTTPError(400, "'tokens' must be a list of worker tokens")
    if len(tokens) > MAX_POLL_TOKENS:
        raise HTTPError(400, f"A poll watches at most {MAX_POLL_TOKENS} "
                             f"jobs")
    return list(dict.fromkeys(check_token(token) for token in tokens))


def _poll_id(poll_id: Any) -> str | None:
    if poll_id is None:
        return None
    if not isinstance(poll_id, str) or not 0 < len(poll_id) <= MAX_POLL_ID:
        raise HTTPError(400, f"'poll' must be a string of 1 to "
                             f"{MAX_POLL_ID} characters")
    return poll_id
