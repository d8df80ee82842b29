"""Socket work under a connection: the kernel's read and write timeouts,
a lingering close, and zero-copy `sendfile`.

The connection's socket stays in blocking mode, its reads and writes
bounded by the kernel (SO_RCVTIMEO/SO_SNDTIMEO): a Python-level timeout
would cost a poll() before every recv and send."""
from __future__ import annotations

import contextlib
import os
import socket
import struct
import sys
import threading
import time
from typing import Iterator

from .wire import ClientDisconnected
from ..threads import make_thread

LINGER_SECONDS = 2.0  # how long unread request bytes are discarded on close
LINGER_BYTES = 64 << 20


def is_tls(sock: object) -> bool:
    """Whether `sock` is a TLS socket (no socket is one while `ssl` was
    never imported: a plain server does not load it)."""
    ssl = sys.modules.get("ssl")
    return ssl is not None and isinstance(sock, ssl.SSLSocket)


def set_timeouts(sock: socket.socket, seconds: float) -> None:
    """Bounds each read and write of `sock` by `seconds`: with the
    kernel's timeouts on POSIX, else with Python's own."""
    seconds = max(seconds, 0.001)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if os.name != "posix":
            raise OSError("SO_RCVTIMEO takes a struct timeval on POSIX")
        timeval = struct.pack("ll", int(seconds),
                              int(seconds % 1 * 1_000_000))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
    except OSError:
        sock.settimeout(seconds)  # elsewhere: Python's own timeouts


def discard_input(sock: socket.socket) -> None:
    """Lingering close: the client may still be sending a body we
    refused. Closing now would reset the connection and destroy the error
    response before the client reads it, so stop writing, then read and
    discard what arrives, bounded in time and bytes."""
    deadline = time.monotonic() + LINGER_SECONDS
    left = LINGER_BYTES
    try:
        sock.shutdown(socket.SHUT_WR)
        while left > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            sock.settimeout(min(remaining, 0.5))
            data = sock.recv(1 << 16)
            if not data:
                return
            left -= len(data)
    except (OSError, ValueError):
        return


LINGERING = threading.BoundedSemaphore(16)  # sockets lingering at once


def linger_elsewhere(sock: socket.socket) -> bool:
    """Closes `sock` after `discard_input`, on a thread of its own so that
    no thread of the event loop waits for a client that goes on sending
    (at most 16 at once); False when all are busy (the caller closes at
    once)."""
    if not LINGERING.acquire(blocking=False):
        return False

    def linger() -> None:
        try:
            discard_input(sock)
            sock.close()
        finally:
            LINGERING.release()
    make_thread(target=linger, name="quick_server-linger",
                daemon=True).start()
    return True


@contextlib.contextmanager
def python_timeout(sock: socket.socket, seconds: float) -> Iterator[None]:
    """A Python-level socket timeout for the block, where the kernel's
    timeouts are not enough (`socket.sendfile`)."""
    previous = sock.gettimeout()
    sock.settimeout(max(seconds, 0.001))
    try:
        yield
    finally:
        sock.settimeout(previous)


def sendfile(sock: socket.socket, fd: int, offset: int, count: int,
             timeout: float) -> int:
    """Sends part of a file with zero-copy `os.sendfile` on the blocking
    socket, whose kernel send timeout ends a stalled client with an
    OSError; returns the bytes sent (fewer if the file shrank).
    `ClientDisconnected` when the client is gone."""
    try:
        if is_tls(sock) or sock.gettimeout() is not None:
            # TLS cannot use sendfile: socket.sendfile falls back to sends
            with python_timeout(sock, timeout), \
                    open(fd, "rb", closefd=False) as handle:
                return sock.sendfile(handle, offset, count)
        out, sent = sock.fileno(), 0
        while sent < count:
            done = os.sendfile(out, fd, offset + sent, count - sent)
            if done == 0:
                break
            sent += done
        return sent
    except OSError as err:
        raise ClientDisconnected(f"sending a file: {err}") from err
