"""Counts of what a server answered, for the summary printed on exit."""
from __future__ import annotations

import threading
from collections import Counter


class RequestStats:
    """Requests per route and status class (2xx, 4xx, ...)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def record(self, route: str, code: int) -> None:
        key = (route, f"{code // 100}xx" if code else "no answer")
        with self._lock:
            self._counts[key] += 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def summary(self) -> str:
        """One line per route: `GET /api/x: 12 (2xx 10, 4xx 2)`."""
        with self._lock:
            items = list(self._counts.items())
        routes: dict[str, Counter[str]] = {}
        for (route, klass), count in items:
            routes.setdefault(route, Counter())[klass] += count
        lines = [f"served {sum(c for _, c in items)} requests"]
        for route in sorted(routes, key=lambda r: -sum(routes[r].values())):
            classes = routes[route]
            detail = ", ".join(f"{k} {v}" for k, v in sorted(classes.items()))
            lines.append(f"  {route}: {sum(classes.values())} ({detail})")
        return "\n".join(lines)
