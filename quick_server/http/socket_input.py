"""A connection's input: the bytes received and not used yet, and the
socket they come from.

The event loop `fill`s it without waiting whenever the socket is
readable, until a whole request head is there; the request's body is
then read through it (`read`, `readline`: the interface `wire.Body`
needs) by the thread that runs the handler, waiting on the socket's own
timeout. What a request leaves unread after its body is the start of the
next one."""
from __future__ import annotations

import socket

RECV_SIZE = 1 << 16
MAX_BUFFERED = 1 << 18  # bytes read ahead (pipelined requests) at most
# a plain socket stays in blocking mode (its timeouts are the kernel's);
# one read without waiting is a flag, not two mode switches
_NOWAIT = getattr(socket, "MSG_DONTWAIT", 0)


class SocketInput:
    """The buffered input of one socket. `ended`: the client will send
    nothing more (it closed, or its connection failed)."""

    __slots__ = ("sock", "buf", "ended", "_flags", "_pending")

    def __init__(self, sock: socket.socket, nonblocking: bool) -> None:
        """`nonblocking`: the socket is switched to non-blocking mode
        while the loop fills it (a TLS socket, or where reads have no
        flag to skip waiting); else a read passes MSG_DONTWAIT."""
        self.sock = sock
        self.buf = b""
        self.ended = False
        self._flags = 0 if nonblocking else _NOWAIT
        # what OpenSSL decrypted and holds (a TLS socket's)
        self._pending = getattr(sock, "pending", None)

    def fill(self) -> int:
        """Adds what the socket holds now, without waiting; the number of
        bytes added (0: nothing yet, or `ended`)."""
        added = 0
        recv, flags = self.sock.recv, self._flags
        while True:
            try:
                data = recv(RECV_SIZE, flags) if flags else recv(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return added
            except OSError as err:  # TLS wants more, or a failure
                if _wants_more(err):
                    return added
                self.ended = True
                return added
            except ValueError:  # closed meanwhile
                self.ended = True
                return added
            if not data:
                self.ended = True
                return added
            self.buf += data
            added += len(data)
            if len(self.buf) >= MAX_BUFFERED or (len(data) < RECV_SIZE and (
                    self._pending is None or not self._pending())):
                return added  # (the rest: when these are answered)

    def take(self, count: int) -> bytes:
        """The first `count` buffered bytes, removed."""
        buf = self.buf
        if count >= len(buf):
            self.buf = b""
            return buf
        self.buf = buf[count:]
        return buf[:count]

    # -- what wire.Body reads (on the handler's thread, waiting) -----------

    def _receive(self) -> bytes:
        data = self.sock.recv(RECV_SIZE)  # OSError on timeout or failure
        if not data:
            self.ended = True
        return data

    def read(self, size: int = -1) -> bytes:
        """`size` bytes, fewer only at the end of the input."""
        while len(self.buf) < size and not self.ended:
            if not self.buf and size >= RECV_SIZE:
                data = self._receive()  # a large read: no copy through buf
                if len(data) >= size:
                    return data[:size] if len(data) == size else \
                        self._keep(data, size)
                self.buf = data
                continue
            self.buf += self._receive()
        return self.take(size)

    def _keep(self, data: bytes, size: int) -> bytes:
        self.buf = data[size:]
        return data[:size]

    def readline(self, limit: int = -1) -> bytes:
        """A line through its LF, at most `limit` bytes."""
        start = 0
        while True:
            end = self.buf.find(b"\n", start)
            if end >= 0:
                return self.take(end + 1 if limit < 0 else
                                 min(end + 1, limit))
            if 0 <= limit <= len(self.buf) or self.ended:
                return self.take(len(self.buf) if limit < 0 else limit)
            start = len(self.buf)
            self.buf += self._receive()


def _wants_more(err: OSError) -> bool:
    """Whether a TLS read failed only because a record is incomplete."""
    return type(err).__name__ in ("SSLWantReadError", "SSLWantWriteError")

