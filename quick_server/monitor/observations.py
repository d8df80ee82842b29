"""What the server observed of its requests, as the connection layer
reports each one: per-route counts and latency (`route_metrics`), the
last requests (`recent`), and the counts printed on exit (`stats`).
Recording one costs a few microseconds under short locks."""
from __future__ import annotations

from typing import Any

from ..stats import RequestStats
from .recent import RecentRequests
from .route_metrics import RouteMetrics

MAX_TRACEBACK = 20_000  # characters of a 500's traceback kept


class Observations:
    """The request observations of one server."""

    def __init__(self) -> None:
        self.counts = RequestStats()
        self.routes = RouteMetrics()
        self.recent = RecentRequests()

    def request(self, request: Any, status: int, seconds: float,
                size: int) -> None:
        """One request ended: answered with `status` (0: none) after
        `seconds`, `size` bytes sent."""
        route = request.route_name
        self.counts.record(route, status)
        waited = request.by_design > 0  # a long-poll: no latency
        self.routes.record(route, request.command, status,
                           None if waited else seconds)
        failure = request.__dict__.get("failure") if status >= 500 else None
        self.recent.add(str(request.client_address[0]), request.command,
                        request.masked(request.path), status, size, seconds,
                        None if failure is None else _traceback(failure))


def _traceback(exc: BaseException) -> str:
    import traceback  # loaded on first use
    text = "".join(traceback.format_exception(type(exc), exc,
                                              exc.__traceback__))
    return text[-MAX_TRACEBACK:]
