"""The connection layer: read a request head, make the `Request`, get
its one `Response` from `dispatch`, write it, log it; then the next
request of the connection.

This is the only module that writes to a client's socket: `_send`
writes every head (validated by `response_head`: an unsafe header turns
the answer into a plain 500) and every body (bytes, `sendfile` for a
`FileSpan`, a `StreamResponse`'s chunks). Settings are read from
`self.server.settings`."""
from __future__ import annotations

import os
import socketserver
import time
from io import BufferedReader
from typing import Any, Iterable, cast

from .. import log
from . import sockio
from .dispatch import dispatch, finish, resolve
from .errorpage import PLAIN
from .file_answers import FileSpan
from .parking import PARK_AFTER
from .request import Request
from .responses import (HTTPError, Response, StreamResponse, UnsafeHeader,
                        WaitingResponse, error_response, response_head)
from .wire import (Body, ClientDisconnected, Headers, RequestHead,
                   body_length, read_head)

# the server this connection serves (typed loosely: the server imports
# this module, never the other way round)
QuickServer = Any

SMALL_BODY = 1 << 16
NO_BODY_CODES = (204, 304)
_PARK_AFTER = sockio.timeval(PARK_AFTER)
_NO_HEAD = RequestHead("", "", "HTTP/1.1", Headers([]))


class Connection(socketserver.StreamRequestHandler):
    """Serves the requests of one connection (HTTP/1.1, keep-alive)."""

    server: QuickServer
    protocol_version = "HTTP/1.1"
    server_version = "quick_server"

    def setup(self) -> None:
        super().setup()
        self._http = self.server.settings.http
        sockio.set_timeouts(self.connection, self._http.idle_timeout)
        self.close_connection = True
        self._linger = False
        # waiting for a request's first byte (a TLS handshake included)
        self.waiting, self.waiting_since = True, time.perf_counter()
        self.parked, self.parked_until = False, 0.0
        # an idle plain connection waits in the server's parking (a TLS
        # one keeps its thread: OpenSSL may hold bytes the kernel does not)
        self._may_park = os.name == "posix" and \
            self.server._parking is not None and \
            not sockio.is_tls(self.connection)
        self.server.reloader.connections.add(self)

    def handle(self) -> None:
        if sockio.is_tls(self.connection):
            # a TLS socket reads through OpenSSL, which does not survive a
            # kernel read timeout: it gets Python's own timeouts
            try:
                self.connection.settimeout(self._http.head_timeout)
                self.connection.do_handshake()
                self.connection.settimeout(max(self._http.idle_timeout, 0.001))
            except (OSError, ValueError):
                return  # a failed handshake only ends this connection
        self._serve()

    def _serve(self) -> None:
        """Answers requests until the connection ends, or it idles and is
        `parked` (its thread is then free; `resume` goes on)."""
        self.parked = False
        self.handle_one_request()
        while not self.close_connection and not self.parked:
            self.handle_one_request()

    def resume(self) -> None:
        """Goes on with a parked connection that has input (a request, or
        the client's close), on the calling thread."""
        try:
            self._serve()
        finally:
            if not self.parked:
                self.finish()

    def expire(self) -> None:
        """Ends a parked connection that stayed idle until its deadline."""
        self.parked = False
        self.finish()
        self.server.shutdown_request(self.connection)

    def finish(self) -> None:
        if self.parked:
            return  # the parking holds it
        try:
            super().finish()
            if self._linger:
                sockio.discard_input(self.connection)
        finally:
            self.server.reloader.connections.discard(self)

    # -- one request -------------------------------------------------------

    def handle_one_request(self) -> None:
        self.close_connection = True
        self._start = time.perf_counter()
        self.waiting, self.waiting_since = True, self._start
        self._status, self._sent = 0, 0
        self.requestline = ""  # none yet (the drain reads it)
        try:
            head = self._read_head()
        except HTTPError as err:
            request = Request(self.server, _NO_HEAD, self.client_address)
            request.close_connection = True
            self.requestline = err.request_line or "(no request line)"
            self._send(request, error_response(err))
            # the rest of a bad request may still be on its way (not from a
            # client that stalled)
            self._linger = err.code != 408
            self._log(request)
            return
        if head is None:
            return
        request = Request(self.server, head, self.client_address,
                          writer=self._write)
        self.requestline = request.requestline
        self.server._request_started()
        try:
            self._answer(request, head)
        finally:
            self.close_connection = request.close_connection
            self._finish_body(request)
            body = request.body
            if body is not None and not body.finished:
                self._linger = self.close_connection
            self._close_files(request)
            self.server._request_finished()
            self._log(request)

    def _read_head(self) -> RequestHead | None:
        """The next request head, within its deadline (HTTPError 408 when
        cut off); None when the client closed, idled out or failed."""
        deadlines = self.server.head_deadlines
        sock = self.connection
        expires = [0.0]
        idle_timeout = self._http.idle_timeout
        park = self._may_park and idle_timeout > PARK_AFTER and \
            len(self.server.reloader.connections) > \
            self.server._parking.park_above
        if park:  # wait a little for the next request, then park
            sockio.set_read_timeout(sock, _PARK_AFTER)
            idle = sockio.timeval(idle_timeout)

        def started(deadline: float) -> None:
            if park:
                sockio.set_read_timeout(sock, idle)
            self.waiting = False
            self._start = time.perf_counter()  # not the idle time before
            expires[0] = deadline
            deadlines.add(sock, deadline)
        try:
            # a socket's makefile() is a BufferedReader (it can peek)
            head = read_head(cast(BufferedReader, self.rfile), self._http,
                             started)
            if head is None and park and not expires[0] and \
                    sockio.open_and_idle(sock):
                sockio.set_read_timeout(sock, idle)
                self.parked = True  # the caller hands it to the parking
                self.close_connection = False
                self.parked_until = time.monotonic() + idle_timeout - \
                    PARK_AFTER
            return head
        except (OSError, ValueError):
            if expires[0] and time.monotonic() >= expires[0]:
                raise HTTPError(408, close=True) from None  # cut off (TLS)
            return None  # idle timeout, reset, or TLS failure
        finally:
            deadlines.discard(sock)

    def _answer(self, request: Request, head: RequestHead) -> None:
        try:
            try:
                length = body_length(head)
                expect = (request.headers.get("expect") or "").lower()
                if expect and expect != "100-continue":
                    raise HTTPError(417)
            except HTTPError as err:
                self._send(request, finish(self.server, request,
                                           error_response(err)))
                return
            request.body = Body(self.rfile, length,
                                before_read=self._send_continue
                                if expect == "100-continue" else None)
            response = dispatch(self.server, request)
            if isinstance(response, WaitingResponse):
                request.wait_by_design(response.seconds)
                response = resolve(self.server, request, response)
            self._send(request, response)
        except ClientDisconnected:
            request.close_connection = True  # the client's socket failed

    def _send_continue(self) -> None:
        self._write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _finish_body(self, request: Request) -> None:
        body = request.body
        if body is None or body.finished or self.close_connection:
            return
        try:
            if not body.drain(self._http.drain_limit):
                self.close_connection = True
        except (HTTPError, OSError):
            self.close_connection = True

    @staticmethod
    def _close_files(request: Request) -> None:
        for upload in request.files.values():
            try:
                upload.close()
            except OSError:
                pass

    # -- writing -----------------------------------------------------------

    def _body_will_be_read(self, request: Request) -> bool:
        body = request.body
        if body is None or body.finished:
            return True
        if not body.started or body.length is None:
            return False
        return body.length - body.consumed <= self._http.drain_limit

    def _send(self, request: Request, response: Response) -> None:
        """Writes `response`, the one answer of `request`: its head and a
        small body in a single send, a `FileSpan` with `sendfile`, a
        stream as it comes; then releases what it holds."""
        self._status, self._sent = response.code, 0
        try:
            if response.already_sent:
                self._sent = response.length() or 0
                request.close_connection = True
                return
            if response.close_connection or \
                    not self._body_will_be_read(request):
                request.close_connection = True
            with_body = request.command != "HEAD" and \
                response.code not in NO_BODY_CODES
            try:
                head, framing = self._head(request, response, with_body)
            except UnsafeHeader as err:
                self._refuse_unsafe(request, err)
                return
            if not with_body:
                self._write(head)
            elif isinstance(response, StreamResponse):
                request.wait_by_design(response.waits)
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
            response.release()

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
                self._write(b"%x\r\n%s\r\n" % (len(block), block)
                            if framing == "chunked" else block)
                self._sent += len(block)
            if framing == "chunked":
                self._write(b"0\r\n\r\n")
        except (OSError, HTTPError):  # the body is cut: end it here
            request.close_connection = True

    def _send_file(self, request: Request, span: FileSpan) -> None:
        count = span.end - span.start
        sent = sockio.sendfile(self.connection, span.fd, span.start, count,
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
            self.connection.sendall(data)
        except (OSError, ValueError) as err:
            raise ClientDisconnected(f"writing the response: {err}") \
                from err

    # -- logging -----------------------------------------------------------

    def log_elapsed_time_string(self, elapsed: float) -> str:
        return log.elapsed_string(elapsed)

    def log_size_string(self, size: int) -> str:
        return log.size_string(size)

    def _log(self, request: Request) -> None:
        elapsed = time.perf_counter() - self._start
        code, settings = self._status, self.server.settings.log
        self.server.stats.record(request.route_name, code)
        slow = settings.report_slow_requests and \
            elapsed > settings.slow_request + request.by_design
        if settings.suppress_noise and code in (200, 206, 304) and not slow:
            return
        headers, escape = request.headers, log.escape_control
        log.request(settings.log_format, {
            "client": self.client_address[0],
            "request": escape(self.requestline),
            "method": escape(request.command),
            "path": escape(request.path), "status": code,
            "size": self.log_size_string(self._sent), "bytes": self._sent,
            "ms": elapsed * 1000,
            "elapsed": self.log_elapsed_time_string(elapsed),
            "route": escape(request.route_name),
            "user_agent": escape(headers.get("user-agent") or "-"),
            "referer": escape(headers.get("referer") or "-")}, code, slow)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.msg(log.escape_control(format % args))


def serve_connection(server: QuickServer, request: Any,
                     client_address: Any) -> None:
    """Serves a new connection on the calling thread until it ends or
    is parked."""
    try:
        conn = server.RequestHandlerClass(request, client_address, server)
    except Exception:  # pylint: disable=broad-except
        server.handle_error(request, client_address)
        server.shutdown_request(request)
        return
    _park_or_close(server, conn)


def resume_connection(server: QuickServer, conn: Connection) -> None:
    """Goes on with a parked connection that has input."""
    try:
        conn.resume()
    except Exception:  # pylint: disable=broad-except
        server.handle_error(conn.connection, conn.client_address)
        conn.parked = False
        conn.finish()
    _park_or_close(server, conn)


def _park_or_close(server: QuickServer, conn: Connection) -> None:
    if conn.parked:
        if server._parking.park(conn, conn.connection, conn.parked_until):
            return  # its thread is free; the parking resumes or ends it
        conn.parked = False  # the server is closing
        conn.finish()
    server.shutdown_request(conn.connection)
