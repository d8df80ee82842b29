"""Connection threads: one thread per connection, as with
`socketserver.ThreadingMixIn`, but reused.

Starting a thread costs a round trip between the accepting thread and the
new one, on every new connection. Here a thread that finished its
connection waits a while for the next one instead of exiting, so a burst
of short connections is served by threads that already run."""
from __future__ import annotations

import queue
import threading
from typing import Any, Callable

Item = tuple[Callable[..., None], tuple[Any, ...]]


class ConnectionThreads:
    """Runs each submitted `fn(*args)` (a connection to serve, or to
    resume) on its own thread; idle threads are kept `keep_idle` seconds (at most
    `max_idle` of them) and reused. There is no cap on running threads:
    every connection is served at once, as with `ThreadingMixIn`."""

    def __init__(self, keep_idle: float = 30.0, max_idle: int = 64) -> None:
        self.keep_idle = keep_idle
        self.max_idle = max_idle
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        self._idle = 0  # threads waiting on the queue, not yet given work
        self._closed = False

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        with self._lock:
            if self._idle > 0:
                self._idle -= 1  # that thread is now taken
                self._queue.put((fn, args))
                return
        threading.Thread(target=self._loop, args=((fn, args),),
                         name="quick_server-connection", daemon=True).start()

    def _loop(self, item: Item | None) -> None:
        while item is not None:
            item[0](*item[1])
            item = None  # drop the finished connection's references
            with self._lock:
                if self._closed or self._idle >= self.max_idle:
                    return
                self._idle += 1
            try:
                item = self._queue.get(timeout=self.keep_idle)
            except queue.Empty:
                with self._lock:
                    try:  # work may have been handed over just now
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        self._idle -= 1
                        return

    def close(self) -> None:
        """Lets the idle threads end; running ones end with their
        connection."""
        with self._lock:
            self._closed = True
            for _ in range(self._idle):
                self._queue.put(None)
            self._idle = 0
