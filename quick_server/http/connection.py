"""The connection layer: one `Connection` per client socket, run by the
server's `EventLoop`. While it waits (for a TLS handshake, a request
head, or the next request) it sits in the loop's selector and holds no
thread; when a whole head has arrived it makes the `Request`, gets its
one `Response` from `dispatch`, writes it (`sending.ResponseWriter`) and
logs it, on the thread that leads the loop (which a slow handler makes
hand the loop over: see `event_loop`).

Deadlines, checked by the loop's sweep: a head must be complete within
`settings.http.head_timeout` of its first byte (408), an idle connection
ends after `settings.http.idle_timeout`, a TLS handshake must end within
the head timeout. Settings are read from `self.server.settings`."""
from __future__ import annotations

import math
import selectors
import socket
import time
from typing import Any

from .. import log
from . import sockio
from .accepting import ACCEPT_BACKOFF, OUT_OF_RESOURCES, Acceptor
from .dispatch import dispatch, finish, resolve
from .extra_headers import extra_headers_filter
from .request import Request
from .responses import HTTPError, WaitingResponse, error_response
from .parked_answers import ParkedAnswers
from .sending import ResponseWriter
from .socket_input import SocketInput
from .wire import (Body, ClientDisconnected, Headers, RequestHead,
                   body_length, split_head)

# the server this connection serves (typed loosely: the server imports
# this module, never the other way round)
QuickServer = Any

_NO_HEAD = RequestHead("", "", "HTTP/1.1", Headers([]))
_READ, _WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
_TOGGLE = getattr(socket, "MSG_DONTWAIT", None) is None
ACCEPT_BATCH = 64  # connections accepted per wake-up of the loop


class Connection(ResponseWriter, ParkedAnswers):
    """Serves the requests of one connection (HTTP/1.1, keep-alive)."""

    protocol_version = "HTTP/1.1"
    server_version = "quick_server"

    def __init__(self, server: QuickServer, sock: socket.socket,
                 client_address: Any) -> None:
        self.server = server
        self.sock = self.connection = sock
        self.fd = sock.fileno()
        self.client_address = client_address
        self._loop = server._loop
        self._http = server.settings.http
        self._tls = sockio.is_tls(sock)
        # a TLS socket reads through OpenSSL, which does not survive a
        # kernel read timeout: it is non-blocking in the loop and has
        # Python's own timeout while a request is answered
        self._toggle = self._tls or _TOGGLE
        if self._toggle:
            sock.setblocking(False)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        else:
            sockio.set_timeouts(sock, self._http.idle_timeout)
        self.input = SocketInput(sock, nonblocking=self._toggle)
        self.events = _READ
        self.handshaking = self._tls
        self.closed = False
        self._linger = False
        # read by the drain: waiting for a request's first byte since
        self.waiting, self.waiting_since = True, time.perf_counter()
        self.requestline = ""
        now = time.monotonic()
        self.deadline = now + (self._http.head_timeout if self._tls
                               else self._http.idle_timeout)
        self._head_deadline = math.inf
        self._start = 0.0
        self._status, self._sent = 0, 0
        server.reloader.connections.add(self)

    # -- in the loop -------------------------------------------------------

    def on_ready(self, events: int) -> None:
        """The socket is ready: goes on with the handshake, or reads and
        answers every whole request that arrived."""
        if self._waiter is not None:
            self._on_parked(events)
            return
        if self.unsent:  # the rest of an answer delivered elsewhere
            try:
                self._write(b"")
            except ClientDisconnected:
                self._close()
                return
            if self.close_after_unsent:
                self._close()
                return
        if self.handshaking:
            if not self._handshake():
                return
        self.input.fill()
        self._serve()

    def expire(self, now: float) -> None:
        """Ends the connection when its deadline passed (now: `inf`
        ends it whatever its deadline)."""
        if self.closed or now < self.deadline:
            return
        if self._waiter is not None:  # the server closes: a parked answer
            request, waiter = self._unpark()
            waiter.release()
            request.close_connection = True
            self._end(request)
        elif self.input.buf.strip(b"\r\n") and not self.handshaking and \
                now != math.inf:
            line = self.input.buf.lstrip(b"\r\n").split(b"\n", 1)
            if len(line) > 1:  # what was read, for the log
                self.requestline = line[0].rstrip(b"\r")[:200] \
                    .decode("latin-1")
            self.writes_wait = False  # (the sweep's: it must not wait)
            self._refuse(HTTPError(408, close=True))  # its head came late
        self._close()

    def _handshake(self) -> bool:
        try:
            self.sock.do_handshake()  # type: ignore[attr-defined]
        except (OSError, ValueError) as err:
            name = type(err).__name__
            if name in ("SSLWantReadError", "SSLWantWriteError"):
                events = _READ if name == "SSLWantReadError" else _WRITE
                if events != self.events:
                    self.events = events
                    self._loop.watch(self, events)
                return False
            self._close()  # a failed handshake only ends this connection
            return False
        self.handshaking = False
        self.deadline = time.monotonic() + self._http.idle_timeout
        if self.events != _READ:
            self.events = _READ
            self._loop.watch(self, _READ)
        return True

    def _serve(self) -> None:
        """Answers the requests whose heads are in the input; then waits
        in the loop for more (or ends the connection)."""
        while not self.closed:
            inbuf = self.input
            if not inbuf.buf and not inbuf.ended:
                self.waiting, self.waiting_since = True, time.perf_counter()
                self._head_deadline = math.inf
                self.deadline = time.monotonic() + self._http.idle_timeout
                return  # idle: wait in the loop
            if self._head_deadline == math.inf:
                self.waiting = False
                self._start = time.perf_counter()
                self._head_deadline = time.monotonic() + \
                    self._http.head_timeout
            try:
                found = split_head(inbuf.buf, self._http, ended=inbuf.ended,
                                   deadline=self._head_deadline)
            except HTTPError as err:
                self.requestline = err.request_line or "(no request line)"
                self._refuse(err)
                self._linger = err.code != 408
                self._close()
                return
            if found is None:
                if inbuf.ended:
                    self._close()  # the client left between requests
                else:
                    self.deadline = self._head_deadline  # more to come
                return
            head, length = found
            inbuf.take(length)
            self._head_deadline = math.inf
            self.deadline = math.inf  # answering: no deadline of the loop
            if self._loop.spent:
                self._refuse(HTTPError(
                    503, "The server is busy", close=True,
                    headers=[("Retry-After", "1")]), head)
                self._close()
                return
            stays = self._request(head)
            if stays is None:
                return  # its answer is parked
            if not stays:
                self._close()
                return
            if self._tls:
                inbuf.fill()  # OpenSSL may hold decrypted bytes already

    def _close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._loop.remove(self)
        try:
            if self._linger and sockio.linger_elsewhere(self.sock):
                return  # a lingering thread reads the rest, then closes
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except (OSError, ValueError):
                pass
            self.sock.close()
        finally:
            self.server.reloader.connections.discard(self)

    # -- one request -------------------------------------------------------

    def _request(self, head: RequestHead) -> bool | None:
        """Answers one request: whether the connection stays open; None
        when its answer is parked (the loop goes on with it)."""
        request = Request(self.server, head, self.client_address,
                          writer=self._write)
        self.requestline = request.requestline
        self._status, self._sent = 0, 0
        self.server._request_started()
        if self._toggle:
            self.sock.settimeout(max(self._http.idle_timeout, 0.001))
        parked = False
        try:
            parked = self._answer(request, head)
        finally:
            if not parked:
                self._end(request)
        return None if parked else not request.close_connection

    def _end(self, request: Request) -> None:
        """What follows every answer: the body's rest, uploads closed,
        the log line."""
        self._finish_body(request)
        body = request.body
        if body is not None and not body.finished:
            self._linger = request.close_connection
        self._close_files(request)
        self.server._request_finished()
        self._log(request)
        self.requestline = ""
        if self._toggle and not request.close_connection:
            try:
                self.sock.setblocking(False)
            except (OSError, ValueError):
                request.close_connection = True

    def _answer(self, request: Request, head: RequestHead) -> bool:
        """Answers `request`; True when the answer is parked (or was
        sent and ended by `_park_answer`)."""
        try:
            try:
                length = body_length(head)
                expect = (request.headers.get("expect") or "").lower()
                if expect and expect != "100-continue":
                    raise HTTPError(417)
            except HTTPError as err:
                self._send(request, finish(self.server, request,
                                           error_response(err)))
                return False
            request.body = Body(self.input, length,  # type: ignore[arg-type]
                                before_read=self._send_continue
                                if expect == "100-continue" else None)
            response = dispatch(self.server, request)
            if isinstance(response, WaitingResponse):
                if response.by_design:
                    request.wait_by_design(response.seconds)
                seconds = self._park_answer(request, response)
                if seconds is None:
                    return True  # parked: the loop goes on with it
                response = resolve(self.server, request, response, seconds)
            return self._send(request, response)
        except ClientDisconnected:
            request.close_connection = True  # the client's socket failed
        return False

    def _step_aside(self) -> None:
        self._loop.step_aside()

    def _refuse(self, err: HTTPError, head: RequestHead = _NO_HEAD) -> None:
        """Answers a request refused before any handler ran (a bad or late
        head, a spent pool) and logs it; the connection then closes."""
        request = Request(self.server, head, self.client_address)
        request.close_connection = True
        if head is not _NO_HEAD:
            self.requestline = request.requestline
        if not self._start:
            self._start = time.perf_counter()
        try:
            if self._toggle:
                self.sock.settimeout(1.0)
            self._send(request, extra_headers_filter(
                request, error_response(err)))
        except (ClientDisconnected, OSError, ValueError):
            pass
        self._log(request)

    def _send_continue(self) -> None:
        self._write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _finish_body(self, request: Request) -> None:
        body = request.body
        if body is None or body.finished or request.close_connection:
            return
        try:
            if not body.drain(self._http.drain_limit):
                request.close_connection = True
        except (HTTPError, OSError):
            request.close_connection = True

    @staticmethod
    def _close_files(request: Request) -> None:
        for upload in request.files.values():
            try:
                upload.close()
            except OSError:
                pass

    # -- logging -----------------------------------------------------------

    def log_elapsed_time_string(self, elapsed: float) -> str:
        return log.elapsed_string(elapsed)

    def log_size_string(self, size: int) -> str:
        return log.size_string(size)

    def _log(self, request: Request) -> None:
        elapsed = time.perf_counter() - self._start
        code, settings = self._status, self.server.settings.log
        self.server.observed.request(request, code, elapsed, self._sent)
        slow = settings.report_slow_requests and \
            elapsed > settings.slow_request + request.by_design
        if settings.suppress_noise and code in (200, 206, 304) and not slow:
            return
        headers, escape = request.headers, log.escape_control
        log.request(settings.log_format, {
            "client": self.client_address[0],
            "request": escape(request.masked(self.requestline)),
            "method": escape(request.command),
            "path": escape(request.masked(request.path)), "status": code,
            "size": self.log_size_string(self._sent), "bytes": self._sent,
            "ms": elapsed * 1000,
            "elapsed": self.log_elapsed_time_string(elapsed),
            "route": escape(request.route_name),
            "user_agent": escape(headers.get("user-agent") or "-"),
            "referer": escape(headers.get("referer") or "-")}, code, slow,
            method=request.command, path=request.path, seconds=elapsed,
            line=self.requestline)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.msg(log.escape_control(format % args))


def accept_connections(server: QuickServer, acceptor: Acceptor) -> None:
    """Accepts the connections waiting on the server's listening socket
    (on the loop), each into the loop."""
    loop = server._loop
    for _ in range(ACCEPT_BATCH):
        try:
            sock, address = acceptor.accept(server.socket)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            if err.errno in OUT_OF_RESOURCES:
                loop.pause_accepting(ACCEPT_BACKOFF)
                return
            continue  # (ECONNABORTED and the like: the next one)
        try:
            loop.add(Connection(server, sock, address))
        except Exception:  # pylint: disable=broad-except
            server.handle_error(sock, address)
            try:
                sock.close()
            except OSError:
                pass
