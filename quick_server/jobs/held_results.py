"""The finished results the job table holds for their clients: their
bytes, bounded (the oldest held goes first), the parts of a result too
long for one reply (each fetched with its cargo key), and when a result
nobody needs any more expires. Not locked itself: the job table calls it
with its lock held."""
from __future__ import annotations

import secrets
from collections import OrderedDict
from typing import Any

from .job import Job


def text_bytes(text: str) -> int:
    """The size of `text` in UTF-8, without copying ASCII text."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))


class HeldResults:
    """The results of done jobs, oldest first, with their total bytes, and
    the cargo keys of the parts of split results."""

    def __init__(self) -> None:
        self._held: OrderedDict[str, Job] = OrderedDict()  # oldest first
        self.bytes = 0
        self._cargo: dict[str, tuple[Job, int]] = {}  # key -> job, part

    def hold(self, job: Job, size: int, limit: int) -> list[Job]:
        """Counts the `size` bytes of `job`'s result (at most `limit`);
        the oldest jobs whose results must be released (`forget`) to stay
        under `limit` bytes."""
        job.size = size
        self._held[job.token] = job
        self.bytes += size
        over = self.bytes - limit
        oldest = []
        for held in self._held.values():
            if over <= 0:
                break
            oldest.append(held)
            over -= held.size
        return oldest

    def forget(self, job: Job) -> None:
        """Stops holding `job`'s result and its parts."""
        for key in job.cargo:
            self._cargo.pop(key, None)
        if self._held.pop(job.token, None) is not None:
            self.bytes -= job.size
        job.result, job.parts = None, []

    def split(self, job: Job, max_chunk: int) -> list[str]:
        """Moves `job`'s result into parts of `max_chunk` characters; the
        cargo keys that fetch them."""
        text = job.result or "null"
        job.parts = [text[pos:pos + max_chunk]
                     for pos in range(0, len(text), max_chunk)]
        job.result = None
        job.cargo = [secrets.token_urlsafe(24) for _ in job.parts]
        job.unfetched = set(job.cargo)
        for index, key in enumerate(job.cargo):
            self._cargo[key] = (job, index)
        return job.cargo

    def take(self, key: str, now: float) -> dict[str, Any] | None:
        """The reply carrying the part that cargo `key` fetches; None for
        an unknown key. The last part first fetched marks the result
        handed out."""
        entry = self._cargo.get(key)
        if entry is None:
            return None
        job, index = entry
        job.seen = now
        if key in job.unfetched:
            job.unfetched.discard(key)
            job.handed_out = now
        return {"token": key, "done": True, "continue": False,
                "result": job.parts[index]}


def expired(job: Job, now: float, redeliver_timeout: float,
            result_timeout: float) -> bool:
    """True for a finished job whose every piece was handed out more
    than `redeliver_timeout` s ago, or that nobody asked for during
    `result_timeout` s."""
    if job.file is None and job.handed_out is not None and \
            not job.unfetched and \
            now - job.handed_out > redeliver_timeout:
        return True  # (a file waits to be downloaded, maybe again)
    return now - job.seen > result_timeout
