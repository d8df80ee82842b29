"""Long-polls on the job table: requests held until a job has news,
parked in the event loop (`http.waiting`), and how many wait now."""
from __future__ import annotations

import threading
from typing import Any, Callable

from ..http.responses import WaitingResponse
from ..http.waiting import Signal

MAX_WAIT = 30.0  # seconds a request may be held


class LongPolls:
    """Makes the table's long-polls and counts them (`waiting`)."""

    def __init__(self, signal: Signal) -> None:
        self.signal = signal  # the table fires a job's token on news
        self._lock = threading.Lock()
        self._count = 0

    @property
    def waiting(self) -> int:
        with self._lock:
            return self._count

    def hold(self, answer: Callable[[float], Any], wait: float,
             keys: tuple[Any, ...], ready: Callable[[], bool],
             on_close: Callable[[], None] | None = None
             ) -> WaitingResponse:
        """A request held until `ready()` (checked when the job of one of
        `keys` changes) or `wait` seconds pass (at most `MAX_WAIT`)."""
        with self._lock:
            self._count += 1

        def done() -> None:
            with self._lock:
                self._count -= 1
            if on_close is not None:
                on_close()
        return WaitingResponse(answer, min(wait, MAX_WAIT),
                               signal=self.signal, keys=keys, ready=ready,
                               on_close=done)
