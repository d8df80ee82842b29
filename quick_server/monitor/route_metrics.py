"""Requests per route: counts, errors, and latency as a histogram with
fixed buckets (1 ms to 10 s, Prometheus' `le` buckets), overall and in
10-second bins over the last 10 minutes (for the dashboard's charts).
Time a request waited by design (a long-poll, a service's `next`, an
event stream) is not latency: such requests are counted, not timed.
Bounded: one entry per route name (routes are the server's own, plus
"static", "proxy", "OPTIONS" and "(no route)"), 60 bins each."""
from __future__ import annotations

from bisect import bisect_left
import threading
import time
from collections import Counter, deque
from typing import Any

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
           2.5, 5.0, 10.0)  # seconds: the upper bounds (`le`), then +Inf
BIN_SECONDS = 10
BINS = 60  # 10 minutes
MAX_ROUTES = 1000  # route names kept (past it: "(other)")


class _Bin:
    __slots__ = ("start", "count", "histogram")

    def __init__(self, start: int) -> None:
        self.start = start
        self.count = 0
        self.histogram = [0] * (len(BUCKETS) + 1)


class RouteSeries:
    """What one route answered."""

    __slots__ = ("count", "errors", "histogram", "seconds", "statuses",
                 "bins")

    def __init__(self) -> None:
        self.count = 0
        self.errors = 0  # 5xx answers, and requests with no answer
        self.histogram = [0] * (len(BUCKETS) + 1)  # timed requests
        self.seconds = 0.0  # their sum
        self.statuses: Counter[tuple[str, str]] = Counter()  # method, 2xx
        self.bins: deque[_Bin] = deque(maxlen=BINS)

    def quantile(self, q: float, histogram: list[int] | None = None
                 ) -> float | None:
        """The `q` quantile of the latency in seconds, from the histogram
        (the upper bound of its bucket, as Prometheus' histogram_quantile
        interpolates; None when nothing was timed)."""
        counts = self.histogram if histogram is None else histogram
        total = sum(counts)
        if not total:
            return None
        rank = q * total
        seen = 0
        lower = 0.0
        for index, count in enumerate(counts):
            if count and seen + count >= rank:
                upper = BUCKETS[index] if index < len(BUCKETS) else \
                    BUCKETS[-1]
                return lower + (upper - lower) * (rank - seen) / count
            seen += count
            lower = BUCKETS[index] if index < len(BUCKETS) else lower
        return BUCKETS[-1]


class RouteMetrics:
    """The `RouteSeries` of every route, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, RouteSeries] = {}

    def record(self, route: str, method: str, status: int,
               seconds: float | None, now: float) -> None:
        """One answered request (`status` 0: none was sent) that ended at
        `now` (epoch seconds); `seconds` None for one that waited by
        design."""
        self.record_many([(now, route, method, status, seconds)])

    def record_many(self, items: list[tuple[Any, ...]]) -> None:
        """Requests as `(now, route, method, status, seconds)` (more
        items after those are ignored), under one hold of the lock."""
        with self._lock:
            routes = self._routes
            for item in items:
                now, route, method, status, seconds = item[:5]
                series = routes.get(route)
                if series is None:
                    series = self._add_locked(route)
                series.count += 1
                klass = _CLASSES[status // 100] if 0 < status < 600 \
                    else "none"
                statuses = series.statuses
                key = (method, klass)
                statuses[key] = statuses.get(key, 0) + 1
                if status >= 500 or status <= 0:
                    series.errors += 1
                start = int(now) // BIN_SECONDS * BIN_SECONDS
                bins = series.bins
                current = bins[-1] if bins else None
                if current is None or current.start != start:
                    current = _Bin(start)
                    bins.append(current)
                current.count += 1
                if seconds is not None:
                    index = bisect_left(BUCKETS, seconds)
                    series.histogram[index] += 1
                    series.seconds += seconds
                    current.histogram[index] += 1

    def _add_locked(self, route: str) -> RouteSeries:
        if len(self._routes) >= MAX_ROUTES:
            route = "(other)"
        return self._routes.setdefault(route, RouteSeries())

    def snapshot(self) -> dict[str, RouteSeries]:
        """A copy of every route's series (for metrics)."""
        with self._lock:
            copies = {}
            for route, series in self._routes.items():
                copy = RouteSeries()
                copy.count, copy.errors = series.count, series.errors
                copy.histogram = list(series.histogram)
                copy.seconds = series.seconds
                copy.statuses = Counter(series.statuses)
                copies[route] = copy
            return copies

    def describe(self, chart: bool = True) -> list[dict[str, Any]]:
        """Every route, busiest first: `{"route", "count", "errors",
        "p50_ms", "p99_ms", "series"}`, the series being the last 10
        minutes as `[bin start (epoch s), requests per second, p99 ms or
        None]`."""
        now = int(time.time()) // BIN_SECONDS * BIN_SECONDS
        first = now - (BINS - 1) * BIN_SECONDS
        with self._lock:
            rows = []
            for route, series in self._routes.items():
                row: dict[str, Any] = {
                    "route": route, "count": series.count,
                    "errors": series.errors,
                    "p50_ms": _ms(series.quantile(0.5)),
                    "p99_ms": _ms(series.quantile(0.99))}
                if chart:
                    row["series"] = [
                        [b.start, round(b.count / BIN_SECONDS, 3),
                         _ms(series.quantile(0.99, b.histogram))]
                        for b in series.bins if b.start >= first]
                rows.append(row)
        rows.sort(key=lambda row: -row["count"])
        return rows


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


_CLASSES = ["none"] + [f"{n}xx" for n in range(1, 6)]
