"""The media type rule of routes whose bodies are JSON only (services,
rpc): any other `Content-Type` is a 415 that says what to send."""
from __future__ import annotations

from typing import Any

from .responses import HTTPError


def is_json(ctype_header: str) -> bool:
    """Whether a `Content-Type` header names JSON (`application/json` or a
    `+json` type, any parameters); an empty one counts, since a body
    without a type is read as JSON."""
    ctype = ctype_header.split(";")[0].strip().lower()
    return not ctype or ctype == "application/json" or \
        ctype.endswith("+json")


def require_json(req: Any, what: str) -> None:
    """HTTPError 415 when request `req` declares a body that is not JSON;
    `what` names the requests in the message ("rpc requests")."""
    if not is_json(req.headers.get("content-type") or ""):
        raise HTTPError(415, f"{what} are JSON (Content-Type: "
                             f"application/json)")
