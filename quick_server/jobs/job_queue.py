"""The queued jobs of the job table, in order, and how many of them each
executor has: finding the next job that can start costs nothing while
every executor with queued jobs is full (a table of 1,000 queued jobs
scanned them all at every settle, holding the table's lock)."""
from __future__ import annotations

from collections import deque
from typing import Any, Callable, Iterator

from .job import Job


class JobQueue:
    """Queued jobs, first in first out across executors (`runner`s)."""

    def __init__(self) -> None:
        self._jobs: deque[Job] = deque()
        self._counts: dict[int, int] = {}  # id(runner) -> jobs queued
        self._runners: dict[int, Any] = {}  # id(runner) -> runner

    def __len__(self) -> int:
        return len(self._jobs)

    def __iter__(self) -> Iterator[Job]:
        return iter(self._jobs)

    def append(self, job: Job) -> None:
        key = id(job.runner)
        self._jobs.append(job)
        self._counts[key] = self._counts.get(key, 0) + 1
        self._runners[key] = job.runner

    def remove(self, job: Job) -> None:
        self._jobs.remove(job)
        key = id(job.runner)
        self._counts[key] -= 1
        if not self._counts[key]:
            del self._counts[key], self._runners[key]

    def next_startable(self, has_room: Callable[[Any], bool]) -> Job | None:
        """The first queued job whose runner `has_room`; None at once
        when no runner with queued jobs has room."""
        room = {key for key, runner in self._runners.items()
                if has_room(runner)}
        if not room:
            return None
        return next((job for job in self._jobs if id(job.runner) in room),
                    None)
