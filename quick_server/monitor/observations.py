"""What the server observed of its requests, as the connection layer
reports each one: per-route counts and latency (`route_metrics`, which
also makes the summary printed on exit) and the last requests
(`recent`). Recording a request appends a tuple to a queue (no lock, no
counting); the queue is folded into the metrics every `FOLD_AT`
requests, and whenever someone reads them."""
from __future__ import annotations

import threading
from collections import deque
from time import time
from typing import Any

from .recent import RecentRequests
from .route_metrics import RouteMetrics

MAX_TRACEBACK = 20_000  # characters of a 500's traceback kept
FOLD_AT = 256  # requests queued before they are counted


class Observations:
    """The request observations of one server."""

    def __init__(self) -> None:
        self.routes = RouteMetrics()
        self.recent = RecentRequests()
        self._queue: deque[tuple[Any, ...]] = deque()
        self._fold_lock = threading.Lock()

    def request(self, request: Any, status: int, seconds: float,
                size: int) -> None:
        """One request ended: answered with `status` (0: none) after
        `seconds`, `size` bytes sent (a request that waited by design is
        counted, not timed)."""
        queue = self._queue
        queue.append((time(), request.route_name, request.command, status,
                      None if request.by_design else seconds,
                      request.client_address[0], request.masked(request.path),
                      size, seconds, request.failure))
        if len(queue) >= FOLD_AT:
            self.fold()

    def fold(self) -> None:
        """Counts what was queued (before the metrics are read)."""
        with self._fold_lock:
            queue = self._queue
            items = [queue.popleft() for _ in range(len(queue))]
            if not items:
                return
            self.routes.record_many(items)
            self.recent.add_many([
                (now, client, method, path, status, size, seconds,
                 None if failure is None or status < 500
                 else _traceback(failure))
                for now, _, method, status, _, client, path, size, seconds,
                failure in items])

    def summary(self) -> str:
        """One line per route, busiest first: `GET /api/x: 12 (2xx 10,
        4xx 2)`."""
        self.fold()
        routes = self.routes.snapshot()
        total = sum(series.count for series in routes.values())
        lines = [f"served {total} requests"]
        for route, series in sorted(routes.items(),
                                    key=lambda item: -item[1].count):
            classes: dict[str, int] = {}
            for (_, klass), count in series.statuses.items():
                name = "no answer" if klass == "none" else klass
                classes[name] = classes.get(name, 0) + count
            detail = ", ".join(f"{k} {v}" for k, v in sorted(classes.items()))
            lines.append(f"  {route}: {series.count} ({detail})")
        return "\n".join(lines)


def _traceback(exc: BaseException) -> str:
    import traceback  # loaded on first use
    text = "".join(traceback.format_exception(type(exc), exc,
                                              exc.__traceback__))
    return text[-MAX_TRACEBACK:]
