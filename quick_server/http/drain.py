"""Stopping without losing a request: the server's open connections, and
the drain that, once the server stopped accepting, lets each request in
progress finish and closes the idle connections (the listening socket
itself is handed to the next process by the development restart)."""
from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from .sockio import is_tls

if TYPE_CHECKING:
    from .connection import Connection

# the server is the caller's: typed as Any (it only needs `_wait_idle`), so
# that the HTTP core never imports the server built on top of it
QuickServer = Any

DRAIN_WAIT = 0.1  # a connection used this recently may still send a
# request when the server stops: it gets this long to do so
DRAIN_HEAD = 1.0  # a request head begun before the stop must be complete
# this long after it (a client trickling bytes holds no restart up)


class OpenConnections:
    """The server's open connections (their handlers), so that stopping
    can close the idle ones without dropping a request in progress."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handlers: set[Connection] = set()

    def add(self, handler: Connection) -> None:
        with self._lock:
            self._handlers.add(handler)

    def discard(self, handler: Connection) -> None:
        with self._lock:
            self._handlers.discard(handler)

    def __len__(self) -> int:
        return len(self._handlers)

    def drain(self, server: QuickServer, timeout: float) -> bool:
        """Once the server stopped accepting: waits until no request is in
        progress, and closes each connection that waits for a request and
        has had none for `DRAIN_WAIT` seconds (a connection that just
        opened or just got an answer may be sending one: it is served,
        with `Connection: close`); a request head still incomplete
        `DRAIN_HEAD` seconds after the stop is cut off. False when
        `timeout` passed first."""
        began = time.perf_counter()
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                handlers = list(self._handlers)
            busy = False
            now = time.perf_counter()
            for handler in handlers:
                if not getattr(handler, "waiting", True):
                    if getattr(handler, "requestline", "x") or \
                            now - began < DRAIN_HEAD:
                        busy = True  # answering, or reading a head
                    else:
                        _hang_up(handler.connection)
                elif _has_input(handler.connection) or \
                        now - handler.waiting_since < DRAIN_WAIT:
                    busy = True
                else:
                    _hang_up(handler.connection)
            if not busy and server._wait_idle(0):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(left, 0.005))


def _has_input(sock: Any) -> bool:
    """Whether request bytes wait on the connection."""
    try:
        if is_tls(sock) and sock.pending():
            return True
        data = socket.socket.recv(sock, 1, socket.MSG_PEEK |
                                  socket.MSG_DONTWAIT)
        return bool(data)
    except (BlockingIOError, InterruptedError):
        return False
    except (OSError, ValueError):
        return False  # closed or reset: nothing to serve


def _hang_up(sock: Any) -> None:
    # the blocked read of its thread returns at once, which ends it
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except (OSError, ValueError):
        pass
