"""CORS headers and preflight answers, from the `cross_origin` setting.

- `False` (default): no CORS headers.
- `True` (or `"*"`): any site may read answers, without credentials
  (`Access-Control-Allow-Origin: *`): a page on another site cannot use
  the developer's cookies.
- a list of origins (or one origin), e.g. `["http://localhost:3000"]`:
  those origins, matched exactly, may read answers with credentials;
  other origins get no CORS headers.

Request header values are only reflected after they were checked."""
from __future__ import annotations

import re
from typing import Any, Iterable

from .responses import Response

_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?|"
                     r"https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
# header names separated by commas and optional SP/HTAB (RFC 9110 5.6.1):
# no other character may be reflected into a response header
_HEADER_LIST = re.compile(r"[A-Za-z0-9\-_]+([ \t]*,[ \t]*[A-Za-z0-9\-_]+)*")
METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
MAX_AGE = "600"
_ANY = [("Access-Control-Allow-Origin", "*")]
_VARY = [("Vary", "Origin")]


class CorsPolicy:
    """Which origins may read answers, parsed once from the setting."""

    def __init__(self, setting: bool | str | Iterable[str] | None) -> None:
        self.setting = setting
        self.any = setting is True or setting == "*"
        self.origins: frozenset[str] = frozenset()
        if self.any or not setting:
            return
        listed = [setting] if isinstance(setting, str) \
            else list(setting)  # type: ignore[arg-type]
        for origin in listed:
            if not isinstance(origin, str) or not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"cross_origin: {origin!r} is not an origin such as "
                    f"'http://localhost:3000' (scheme, host, optional port)")
        self.origins = frozenset(listed)

    def current(self, setting: Any) -> CorsPolicy:
        """This policy when it was parsed from `setting` (the very
        object), else the policy of `setting`: a server parses its
        `cross_origin` once per value, not once per request."""
        return self if setting is self.setting else CorsPolicy(setting)

    def headers(self, request_headers: Any) -> list[tuple[str, str]]:
        """The CORS headers of a response to a request with these
        headers."""
        if self.any:
            return _ANY
        if not self.origins:
            return []
        origin = request_headers.get("origin")
        if origin in self.origins:
            return [("Access-Control-Allow-Origin", origin),
                    ("Access-Control-Allow-Credentials", "true"),
                    ("Vary", "Origin")]
        return _VARY

    def preflight(self, request_headers: Any) -> list[tuple[str, str]]:
        """What an `OPTIONS` preflight adds, for an allowed origin."""
        if not self.any and \
                request_headers.get("origin") not in self.origins:
            return []
        asked = (request_headers.get("access-control-request-headers")
                 or "").strip(" \t")
        allow = asked if _HEADER_LIST.fullmatch(asked) else "Content-Type"
        return [("Access-Control-Allow-Methods", METHODS),
                ("Access-Control-Allow-Headers", allow),
                ("Access-Control-Max-Age", MAX_AGE)]


def cors_filter(req: Any, response: Response) -> Response:
    """The answer filter that adds the server's CORS headers (none while
    `cross_origin` is off)."""
    if not req.server.settings.http.cross_origin:
        return response  # off: nothing to add (the common case)
    fields = req.server._cors_headers(req)
    if fields:
        response.headers.extend(fields)
    return response
