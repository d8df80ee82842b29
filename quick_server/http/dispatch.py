"""`dispatch(server, request) -> Response`: what a request gets.

It decides in a fixed order: a method we do not handle (501); OPTIONS
and CORS preflight; a route (guard, body, middleware, cache, handler);
a static file; the proxy; a single-page app's page for a browser's
deep link (`history`); 404. An `HTTPError` becomes its plain answer,
any other exception a 500 (the error page filter makes its body). Then
the server's answer filters run in the order they were registered (the
error page, the live-reload script, gzip, CORS, the extra headers), each a small function
of its own module: `filter(request, response) -> response`.

A `WaitingResponse` is returned as it is; the connection layer waits
for it and calls `resolve`. Nothing here touches a socket: exactly one
`Response` per request comes back, and only the connection layer
writes it."""
from __future__ import annotations

from typing import Any, Callable
from urllib.parse import urlsplit

from .. import log
from .body import split_target
from .request import Request
from .responses import HTTPError, Response, WaitingResponse, error_response
from .route_answers import route_name, run_route, to_response
from .file_answers import static_answer
from .history import fallback_target
from .hand_written import HandWritten
from .routing import MethodNotAllowed
from .wire import ClientDisconnected

AnswerFilter = Callable[[Request, Response], Response]
HANDLED_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))


def dispatch(server: Any, request: Request) -> Response:
    """The one answer to `request` (see the module's docstring)."""
    try:
        response = _decide(server, request)
    except Exception as exc:  # pylint: disable=broad-except
        response = _failed(request, exc)
    if isinstance(response, WaitingResponse):
        return response
    return finish(server, request, response)


def resolve(server: Any, request: Request, waiting: WaitingResponse,
            seconds: float) -> Response:
    """The answer a `WaitingResponse` makes, waiting at most `seconds`
    on the calling thread (0: at once), run through the filters."""
    try:
        try:
            answer = waiting.answer(seconds)
        finally:
            waiting.release()  # over, whatever the answer
        response = to_response(request, waiting.kind, answer)
    except Exception as exc:  # pylint: disable=broad-except
        response = _failed(request, exc)
    return finish(server, request, response)


def finish(server: Any, request: Request, response: Response) -> Response:
    """`response` with what the handler added (cookies) and through the
    server's answer filters (none for an answer written by hand)."""
    if response.already_sent:
        return response
    if request.extra_headers:
        response.headers.extend(request.extra_headers)
    for answer_filter in server._filters:
        response = answer_filter(request, response)
    return response


def _failed(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ClientDisconnected):
        raise exc  # the client's socket failed: nothing to answer
    if isinstance(request.answer, HandWritten) and \
            not request.answer.head_sent:
        request.answer = None  # nothing written yet: the 500 can go out
    if request.answer is not None:  # answered before it failed
        request.close_connection = True
        if not isinstance(exc, HTTPError):
            log.log_exception(f"error while answering "
                              f"{log.escape_control(request.requestline)!r}:")
        return request.answer
    if isinstance(exc, HTTPError):
        return error_response(exc)
    log.log_exception(f"error while answering "
                      f"{log.escape_control(request.requestline)!r}:")
    response = Response(b"", 500)
    response.error = exc
    return response


def _decide(server: Any, request: Request) -> Response:
    method = request.command
    if method not in HANDLED_METHODS:
        raise HTTPError(501, f"Method {method} is not supported")
    path, query, fragment = split_path(request)
    if method == "OPTIONS":
        request.route_name = "OPTIONS"
        return _options(server, request, path)
    try:
        found = server._routes.match(method, path)
    except MethodNotAllowed as err:
        # counted under the route of the path (the first it allows)
        known = server._routes.match(err.allowed[0], path)
        if known is not None:
            request.route_name = route_name(known[0])
        raise HTTPError(405, headers=[("Allow", ", ".join(err.allowed))]
                        ) from None
    if found is not None:
        return run_route(request, found[0], query, fragment, found[1],
                         found[2])
    if method in ("GET", "HEAD"):
        target = server._static.resolve(path, query)
        if target is not None:
            request.route_name = "static"
            if server.settings.dev.live_reload:
                server.reloader.served(target, path)
            return static_answer(request, target)
    forwarded = server._forward(request, path, query)
    if forwarded is not None:
        request.route_name = "proxy"
        return forwarded
    page = server.settings.static.spa_fallback
    target = fallback_target(server._static, page, method,
                             request.headers.get("accept"))
    if target is not None:
        request.route_name = "static"
        if server.settings.dev.live_reload:
            server.reloader.served(target, page)
        return static_answer(request, target)
    raise HTTPError(404)


def split_path(request: Request) -> tuple[str, str, str]:
    """The path, query and fragment of the request's target (an absolute
    target's path; `*` only for OPTIONS)."""
    target = request.path
    if not target.startswith("/"):
        if target.startswith(("http://", "https://")):
            parts = urlsplit(target)
            target = (parts.path or "/") + (
                "?" + parts.query if parts.query else "")
        elif not (target == "*" and request.command == "OPTIONS"):
            raise HTTPError(400, "Bad request target")
    return split_target(target)


def _options(server: Any, request: Request, path: str) -> Response:
    # a path no route knows may still be a file or go to the proxy
    methods = server._routes.allowed(path) or sorted(HANDLED_METHODS)
    if "OPTIONS" not in methods:
        methods.append("OPTIONS")
    headers = [("Allow", ", ".join(methods))]
    headers.extend(server._preflight_headers(request))
    return Response(b"", 204, None, headers)
