"""Answering from a route: run its guard, parse the `args`, run the
handler, and turn its return value into the `Response`."""
from __future__ import annotations

from types import CoroutineType
from typing import Any, Callable

from .file_answers import file_answer
from .files import FileResponse
from .request import Request
from .responses import JSON, Response, StreamResponse, WaitingResponse
from .rich_answers import HTML, is_page, is_picture, page, picture
from .routing import Route

TEXT_TYPES = {"text": "text/plain; charset=utf-8", "html": HTML}
BYTES_TYPES = {"html": "text/html"}  # else application/octet-stream


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
    they are; a picture (`savefig`) as PNG or SVG; else JSON for a json
    route (a page when JSON cannot write a value with `_repr_html_`), and
    for a text or html route a page (`_repr_html_`), else `str(value)`."""
    code, ctype = 200, None
    headers: list[tuple[str, str]] = []
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
        ctype = ctype or BYTES_TYPES.get(kind, "application/octet-stream")
    elif is_picture(result):
        body, ctype, more = picture(result, request.headers.get("accept"),
                                    ctype)
        headers = [*headers, *more]
    elif kind == "json":
        body, ctype = _json(request, result, ctype)
    else:
        made = None if isinstance(result, str) or not is_page(result) \
            else page(result)
        if made is not None:
            body, ctype = made, ctype or HTML
        else:
            body = str(result).encode("utf-8")
            ctype = ctype or TEXT_TYPES[kind]
    return Response(body, code, ctype, headers)


def _json(request: Request, result: Any, ctype: str | None
          ) -> tuple[bytes, str]:
    """The body and Content-Type of a json route's answer: JSON, or the
    page of a value with `_repr_html_` that JSON cannot write itself
    (a DataFrame, or what `json_default` writes, stays JSON)."""
    # the server's own when it has a `json_default` (`JsonApi`)
    writer = getattr(request.server, "_json_writer", None) or JSON
    try:
        return writer.body(result), ctype or "application/json"
    except TypeError as err:
        if not is_page(result) or _writes(writer.default, result):
            raise
        failure = err
    made = page(result)
    if made is None:  # its _repr_html_ has nothing either
        raise TypeError(f"Object of type {type(result).__name__} is not "
                        f"JSON serializable, and its _repr_html_ returned "
                        f"None") from failure
    return made, ctype or HTML


def _writes(default: Callable[[Any], Any], value: Any) -> bool:
    """Whether JSON writes `value` itself (what made writing fail is
    inside it)."""
    try:
        default(value)
    except TypeError:
        return False
    return True
