"""The last requests the server answered, in a fixed-size ring, each with
a serial number so that a live view asks only for what is new. Values are
kept as the client sent them (data); whatever shows them escapes them."""
from __future__ import annotations

import threading
from collections import deque
from typing import Any, NamedTuple

KEPT = 200
MAX_TEXT = 300  # characters of a path kept


class Seen(NamedTuple):
    """One request as the dashboard lists it."""
    seq: int
    time: float  # epoch seconds
    client: str
    method: str
    path: str
    status: int
    size: int
    duration_ms: float
    traceback: str | None  # a 500's, for viewers who may see it

    def as_json(self, tracebacks: bool) -> dict[str, Any]:
        row = self._asdict()
        if not tracebacks or row["traceback"] is None:
            row.pop("traceback")
        return row


class RecentRequests:
    """The `KEPT` most recent requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ring: deque[tuple[Any, ...]] = deque(maxlen=KEPT)
        self._seq = 0

    def add(self, now: float, client: str, method: str, path: str,
            status: int, size: int, seconds: float,
            traceback: str | None = None) -> None:
        """One request, ended at `now` (epoch seconds)."""
        self.add_many([(now, client, method, path, status, size, seconds,
                        traceback)])

    def add_many(self, rows: list[tuple[Any, ...]]) -> None:
        """Requests as `(now, client, method, path, status, size, seconds,
        traceback)`; kept as tuples (a `Seen` is made when asked for)."""
        with self._lock:
            self._seq += max(0, len(rows) - KEPT)  # older than the ring
            for row in rows[-KEPT:]:
                path = row[3]
                if len(path) > MAX_TEXT:
                    row = (*row[:3], path[:MAX_TEXT], *row[4:])
                self._seq += 1
                self._ring.append((self._seq, *row))

    def since(self, seq: int = 0) -> list[Seen]:
        """The requests after serial `seq`, oldest first."""
        with self._lock:
            if not self._ring or self._ring[-1][0] <= seq:
                return []
            rows = [row for row in self._ring if row[0] > seq]
        return [Seen(n, when, client, method[:20], path, status, size,
                     round(seconds * 1000, 3), trace)
                for n, when, client, method, path, status, size, seconds,
                trace in rows]

    @property
    def last(self) -> int:
        return self._seq
