"""The request handler: read a request, answer it from a route, a file or
the proxy, write exactly one response, log it.

All per-request state lives on the handler instance; settings are read
from `self.server.settings`. `send_payload` is the only place that writes
a response."""
from __future__ import annotations

import math
import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler
from io import BufferedReader
from typing import Any, Iterable, cast
from urllib.parse import urlsplit

from .. import log
from . import compress, errorpage as errors, sockio
from .body import split_target
from .wire import (Body, ClientDisconnected, Headers, RequestHead,
                      body_length, read_head)
from .responses import HTTPError, UnsafeHeader, header_lines, response_head
from .routing import MethodNotAllowed
from .file_answers import FileAnswers
from .route_answers import RouteAnswers, route_name

# the server this handler serves (typed loosely: the server imports this
# module, never the other way round)
QuickServer = Any

HANDLED_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
SMALL_BODY = 1 << 16
NO_BODY_CODES = (204, 304)


class QuickServerRequestHandler(RouteAnswers, FileAnswers,
                                 BaseHTTPRequestHandler):
    """Handles the requests of one connection (HTTP/1.1, keep-alive)."""

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
        self.server.reloader.connections.add(self)

    def handle(self) -> None:
        if isinstance(self.connection, ssl.SSLSocket):
            # a TLS socket reads through OpenSSL, which does not survive a
            # kernel read timeout: it gets Python's own timeouts
            try:
                self.connection.settimeout(self._http.head_timeout)
                self.connection.do_handshake()
                self.connection.settimeout(max(self._http.idle_timeout, 0.001))
            except (OSError, ValueError):
                return  # a failed handshake only ends this connection
        super().handle()

    def finish(self) -> None:
        try:
            super().finish()
            if self._linger:
                sockio.discard_input(self.connection)
        finally:
            self.server.reloader.connections.discard(self)

    # -- one request -------------------------------------------------------

    def handle_one_request(self) -> None:
        self._reset()
        try:
            head = self._read_head()
        except HTTPError as err:
            self.requestline = err.request_line or "(no request line)"
            self._try_send_error(err)
            # the rest of a bad request may still be on its way (not from a
            # client that stalled)
            self._linger = err.code != 408
            self._log()
            return
        if head is None:
            return
        self._begin(head)
        self.server._request_started()
        try:
            self._answer()
        finally:
            self._finish_body()
            if self.body is not None and not self.body.finished:
                self._linger = self.close_connection
            self._close_files()
            self.server._request_finished()
            self._log()

    def _read_head(self) -> RequestHead | None:
        """The next request head, within its deadline (HTTPError 408 when
        cut off); None when the client closed, idled out or failed."""
        deadlines = self.server.head_deadlines
        sock = self.connection
        expires = [0.0]

        def started(deadline: float) -> None:
            self.waiting = False
            self._start = time.perf_counter()  # not the idle time before
            expires[0] = deadline
            deadlines.add(sock, deadline)
        try:
            # a socket's makefile() is a BufferedReader (it can peek)
            return read_head(cast(BufferedReader, self.rfile),
                             self._http, started)
        except (OSError, ValueError):
            if expires[0] and time.monotonic() >= expires[0]:
                raise HTTPError(408, close=True) from None  # cut off (TLS)
            return None  # idle timeout, reset, or TLS failure
        finally:
            deadlines.discard(sock)

    def _reset(self) -> None:
        self.close_connection = True
        self.command = ""
        self.path = ""
        self.request_version = "HTTP/1.1"
        self.requestline = ""
        self.headers = Headers([])  # type: ignore[assignment]
        self.body: Body | None = None
        self.route_name = "(no route)"
        self._responded = False
        self._status = 0
        self._sent = 0
        self._extra_headers: list[tuple[str, str]] = []
        self._files: dict[str, Any] = {}
        self._by_design = 0.0  # seconds of waiting the client asked for
        self._start = time.perf_counter()
        self.waiting, self.waiting_since = True, self._start

    def _begin(self, head: RequestHead) -> None:
        self.command = head.method
        self.path = head.target
        self.request_version = head.version
        self.requestline = f"{head.method} {head.target} {head.version}"
        self.headers = head.headers  # type: ignore[assignment]
        self.close_connection = not head.keep_alive

    def _answer(self) -> None:
        try:
            length = body_length(self._head())
            expect = (self.headers.get("expect") or "").lower()
            if expect and expect != "100-continue":
                raise HTTPError(417)
            self.body = Body(self.rfile, length,
                             before_read=self._send_continue
                             if expect == "100-continue" else None)
            self._dispatch()
        except HTTPError as err:
            self._try_send_error(err)
        except ClientDisconnected:
            self.close_connection = True  # the client's socket failed
        except Exception:  # pylint: disable=broad-except
            self._internal_error()

    def _head(self) -> RequestHead:
        return RequestHead(self.command, self.path, self.request_version,
                           self.headers)  # type: ignore[arg-type]

    def _internal_error(self) -> None:
        log.log_exception(f"error while answering "
                          f"{log.escape_control(self.requestline)!r}:")
        if self._responded:
            self.close_connection = True
            return
        body, ctype = errors.error_page(self, sys.exc_info()[1])
        try:
            self.send_payload(500, body, ctype)
        except ClientDisconnected:
            self.close_connection = True

    def _send_continue(self) -> None:
        self._write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _finish_body(self) -> None:
        body = self.body
        if body is None or body.finished or self.close_connection:
            return
        try:
            if not body.drain(self._http.drain_limit):
                self.close_connection = True
        except (HTTPError, OSError):
            self.close_connection = True

    def _close_files(self) -> None:
        for upload in self._files.values():
            try:
                upload.close()
            except OSError:
                pass

    # -- dispatch ----------------------------------------------------------

    def _dispatch(self) -> None:
        method = self.command
        if method not in HANDLED_METHODS:
            raise HTTPError(501, f"Method {method} is not supported")
        path, query, fragment = self._split_path()
        if method == "OPTIONS":
            self.route_name = "OPTIONS"
            self._options(path)
            return
        try:
            found = self.server._routes.match(method, path)
        except MethodNotAllowed as err:
            # counted under the route of the path (the first it allows)
            known = self.server._routes.match(err.allowed[0], path)
            if known is not None:
                self.route_name = route_name(known[0])
            raise HTTPError(405, headers=[("Allow", ", ".join(err.allowed))]
                            ) from None
        if found is not None:
            self._run_route(found[0], query, fragment, found[1], found[2])
            return
        if method in ("GET", "HEAD"):
            target = self.server._static.resolve(path, query)
            if target is not None:
                self.route_name = "static"
                if self.server.settings.dev.live_reload:
                    self.server.reloader.served(target, path)
                self._serve_static(target)
                return
        if self.server._forward(self, path, query):
            self.route_name = "proxy"
            return
        raise HTTPError(404)

    def _split_path(self) -> tuple[str, str, str]:
        target = self.path
        if not target.startswith("/"):
            if target.startswith(("http://", "https://")):
                parts = urlsplit(target)
                target = (parts.path or "/") + (
                    "?" + parts.query if parts.query else "")
            elif not (target == "*" and self.command == "OPTIONS"):
                raise HTTPError(400, "Bad request target")
        return split_target(target)

    def _options(self, path: str) -> None:
        # a path no route knows may still be a file or go to the proxy
        methods = self.server._routes.allowed(path) or sorted(HANDLED_METHODS)
        if "OPTIONS" not in methods:
            methods.append("OPTIONS")
        headers = [("Allow", ", ".join(methods))]
        headers.extend(self.server._preflight_headers(self))
        self.send_payload(204, headers=headers)

    # -- writing -----------------------------------------------------------

    def _try_send_error(self, err: HTTPError) -> None:
        if err.close:
            self.close_connection = True
        if self._responded:
            self.close_connection = True
            return
        try:
            self.send_payload(err.code, f"{err.message}\n".encode("utf-8"),
                              "text/plain; charset=utf-8", err.headers)
        except ClientDisconnected:
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """Answers with an error status (the `http.server` API): it is
        this request's one response, a handler's return value is then
        ignored."""
        self._try_send_error(HTTPError(code, message))

    def send_response(self, code: int, message: str | None = None) -> None:
        """Starts a response written by hand (`send_header`, `end_headers`,
        then the body on `wfile`): it is this request's one response, and
        the connection closes after it (its framing is the caller's)."""
        if self._responded:
            raise RuntimeError("a response was already sent")
        self._responded = True
        self._status = code
        self.close_connection = True
        super().send_response(code, message)

    def send_header(self, keyword: str, value: str) -> None:
        try:
            header_lines([(keyword, value)])
        except UnsafeHeader:
            # nothing was written yet: the request can still get its 500
            self._headers_buffer: list[bytes] = []
            self._responded = False
            raise
        super().send_header(keyword, value)

    def _body_will_be_read(self) -> bool:
        body = self.body
        if body is None or body.finished:
            return True
        if not body.started or body.length is None:
            return False
        return body.length - body.consumed <= self._http.drain_limit

    def send_payload(self, code: int, body: bytes = b"",
                     ctype: str | None = None,
                     headers: Iterable[tuple[str, str]] = (), *,
                     file: tuple[int, int, int] | None = None,
                     formed: bool = False) -> None:
        """Writes the one response of this request: headers and a small
        body in a single send; a file with zero-copy `sendfile`. A
        `formed` body (a static file's: compressed and given the
        live-reload script already, or not to be) is sent as it is."""
        if self._responded:
            raise RuntimeError("a response was already sent")
        if not self._body_will_be_read():
            self.close_connection = True
        if file is None and not formed and ctype is not None and (
                self.server.settings.dev.live_reload or
                len(body) >= self._http.compress_min_size):
            body, headers = compress.payload(self, code, body, ctype, headers)
        length = file[2] - file[1] if file is not None else len(body)
        fields: list[tuple[str, str]] = []
        if ctype is not None:
            fields.append(("Content-Type", ctype))
        if code not in NO_BODY_CODES:
            fields.append(("Content-Length", str(length)))
        fields.extend(self.server._cors_headers(self))
        fields.extend(self._extra_headers)
        fields.extend(headers)
        fields.extend(self._connection_header())
        try:
            head = response_head("HTTP/1.1", code, fields)
        except UnsafeHeader as err:
            self._refuse_unsafe(err)
            return
        self._responded = True
        self._status = code
        with_body = self.command != "HEAD" and code not in NO_BODY_CODES
        if not with_body:
            self._write(head)
            return
        if file is not None:
            self._write(head)
            fd, start, end = file
            sent = sockio.sendfile(self.connection, fd, start, end - start,
                                   self._http.idle_timeout)
            self._sent = sent
            if sent != end - start:
                self.close_connection = True  # the file shrank meanwhile
            return
        self._sent = len(body)
        if len(body) <= SMALL_BODY:
            self._write(head + body)
        else:
            self._write(head)
            self._write(body)

    def _connection_header(self) -> list[tuple[str, str]]:
        if self.close_connection or self.server.draining:
            self.close_connection = True  # a stopping server's last answer
            return [("Connection", "close")]
        if self.request_version == "HTTP/1.0":
            return [("Connection", "keep-alive")]
        return []

    def _refuse_unsafe(self, err: UnsafeHeader) -> None:
        """A response whose head would be unsafe becomes a plain 500 (its
        extra headers dropped); the reason goes to the log."""
        log.msg("answering {0!r} with 500: {1}",
                log.escape_control(self.requestline),
                log.escape_control(str(err)))
        self._extra_headers = []
        self.send_payload(500, b"Internal Server Error\n",
                          "text/plain; charset=utf-8")

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
        except (OSError, ValueError) as err:
            raise ClientDisconnected(f"writing the response: {err}") \
                from err

    def start_stream(self, code: int, headers: list[tuple[str, str]]) -> None:
        """Sends only a response head, for bodies streamed with
        `self.wfile` afterwards (the proxy); the caller frames the body.
        An event stream (`text/event-stream`) waits by design."""
        if self._responded:
            raise RuntimeError("a response was already sent")
        fields = list(headers)
        if any(name.lower() == "content-type" and value.lower().startswith(
                "text/event-stream") for name, value in fields):
            self.wait_by_design()  # an event stream lasts by design
        if self._http.cross_origin:  # our policy, not the target's
            fields = [(name, value) for name, value in fields
                      if not name.lower().startswith("access-control-")]
        fields.extend(self.server._cors_headers(self))
        fields.extend(self._connection_header())
        head = response_head("HTTP/1.1", code, fields)
        self._responded = True
        self._status = code
        self._write(head)

    def wait_by_design(self, seconds: float | None = None) -> None:
        """Says that this request waits by design, as its client asked
        (a long-poll's `wait`, an event stream): up to `seconds` (None: as
        long as it lasts) of its time is no slowness for
        `report_slow_requests`."""
        waits = math.inf if seconds is None else seconds
        if waits > self._by_design:  # NaN is no wait
            self._by_design = waits

    def add_sent(self, count: int) -> None:
        """Counts streamed body bytes for the request log."""
        self._sent += count

    # -- logging -----------------------------------------------------------

    def log_elapsed_time_string(self, elapsed: float) -> str:
        return log.elapsed_string(elapsed)

    def log_size_string(self, size: int) -> str:
        return log.size_string(size)

    def _log(self) -> None:
        elapsed = time.perf_counter() - self._start
        code, settings = self._status, self.server.settings.log
        self.server.stats.record(self.route_name, code)
        slow = settings.report_slow_requests and \
            elapsed > settings.slow_request + self._by_design
        if settings.suppress_noise and code in (200, 206, 304) and not slow:
            return
        headers, escape = self.headers, log.escape_control
        log.request(settings.log_format, {
            "client": self.client_address[0],
            "request": escape(self.requestline), "method": escape(self.command),
            "path": escape(self.path), "status": code,
            "size": self.log_size_string(self._sent), "bytes": self._sent,
            "ms": elapsed * 1000,
            "elapsed": self.log_elapsed_time_string(elapsed),
            "route": escape(self.route_name),
            "user_agent": escape(headers.get("user-agent") or "-"),
            "referer": escape(headers.get("referer") or "-")}, code, slow)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.msg(log.escape_control(format % args))
