"""Answering from a route: run its guard, parse the `args`, run the
handler, and turn its return value into the `Response`."""
from __future__ import annotations

from types import CoroutineType
from typing import Any

from .file_answers import file_answer
from .files import FileResponse
from .request import Request
from .responses import JSON, Response, StreamResponse, WaitingResponse
from .routing import Route


def route_name(route: Route) -> str:
    """How logs and exit statistics name a route: `GET /api/x`."""
    return route.name


def run_route(request: Request, route: Route, query: str, fragment: str,
              paths: list[str], segments: dict[str, str]) -> Response:
    """The answer of `route` to `request`."""
    request.route_name = route_name(route)
    request.route_kind = route.kind
    if route.guard is not None:
        route.guard(request)  # before a byte of the body is read
    args = request.request_args(query, fragment, paths, segments)
    with request.server._serial(route):
        result = route.handler(request, args)
    if isinstance(result, CoroutineType):  # an `async def` handler
        waiting = request.server._coroutines.awaiting(
            result, lambda value: _answered(request, value))
        waiting.kind = route.kind
        return waiting
    if request.answer is not None:
        return _answered(request, result)
    return to_response(request, route.kind, result)


def _answered(request: Request, result: Any) -> Any:
    """What answers: the answer a handler made itself (`send_error`, or
    written by hand), else its `result`."""
    if request.answer is None:
        return result
    if isinstance(result, Response):
        result.release()
    return request.answer


def to_response(request: Request, kind: str, result: Any) -> Response:
    """A handler's return value (or `Response`) as the answer: bytes as
    they are, else JSON for a json route and text for a text route."""
    code, ctype = 200, None
    headers: list[tuple[str, str]] | tuple[()] = ()
    if isinstance(result, Response):
        if result.already_sent:  # written by hand (in an async handler)
            return result
        if isinstance(result, FileResponse):
            return file_answer(request, result)
        if isinstance(result, WaitingResponse):
            result.kind = kind  # what its value becomes once it comes
            return result
        if isinstance(result, StreamResponse):
            return result
        code, ctype, headers = result.code, result.ctype, result.headers
        result = result.response
    if isinstance(result, (bytes, bytearray, memoryview)):
        body = bytes(result)
        ctype = ctype or "application/octet-stream"
    elif kind == "json":
        # the server's own when it has a `json_default` (`JsonApi`)
        writer = getattr(request.server, "_json_writer", None) or JSON
        body = writer.body(result)
        ctype = ctype or "application/json"
    else:
        body = str(result).encode("utf-8")
        ctype = ctype or "text/plain; charset=utf-8"
    return Response(body, code, ctype, headers)
