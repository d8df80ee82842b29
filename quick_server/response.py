"""What a handler can return or raise, and the bytes of a response head."""
from __future__ import annotations

import http
import time
from email.utils import formatdate
from typing import Any, Iterable

SERVER_NAME = "quick_server"


class HTTPError(Exception):
    """Ends a request with `code` and a short plain-text `message`.

    `close` also ends the connection: used when the request's framing can
    no longer be trusted (a body that was not read, a bad chunk)."""

    def __init__(self, code: int, message: str | None = None, *,
                 close: bool = False,
                 headers: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(message or reason(code))
        self.code = code
        self.message = message or reason(code)
        self.close = close
        self.headers = list(headers)


class PreventDefaultResponse(HTTPError):
    """Raised from a handler or middleware to answer with `code` and `msg`
    instead of the handler's normal result (quick_server's classic name)."""

    def __init__(self, code: int = 500, msg: str | None = None) -> None:
        super().__init__(code, msg)


class Response:
    """A handler result with its own status code and content type.

    `response` is converted like a plain return value of the route (JSON for
    json routes, text for text routes); bytes are sent unchanged."""

    def __init__(self, response: Any, code: int = 200,
                 ctype: str | None = None,
                 headers: Iterable[tuple[str, str]] = ()) -> None:
        self.response = response
        self.code = code
        self.ctype = ctype
        self.headers = list(headers)


_REASONS = {int(s): s.phrase for s in http.HTTPStatus}


def reason(code: int) -> str:
    """The standard reason phrase of a status code."""
    return _REASONS.get(code, "Unknown")


class _DateCache:
    """`Date` header value, formatted at most once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def get(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._value = formatdate(now, usegmt=True)
            self._second = now
        return self._value


_DATE = _DateCache()


def response_head(version: str, code: int,
                  headers: Iterable[tuple[str, str]]) -> bytes:
    """Status line, `Server`, `Date` and `headers` as wire bytes.

    Header values must already be free of CR and LF; `safe_header_value`
    makes sure of that for anything that came from a client."""
    lines = [f"{version} {code} {reason(code)}\r\n"
             f"Server: {SERVER_NAME}\r\nDate: {_DATE.get()}\r\n"]
    lines.extend(f"{name}: {value}\r\n" for name, value in headers)
    lines.append("\r\n")
    return "".join(lines).encode("latin-1", "replace")


def safe_header_value(value: str) -> str:
    """Removes the characters that could end a header line early."""
    return value.replace("\r", "").replace("\n", "").replace("\0", "")
