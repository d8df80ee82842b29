"""Writing answers: the only code that writes to a client's socket.

`ResponseWriter._send` writes every head (validated by `response_head`:
an unsafe header turns the answer into a plain 500) and frames every
body: bytes (with the head in one send when small), a `FileSpan` with
`sendfile`, a `StreamResponse`'s chunks (chunked, or to the end of the
connection for an HTTP/1.0 client)."""
from __future__ import annotations

import math
import socket
from typing import TYPE_CHECKING, Any, Iterable

from .. import log
from . import sockio
from .errorpage import PLAIN
from .file_answers import FileSpan
from .request import Request
from .responses import (EventStream, HTTPError, Response, StreamResponse,
                        UnsafeHeader, response_head)
from .wire import ClientDisconnected

SMALL_BODY = 1 << 16
NO_BODY_CODES = (204, 304)


_NOWAIT = getattr(socket, "MSG_DONTWAIT", 0)


class ResponseWriter:
    """Writes the answers of one connection (a mixin of `Connection`,
    which provides what is declared here). `writes_wait` false: writes
    never wait for the client (what the socket does not take is kept in
    `unsent` and sent by the next write that may wait)."""

    writes_wait = True
    unsent = b""

    sock: socket.socket
    server: Any
    requestline: str
    _http: Any
    _status: int
    _sent: int
    _toggle: bool

    if TYPE_CHECKING:  # provided by the connection
        def _step_aside(self) -> None: ...

        def _can_park(self) -> bool: ...

        def _listen(self, signal: Any) -> None: ...

        def _park_stream(self, request: Request, stream: EventStream,
                         framing: str) -> bool: ...

    def _body_will_be_read(self, request: Request) -> bool:
        body = request.body
        if body is None or body.finished:
            return True
        if not body.started or body.length is None:
            return False
        return body.length - body.consumed <= self._http.drain_limit

    def _send(self, request: Request, response: Response) -> bool:
        """Writes `response`, the one answer of `request`: its head and a
        small body in a single send, a `FileSpan` with `sendfile`, a
        stream as it comes; then releases what it holds. True when the
        rest of an `EventStream` is parked (released when it ends)."""
        self._status, self._sent = response.code, 0
        parked = False
        try:
            if response.already_sent:
                self._sent = response.length() or 0
                request.close_connection = True
                return False
            if response.close_connection or \
                    not self._body_will_be_read(request):
                request.close_connection = True
            with_body = request.command != "HEAD" and \
                response.code not in NO_BODY_CODES
            try:
                head, framing = self._head(request, response, with_body)
            except UnsafeHeader as err:
                self._refuse_unsafe(request, err)
                return False
            if not with_body:
                self._write(head)
            elif isinstance(response, EventStream) and self._can_park():
                request.wait_by_design(math.inf)
                self._listen(response.signal)  # no event lost meanwhile
                self._write(head + _framed(response.first, framing))
                self._sent = len(response.first)
                parked = self._park_stream(request, response, framing)
            elif isinstance(response, StreamResponse):
                if response.waits:
                    request.wait_by_design(response.waits)
                    self._step_aside()  # it waits: not on the loop
                self._write(head)
                self._stream(request, response.chunks, framing)
            elif isinstance(response, FileSpan):
                self._write(head)
                self._send_file(request, response)
            else:
                body = response.response
                self._sent = len(body)
                if len(body) <= SMALL_BODY:
                    self._write(head + body)
                else:
                    self._write(head)
                    self._write(body)
        finally:
            if not parked:
                response.release()
        return parked

    def _head(self, request: Request, response: Response,
              with_body: bool) -> tuple[bytes, str]:
        """The head's bytes, and how the body is framed: "length",
        "chunked" (a stream of unknown length to an HTTP/1.1 client) or
        "close" (to an HTTP/1.0 one: the end of the connection ends it)."""
        fields: list[tuple[str, str]] = []
        if response.ctype is not None:
            fields.append(("Content-Type", response.ctype))
        length, framing = response.length(), "length"
        if length is None:
            if not with_body:
                framing = "none"
            elif request.request_version == "HTTP/1.1" and \
                    not request.close_connection:
                framing = "chunked"
                fields.append(("Transfer-Encoding", "chunked"))
            else:
                framing = "close"
                request.close_connection = True
        elif response.code not in NO_BODY_CODES:
            fields.append(("Content-Length", str(length)))
        fields.extend(response.headers)
        if request.close_connection or self.server.draining:
            request.close_connection = True  # a stopping server's last answer
            fields.append(("Connection", "close"))
        elif request.request_version == "HTTP/1.0":
            fields.append(("Connection", "keep-alive"))
        return response_head("HTTP/1.1", response.code, fields), framing

    def _stream(self, request: Request, chunks: Iterable[bytes],
                framing: str) -> None:
        try:
            for block in chunks:
                if not block:
                    continue
                self._write(_framed(block, framing))
                self._sent += len(block)
            if framing == "chunked":
                self._write(b"0\r\n\r\n")
        except (OSError, HTTPError):  # the body is cut: end it here
            request.close_connection = True

    def _send_file(self, request: Request, span: FileSpan) -> None:
        count = span.end - span.start
        sent = sockio.sendfile(self.sock, span.fd, span.start, count,
                               self._http.idle_timeout)
        self._sent = sent
        if sent != count:
            request.close_connection = True  # the file shrank meanwhile

    def _refuse_unsafe(self, request: Request, err: UnsafeHeader) -> None:
        """A response whose head would be unsafe becomes a plain 500 (its
        extra headers dropped); the reason goes to the log."""
        log.msg("answering {0!r} with 500: {1}",
                log.escape_control(self.requestline),
                log.escape_control(str(err)))
        self._send(request, Response(PLAIN[0], 500, PLAIN[1]))

    def _write(self, data: bytes) -> None:
        try:
            if not self.writes_wait:  # on a thread that must not wait
                self._write_now(data)
                return
            if self.unsent:  # left by a write that could not wait
                self.unsent, rest = b"", self.unsent
                self.sock.sendall(rest)
            self.sock.sendall(data)
        except (OSError, ValueError) as err:
            raise ClientDisconnected(f"writing the response: {err}") \
                from err

    def _write_now(self, data: bytes) -> None:
        """Sends what the socket takes at once; keeps the rest in
        `unsent`, which the next waiting write sends first."""
        if self.unsent:
            self.unsent += data
            return
        try:  # (a TLS socket takes no flags: it waits its own timeout)
            sent = self.sock.send(data) if self._toggle else \
                self.sock.send(data, _NOWAIT)
        except (BlockingIOError, InterruptedError):
            sent = 0
        self.unsent = data[sent:]


def _framed(block: bytes, framing: str) -> bytes:
    """`block` as a chunk of a chunked body, or as it is."""
    return b"%x\r\n%s\r\n" % (len(block), block) \
        if framing == "chunked" else block
