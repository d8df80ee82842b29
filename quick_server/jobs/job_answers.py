"""The protocol side of the job table (a mixin of `WorkerPool`): the
replies about a job, now or as a long-poll, the parts of a split result,
and the download of a file answer. `table` holds the jobs and their
states; this reads them under its lock."""
from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from ..http.files import FileResponse
from ..http.responses import HTTPError, Response, WaitingResponse
from .held_results import HeldResults
from .job import (ACTIVE, DONE, ERROR, RELEASED, Job, check_token, has_news,
                  reply)
from .long_polls import MAX_WAIT, LongPolls

if TYPE_CHECKING:
    from ..settings import Settings

UNKNOWN_TOKEN = "Unknown or expired worker token"


class JobAnswers:
    """`lookup`, `answer`, `waiting_answer`, `wait_any`, `take_cargo` and
    `download` of the job table."""

    if TYPE_CHECKING:  # what the table provides
        settings: Settings
        closed: bool
        polls: LongPolls
        _lock: threading.Lock
        _any_change: threading.Condition
        _jobs: dict[str, Job]
        _results: HeldResults

        def _sweep(self) -> None: ...

    def download(self, token: str) -> FileResponse:
        """The file a finished job answered with, for its download URL
        (`<worker path>/file/<token>`); HTTPError 404 once the job is
        released. Each download keeps the file `result_timeout` s more."""
        with self._lock:
            job = self._jobs.get(token)
            if job is None or job.file is None or job.state != DONE:
                raise HTTPError(404, UNKNOWN_TOKEN)
            job.seen = time.monotonic()
            found = job.file
        return FileResponse(found.path, found.filename, found.content_type,
                            found.inline)

    # -- protocol ----------------------------------------------------------

    def lookup(self, token: Any) -> Job:
        token = check_token(token)
        self._sweep()
        with self._lock:
            job = self._jobs.get(token)
            if job is None:
                raise HTTPError(404, UNKNOWN_TOKEN)
            job.seen = time.monotonic()
        return job

    def waiting_answer(self, job: Job, wait: float, max_chunk: int
                       ) -> dict[str, Any] | Response | WaitingResponse:
        """The reply about `job`, now (`wait` 0 or news already) or as a
        long-poll parked until the job has news or `wait` passes."""
        if wait <= 0:
            return self.answer(job, 0, max_chunk)
        return self.polls.hold(
            lambda seconds: self.answer(job, seconds, max_chunk), wait,
            (job.token,), lambda: self.closed or job.changed is None or
            has_news(job))

    def answer(self, job: Job, wait: float, max_chunk: int
               ) -> dict[str, Any] | Response:
        """Waits up to `wait` s for the job and builds the reply. The final
        reply is kept `redeliver_timeout` s after it was first handed out,
        so a client whose connection dropped can ask again."""
        if wait > 0:
            self._wait(job, min(wait, MAX_WAIT))
        final = job.reply  # made as the job ended: no lock to take
        if final is not None and job.state == DONE and \
                not job.cancelled and len(final["result"]) <= max_chunk:
            job.seen = now = time.monotonic()
            if job.handed_out is None:
                job.handed_out = now
            return final
        with self._lock:
            now = time.monotonic()
            job.seen = now
            if job.cancelled:
                return reply(job, False, False, None)
            if job.state in ACTIVE:
                return reply(job, False, True, None)
            if job.state == RELEASED:
                raise HTTPError(404, UNKNOWN_TOKEN)
            if job.handed_out is None:
                job.handed_out = now
            if job.state == ERROR:
                return Response({**reply(job, True, False, None),
                                 "error": job.error}, 500)
            final = job.reply
            if final is None or (not final["continue"] and
                                 len(final["result"]) > max_chunk):
                final = job.reply = self._final_reply(job, max_chunk)
            return final

    def _wait(self, job: Job, seconds: float) -> None:
        """Holds a long-poll until the job ends, reports progress, or
        `seconds` pass."""
        with self._lock:
            if job.changed is not None:
                job.changed.wait_for(lambda: self.closed or has_news(job),
                                     seconds)

    def wait_any(self, jobs: list[Job], seconds: float,
                 stop: Callable[[], bool]) -> list[Job]:
        """Holds a poll until one of `jobs` changed (as for `get`),
        `stop()` is true or `seconds` pass; the jobs that changed."""
        with self._lock:
            self._any_change.wait_for(
                lambda: stop() or self.closed or any(map(has_news, jobs)),
                seconds)
            return [job for job in jobs if has_news(job)]

    def wake(self) -> None:
        """Wakes every poll (one of them may have to stop)."""
        with self._lock:
            self._any_change.notify_all()

    def _final_reply(self, job: Job, max_chunk: int) -> dict[str, Any]:
        """The reply to a finished job; a result longer than `max_chunk`
        is moved into parts fetched with the cargo keys it lists."""
        text = job.result or "null"
        if len(text) <= max_chunk:
            return reply(job, True, False, text)
        return reply(job, True, True, self._results.split(job, max_chunk))

    def take_cargo(self, token: Any) -> dict[str, Any]:
        """One part of a split result; like a final reply, it can be
        fetched again for `redeliver_timeout` s after the last part was
        first fetched."""
        token = check_token(token, "cargo")
        self._sweep()
        with self._lock:
            part = self._results.take(token, time.monotonic())
        if part is None:
            raise HTTPError(404, "Unknown or expired cargo token")
        return part
