"""CORS headers and preflight answers (only when `cross_origin` is on).

A request with a well-formed `Origin` gets that origin reflected, with
credentials allowed; anything else gets `*` without credentials. Request
header values are only reflected after they were checked."""
from __future__ import annotations

import re
from typing import Any

_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+")
_HEADER_LIST = re.compile(r"[A-Za-z0-9\-_]+(\s*,\s*[A-Za-z0-9\-_]+)*")
METHODS = "GET, HEAD, POST, PUT, DELETE, OPTIONS"
MAX_AGE = "600"


def cors_headers(headers: Any) -> list[tuple[str, str]]:
    """The headers every response gets."""
    origin = headers.get("origin")
    if origin is not None and _ORIGIN.fullmatch(origin):
        return [("Access-Control-Allow-Origin", origin),
                ("Access-Control-Allow-Credentials", "true"),
                ("Vary", "Origin")]
    return [("Access-Control-Allow-Origin", "*")]


def preflight_headers(headers: Any) -> list[tuple[str, str]]:
    """What an `OPTIONS` preflight adds."""
    asked = headers.get("access-control-request-headers") or ""
    allow = asked.strip() if _HEADER_LIST.fullmatch(asked.strip()) \
        else "Content-Type"
    return [("Access-Control-Allow-Methods", METHODS),
            ("Access-Control-Allow-Headers", allow),
            ("Access-Control-Max-Age", MAX_AGE)]
