"""Head deadlines: a client must send a whole request head within
`limits.head_timeout` seconds of its first byte, however it trickles them.

A socket timeout only bounds each read, so a client sending one byte
before every timeout would hold its connection forever. One watcher
thread per server checks the registered deadlines a few times a second
and shuts down the reading side of a connection that missed its own: the
blocked read returns at once and the request ends as a 408. Registering
costs a dict store and a dict pop per request."""
from __future__ import annotations

import socket
import threading
import time
from typing import Any


class HeadDeadlines:
    """Connections reading a request head, and when each must be done."""

    def __init__(self, tick: float = 0.25) -> None:
        self.tick = tick
        self._deadlines: dict[Any, float] = {}
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def add(self, sock: Any, deadline: float) -> None:
        """Watches `sock` until `discard`; past `deadline` (monotonic) its
        reading side is shut down."""
        self._deadlines[sock] = deadline
        if self._thread is None:
            self._start()

    def discard(self, sock: Any) -> None:
        self._deadlines.pop(sock, None)

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._watch, name="quick_server-head-deadlines",
                    daemon=True)
                self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.tick):
            now = time.monotonic()
            for sock, deadline in list(self._deadlines.items()):
                if deadline < now and \
                        self._deadlines.pop(sock, None) is not None:
                    _shut_reading(sock)

    def close(self) -> None:
        self._stop.set()


def _shut_reading(sock: Any) -> None:
    # the plain socket's shutdown, also for a TLS socket: only the reading
    # side ends, so the 408 can still be written
    try:
        socket.socket.shutdown(sock, socket.SHUT_RD)
    except (OSError, ValueError):
        pass
