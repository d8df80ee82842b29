"""Parking: idle keep-alive connections wait without a thread.

A connection whose next request has not begun `PARK_AFTER` seconds after
its last answer is parked: one thread watches every parked socket with a
`selectors` selector, and the connection's thread goes back to the pool.
When a parked socket becomes readable (a request, or the client closing)
the connection is handed back to a thread (`resume`); when it stays idle
until its deadline (`settings.http.idle_timeout` after its last answer)
it is closed here (`expire`). So 10,000 idle clients cost 10,000 sockets
and no thread each; a busy connection, whose next request comes sooner,
keeps its thread. Parking starts once the server holds more than
`park_above` connections (128): below that a thread each costs little,
and a connection that may park pays two `setsockopt` calls per request
(its read timeout shortened while it waits, restored for the request),
which is worth it only at scale."""
from __future__ import annotations

import heapq
import itertools
import selectors
import socket
import threading
import time
from typing import Any, Callable

PARK_AFTER = 0.25  # seconds a connection's thread waits before parking


class Parking:
    """The parked connections of one server and the thread that watches
    them. `resume(conn)` runs when one has input; `conn.expire()` when
    its deadline passed; `close()` expires every parked one."""

    def __init__(self, resume: Callable[[Any], None],
                 park_above: int = 128) -> None:
        self._resume = resume
        self.park_above = park_above  # open connections before any parks
        self._lock = threading.Lock()
        self._arriving: list[tuple[Any, socket.socket, float]] = []
        self._parked: dict[int, tuple[Any, socket.socket]] = {}
        self._deadlines: list[tuple[float, int, int]] = []  # heap
        self._serial = itertools.count()
        # made at once: no descriptor is needed later (EMFILE)
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._thread: threading.Thread | None = None
        self._closed = False

    def __len__(self) -> int:
        with self._lock:
            return len(self._parked) + len(self._arriving)

    def park(self, conn: Any, sock: socket.socket, deadline: float) -> bool:
        """Parks `conn` until `sock` is readable or `deadline`
        (`time.monotonic()`); False when parking is closed (the caller
        then closes the connection)."""
        with self._lock:
            if self._closed:
                return False
            self._arriving.append((conn, sock, deadline))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="quick_server-parking",
                    daemon=True)
                self._thread.start()
        self._wake()
        return True

    def close(self) -> None:
        """Stops watching and expires every parked connection."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        self._wake()
        if thread is not None:
            thread.join(5)
        else:
            self._selector.close()
            self._wake_r.close()
            self._wake_w.close()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # a wake-up is pending already, or closing

    def _watch(self) -> None:
        selector = self._selector
        try:
            while True:
                if self._take_arrivals(selector):
                    break
                timeout = self._expire_due(selector)
                for key, _ in selector.select(timeout):
                    if key.fileobj is self._wake_r:
                        self._drain_wakes()
                        continue
                    found = self._parked.pop(key.fd, None)
                    selector.unregister(key.fd)
                    if found is not None:
                        self._hand_back(found[0])
        finally:
            for conn, _ in list(self._parked.values()):
                conn.expire()
            self._parked.clear()
            selector.close()
            self._wake_r.close()
            self._wake_w.close()

    def _take_arrivals(self, selector: selectors.BaseSelector) -> bool:
        """Registers the connections parked since; True once closed (they
        are expired then)."""
        with self._lock:
            arriving, self._arriving = self._arriving, []
            closed = self._closed
        for conn, sock, deadline in arriving:
            if closed:
                conn.expire()
                continue
            try:
                fd = sock.fileno()
                selector.register(fd, selectors.EVENT_READ)
            except (OSError, ValueError):
                self._hand_back(conn)  # closed meanwhile: a thread ends it
                continue
            self._parked[fd] = (conn, sock)
            heapq.heappush(self._deadlines, (deadline, next(self._serial),
                                             fd))
        return closed

    def _expire_due(self, selector: selectors.BaseSelector) -> float | None:
        """Closes the parked connections whose deadline passed; the
        seconds until the next deadline (None: none)."""
        now = time.monotonic()
        while self._deadlines:
            deadline, _, fd = self._deadlines[0]
            found = self._parked.get(fd)
            if found is None or found[0].parked_until != deadline:
                heapq.heappop(self._deadlines)  # resumed since: stale
                continue
            if deadline > now:
                return deadline - now
            heapq.heappop(self._deadlines)
            del self._parked[fd]
            selector.unregister(fd)
            found[0].expire()
        return None

    def _hand_back(self, conn: Any) -> None:
        """`resume(conn)`; a connection that no thread can take now (the
        process is out of threads) is closed, never left behind."""
        try:
            self._resume(conn)
        except Exception:  # pylint: disable=broad-except
            conn.expire()

    def _drain_wakes(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass
