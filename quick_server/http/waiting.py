"""Answers that wait for an event, without a thread each.

A `Signal` is what code that changes state fires (the job table when a
job reports progress or settles, the services hub when a job is queued):
`fire(key, ...)` names what changed (a job's token, a service's name),
`fire()` with no key means everything (the server stops). A
`WaitingResponse` or an `EventStream` (`responses`) that names a signal
and its keys is parked: `Parked` holds it, keyed, until the signal names one
of its keys (then the loop checks it: `ready()`), its deadline passes, or
its client hangs up. Subscribers run on the thread that fires: they only
hand the keys to the loop."""
from __future__ import annotations

import heapq
import itertools
import threading
from typing import Any, Callable, Hashable, Iterable

class Signal:
    """Tells subscribers what changed (`fire(*keys)`). `direct`: it is
    only fired with no lock held, so a parked long-poll it names may be
    answered right there, on the firing thread (no hand-off to the
    loop)."""

    def __init__(self, direct: bool = False) -> None:
        self.direct = direct
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[tuple[Hashable, ...]], None]] = []

    def subscribe(self, fn: Callable[[tuple[Hashable, ...]], None]) -> None:
        """`fn(keys)` on every `fire` (`keys` empty: everything)."""
        with self._lock:
            if fn not in self._subscribers:
                self._subscribers = self._subscribers + [fn]

    def unsubscribe(self, fn: Callable[[tuple[Hashable, ...]], None]
                    ) -> None:
        with self._lock:
            self._subscribers = [f for f in self._subscribers if f != fn]

    def fire(self, *keys: Hashable) -> None:
        subscribers = self._subscribers  # replaced, never changed in place
        for fn in subscribers:
            fn(keys)

    def __bool__(self) -> bool:
        return True


class Parked:
    """The parked answers of one event loop, by key and by deadline (the
    caller holds the loop's lock around each call)."""

    def __init__(self) -> None:
        self._by_key: dict[Hashable, set[Any]] = {}
        self._deadlines: list[tuple[float, int, Any]] = []  # a heap
        self._serial = itertools.count()
        self.count = 0

    def add(self, conn: Any, keys: Iterable[Hashable],
            deadline: float) -> None:
        """Parks `conn` (its `parked_until` is `deadline`)."""
        self.count += 1
        for key in keys:
            self._by_key.setdefault(key, set()).add(conn)
        heapq.heappush(self._deadlines, (deadline, next(self._serial), conn))

    def remove(self, conn: Any, keys: Iterable[Hashable]) -> None:
        self.count -= 1
        for key in keys:
            waiting = self._by_key.get(key)
            if waiting is not None:
                waiting.discard(conn)
                if not waiting:
                    del self._by_key[key]

    def named(self, keys: tuple[Hashable, ...]) -> list[Any]:
        """The parked connections waiting on any of `keys` (all when
        `keys` is empty)."""
        if not keys:
            return list({c for conns in self._by_key.values()
                         for c in conns})
        found: set[Any] = set()
        for key in keys:
            found.update(self._by_key.get(key, ()))
        return list(found)

    def due(self, now: float) -> list[Any]:
        """The parked connections whose deadline passed (stale entries,
        of connections answered since, are dropped)."""
        found = []
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            deadline, _, conn = heapq.heappop(heap)
            if conn.parked_until == deadline:
                found.append(conn)
        return found

    def next_deadline(self) -> float | None:
        return self._deadlines[0][0] if self._deadlines else None
