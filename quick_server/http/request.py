"""`Request`: one request as a route handler sees it (`req`).

It is a value built by the connection layer from a parsed head: method,
target, version, headers, client address, a body reader, cookies, and
the server. It holds no socket. What a handler adds to its answer
(cookies, `send_error`, a wait by design) is kept here for `dispatch`;
the original quick_server's `send_response` / `send_header` /
`end_headers` / `wfile` still work (see `hand_written`)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable

from .body import parse_body, parse_query
from .hand_written import HandWritten, HandWrittenBody
from .responses import HTTPError, Response, UnsafeHeader, error_response
from .routing import ReqArgs
from .wire import Body, Headers, RequestHead

if TYPE_CHECKING:
    from http.cookies import SimpleCookie


class Request:
    """The `req` every handler, guard and middleware gets. `command`
    (the method), `path` (the request target as sent), `headers`
    (case-insensitive), `client_address`, `server`, `request_version`;
    `send_cookie`, `send_error`, `wait_by_design`; `close_connection`
    says the connection ends after the answer."""

    # slots for speed; `__dict__` so that middleware may add its own
    __slots__ = ("server", "command", "path", "request_version", "headers",
                 "client_address", "body", "close_connection", "route_name",
                 "route_kind", "extra_headers", "files", "by_design",
                 "answer", "_writer", "log_secret", "failure", "__dict__")

    def __init__(self, server: Any, head: RequestHead,
                 client_address: tuple[Any, ...], body: Body | None = None,
                 writer: Callable[[bytes], None] | None = None) -> None:
        self.server = server
        self.command = head.method
        self.path = head.target
        self.request_version = head.version
        self.headers: Headers = head.headers
        self.client_address = client_address
        self.body = body
        self.close_connection = not head.keep_alive
        self.route_name = "(no route)"
        self.route_kind = ""  # "json", "text" or "html": a route answers
        self.extra_headers: list[tuple[str, str]] = []
        self.files: dict[str, Any] = {}
        self.by_design = 0.0  # seconds of waiting the client asked for
        self.answer: Response | None = None  # send_error's, or by hand
        self.log_secret: str | None = None  # masked in logs (`masked`)
        self.failure: BaseException | None = None  # what a 500 answered
        self._writer = writer

    def hide_in_log(self, secret: str) -> None:
        """Masks `secret` (a key the client sent in the URL) wherever the
        request is logged or shown (`masked`)."""
        self.log_secret = secret

    def masked(self, text: str) -> str:
        """`text` (the path, the request line) with the secret that
        `hide_in_log` named masked."""
        secret = self.log_secret
        return text.replace(secret, "***") if secret else text

    @property
    def requestline(self) -> str:
        return f"{self.command} {self.path} {self.request_version}"

    # -- what a handler reads ----------------------------------------------

    def request_args(self, query: str, fragment: str, paths: list[str],
                     segments: dict[str, str]) -> ReqArgs:
        """Parses the request into the `args` a handler receives."""
        args: ReqArgs = {
            "query": parse_query(query) if query else {},
            "fragment": fragment,
            "paths": paths,
            "segments": segments,
            "post": {},
            "files": {},
            "meta": {},
            "cookie": self.cookie(),
        }
        body = self.body
        if body is not None and not body.finished and \
                self.command not in ("GET", "HEAD"):
            ctype = self.headers.get("content-type") or ""
            multipart = ctype.lower().startswith("multipart/")
            http = self.server.settings.http
            limit = self.server._upload_limit if multipart else \
                http.max_body_size
            if body.length is not None and body.length > limit:
                raise HTTPError(413, close=True)
            body.limit = limit
            args["post"], self.files = parse_body(
                body, ctype, max_field_size=http.max_body_size,
                max_file_size=http.max_file_size,
                spool_threshold=http.spool_threshold)
            args["files"] = self.files
        return args

    def cookie(self) -> SimpleCookie | None:
        """The request's cookies (None without a valid `Cookie`)."""
        raw = self.headers.get("cookie")
        if raw is None:
            return None
        from http.cookies import CookieError, SimpleCookie  # on first use
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(raw)
        except CookieError:
            return None
        return cookie

    # -- what a handler adds -----------------------------------------------

    def send_cookie(self, cookie: SimpleCookie) -> None:
        """Adds `Set-Cookie` headers to the response of this request."""
        for morsel in cookie.values():
            self.extra_headers.append(("Set-Cookie", morsel.OutputString()))

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """Answers with an error status (the `http.server` API): it is
        this request's one response, a handler's return value is then
        ignored."""
        if self.answer is not None:
            self.close_connection = True  # as good as answered already
            return
        self.answer = error_response(HTTPError(code, message))

    def wait_by_design(self, seconds: float | None = None) -> None:
        """Says that this request waits by design, as its client asked
        (a long-poll's `wait`, an event stream): up to `seconds` (None: as
        long as it lasts) of its time is no slowness for
        `report_slow_requests`."""
        waits = math.inf if seconds is None else seconds
        if waits > self.by_design:  # NaN is no wait
            self.by_design = waits

    # -- an answer written by hand (the original API) ------------------------

    def send_response(self, code: int, message: str | None = None) -> None:
        """Starts a response written by hand (`send_header`, `end_headers`,
        then the body on `wfile`): it is this request's one response, and
        the connection closes after it (its framing is the caller's)."""
        if self._writer is None:
            raise RuntimeError("this request cannot be answered by hand")
        self._claim()
        self.close_connection = True
        self.answer = HandWritten(code, self._writer)

    def _hand(self) -> HandWritten:
        if not isinstance(self.answer, HandWritten):
            raise RuntimeError("call send_response() first")
        return self.answer

    def send_header(self, keyword: str, value: str) -> None:
        try:
            self._hand().send_header(keyword, value)
        except UnsafeHeader:
            self.answer = None  # nothing written: the request gets its 500
            raise

    def end_headers(self) -> None:
        self._hand().end_headers()

    @property
    def wfile(self) -> HandWrittenBody:
        return HandWrittenBody(self._hand())

    def _claim(self) -> None:
        if self.answer is not None:
            raise RuntimeError("a response was already sent")
