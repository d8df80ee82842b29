"""Headers on every answer: `settings.http.extra_headers`
(`server.extra_headers = {"Cross-Origin-Opener-Policy": "same-origin"}`,
`--header "Name: value"`), as Vite's `server.headers`.

The answer filter runs after every other (CORS, gzip), so what it adds
is final: an extra header replaces a field of the same name that the
answer set (a file's `Cache-Control`, a route's own), because it was
asked for on every answer; `Vary` and `Set-Cookie` are lists and are
added next to the answer's own instead (replacing them would break a
cache's choice between gzip and plain bodies, or a login). Names the
server writes itself (framing, `Content-Type`, `Content-Encoding`,
`Date`, `Server`) are refused when the setting is set, and every value
goes through the one header validator (`responses.header_lines`)."""
from __future__ import annotations

import reprlib
from typing import Any

from .responses import Response, UnsafeHeader, header_lines

# written by the server for each answer: an extra value would contradict
# the body's framing or coding
RESERVED = frozenset((
    "connection", "content-encoding", "content-length", "content-range",
    "content-type", "date", "keep-alive", "proxy-connection", "server",
    "te", "trailer", "transfer-encoding", "upgrade"))
# list-valued fields: added next to the answer's own
ADDED = frozenset(("vary", "set-cookie"))


def check_extra_headers(value: Any, label: str) -> Any:
    """`value` when it is a dict of header names to values that can go
    on every answer; TypeError or ValueError naming `label` otherwise."""
    what = "a dict of header names to values ({'Name': 'value'})"
    if not isinstance(value, dict):
        raise TypeError(f"{label} must be {what}, got {reprlib.repr(value)}")
    seen: dict[str, str] = {}
    for name, field in value.items():
        if not isinstance(name, str) or not isinstance(field, str):
            raise TypeError(f"{label} must be {what}: names and values are "
                            f"strings, got {name!r}: {reprlib.repr(field)}")
        problem = field_problem(name, field)
        if problem is None and name.lower() in seen:
            problem = f"{seen[name.lower()]!r} and {name!r} name the same " \
                "header"
        if problem is not None:
            raise ValueError(f"{label} must be {what}: {problem}")
        seen[name.lower()] = name
    return value


def field_problem(name: str, value: str) -> str | None:
    """What keeps the header `name: value` off every answer (None: it
    may go): a name that is not a token, a control character in the
    value, a name the server writes itself."""
    try:
        header_lines([(name, value)])
    except UnsafeHeader as err:
        return str(err)
    if name.lower() in RESERVED:
        return f"{name} is written by the server itself"
    return None


def parse_header(text: str) -> tuple[str, str]:
    """`"Name: value"` (a `--header` option) -> `(name, value)`, the
    blanks around the value taken off. ValueError without a colon or a
    name; the name and value are checked with the setting."""
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise ValueError(f"--header {text!r} is not 'Name: value'")
    return name, value.strip(" \t")


def extra_headers_filter(req: Any, response: Response) -> Response:
    """The answer filter that puts the server's `extra_headers` on every
    answer (see the module's docstring); the last filter."""
    extra = req.server.settings.http.extra_headers
    if not extra:
        return response  # none (the common case)
    names = {name.lower() for name in extra} - ADDED
    headers = [field for field in response.headers
               if field[0].lower() not in names]
    headers.extend(extra.items())
    response.headers = headers
    return response
