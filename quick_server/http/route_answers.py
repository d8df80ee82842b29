"""How the request handler answers from a route: the `args` a handler
gets, cookies, and turning its return value into the response (a mixin
of the handler)."""
from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any, Iterable

from .body import parse_body, parse_query
from .files import FileResponse
from .responses import HTTPError, Response, to_json
from .routing import ReqArgs, Route
from .wire import Body


def route_name(route: Route) -> str:
    """How logs and exit statistics name a route: `GET /api/x`."""
    return f"{route.method} {route.mask}"


class RouteAnswers:
    """`request_args`, `send_cookie`, `send_result`."""

    if TYPE_CHECKING:  # what the request handler provides
        server: Any
        headers: Any  # wire.Headers
        command: str
        body: Body | None
        route_name: str
        _http: Any
        _files: dict[str, Any]
        _extra_headers: list[tuple[str, str]]
        _responded: bool

        def send_payload(self, code: int, body: bytes = b"",
                         ctype: str | None = None,
                         headers: Iterable[tuple[str, str]] = (), *,
                         file: tuple[int, int, int] | None = None,
                         formed: bool = False) -> None: ...

        def send_file(self, response: FileResponse) -> None: ...

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
            "cookie": self._cookie(),
        }
        body = self.body
        if body is not None and not body.finished and \
                self.command not in ("GET", "HEAD"):
            ctype = self.headers.get("content-type") or ""
            multipart = ctype.lower().startswith("multipart/")
            http = self._http
            limit = self.server._upload_limit if multipart else \
                http.max_body_size
            if body.length is not None and body.length > limit:
                raise HTTPError(413, close=True)
            body.limit = limit
            args["post"], self._files = parse_body(
                body, ctype, max_field_size=http.max_body_size,
                max_file_size=http.max_file_size,
                spool_threshold=http.spool_threshold)
            args["files"] = self._files
        return args

    def _cookie(self) -> SimpleCookie | None:
        raw = self.headers.get("cookie")
        if raw is None:
            return None
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(raw)
        except CookieError:
            return None
        return cookie

    def send_cookie(self, cookie: SimpleCookie) -> None:
        """Adds `Set-Cookie` headers to the response of this request."""
        for morsel in cookie.values():
            self._extra_headers.append(("Set-Cookie", morsel.OutputString()))

    def _run_route(self, route: Route, query: str, fragment: str,
                   paths: list[str], segments: dict[str, str]) -> None:
        self.route_name = route_name(route)
        if route.guard is not None:
            route.guard(self)  # before a byte of the body is read
        args = self.request_args(query, fragment, paths, segments)
        with self.server._serial(route):
            result = route.handler(self, args)
        self.send_result(route.kind, result)

    def send_result(self, kind: str, result: Any) -> None:
        """Answers with a handler's return value (or `Response`)."""
        if self._responded:
            if isinstance(result, FileResponse):
                result.release()
            return
        code, ctype = 200, None
        headers: Iterable[tuple[str, str]] = ()
        if isinstance(result, Response):
            if isinstance(result, FileResponse):
                self.send_file(result)
                return
            code, ctype, headers = result.code, result.ctype, result.headers
            result = result.response
        if isinstance(result, (bytes, bytearray, memoryview)):
            body = bytes(result)
            ctype = ctype or "application/octet-stream"
        elif kind == "json":
            body = to_json(result).encode("utf-8")
            ctype = ctype or "application/json"
        else:
            body = str(result).encode("utf-8")
            ctype = ctype or "text/plain; charset=utf-8"
        self.send_payload(code, body, ctype, headers)
