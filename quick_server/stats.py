"""Counts of the jobs a server ran, for the summary printed on exit and
the dashboard."""
from __future__ import annotations

import copy
import threading
from collections import Counter, deque
from typing import Any

RECENT_JOBS = 50  # ended jobs kept for the dashboard


class _RouteJobs:
    """Counters of one worker route."""

    def __init__(self) -> None:
        self.started = 0
        self.cached = 0
        self.ended: Counter[str] = Counter()  # done, error, cancelled
        self.total_time = 0.0
        self.timed = 0
        self.max_time = 0.0


class JobStats:
    """Worker jobs per route: started, finished, failed, cancelled, and
    the mean and longest run time of the jobs that ran to an end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, _RouteJobs] = {}
        self._recent: deque[dict[str, Any]] = deque(maxlen=RECENT_JOBS)

    def _route(self, route: str) -> _RouteJobs:
        found = self._routes.get(route)
        if found is None:
            found = self._routes[route] = _RouteJobs()
        return found

    def started(self, route: str) -> None:
        with self._lock:
            self._route(route).started += 1

    def cached(self, route: str) -> None:
        """A job answered from the cache without running."""
        with self._lock:
            self._route(route).cached += 1

    def ended(self, route: str, outcome: str, seconds: float | None,
              view: dict[str, Any] | None = None) -> None:
        """A job ended ("done", "error" or "cancelled") after running
        `seconds` (None: it never ran); `view`: how a viewer sees it."""
        with self._lock:
            if view is not None:
                self._recent.append(view)
            entry = self._route(route)
            entry.ended[outcome] += 1
            if seconds is not None and outcome != "cancelled":
                entry.timed += 1
                entry.total_time += seconds
                entry.max_time = max(entry.max_time, seconds)

    def recent(self) -> list[dict[str, Any]]:
        """How viewers see the jobs that ended last (copies), newest
        first."""
        with self._lock:
            return [copy.deepcopy(view) for view in reversed(self._recent)]

    def counts(self) -> dict[str, dict[str, int]]:
        """Per route: started, cached, done, error, cancelled."""
        with self._lock:
            return {route: {"started": e.started, "cached": e.cached,
                            "done": e.ended["done"],
                            "error": e.ended["error"],
                            "cancelled": e.ended["cancelled"]}
                    for route, e in sorted(self._routes.items())}

    def lines(self) -> list[str]:
        """One line per route, e.g. `/square: started 4, finished 3,
        failed 0, cancelled 1, cached 0, mean 1.20s, max 1.50s`."""
        with self._lock:
            items = sorted(self._routes.items())
            return [
                f"  {route}: started {e.started}, finished "
                f"{e.ended['done']}, failed {e.ended['error']}, cancelled "
                f"{e.ended['cancelled']}, cached {e.cached}, mean "
                f"{e.total_time / e.timed if e.timed else 0:.2f}s, max "
                f"{e.max_time:.2f}s" for route, e in items]

    def summary(self) -> str:
        lines = self.lines()
        return "\n".join(["worker jobs:"] + lines) if lines else \
            "no worker jobs"
