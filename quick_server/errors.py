"""Error pages: what a client sees when a handler raises.

A client on this machine (or any client with `server.debug = True`) gets
the exception and its traceback: an HTML page when it accepts HTML (a
browser), `{"error", "type", "traceback"}` when it accepts JSON or asked
a JSON route, plain text otherwise. Everything else gets the plain 500.
Every value is escaped for its format; messages and tracebacks are
bounded in size."""
from __future__ import annotations

import html
import ipaddress
import json
import traceback
from typing import TYPE_CHECKING

from .log import escape_control
from .reload import SCRIPT_TAG
from .response import HTTPError
from .routes import MethodNotAllowed

if TYPE_CHECKING:
    from .handler import QuickServerRequestHandler

PLAIN = (b"Internal Server Error\n", "text/plain; charset=utf-8")
MAX_MESSAGE = 10_000  # characters of the exception's message shown
MAX_TRACEBACK = 200_000  # characters of the traceback shown
HTML_TYPES = ("text/html", "application/xhtml+xml")


def is_loopback(host: str) -> bool:
    """Whether a client address is this machine (127.0.0.0/8, ::1, and
    IPv4 loopback mapped into IPv6)."""
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def shows_details(req: QuickServerRequestHandler) -> bool:
    """Whether this client may see the exception: `server.debug`, or a
    client on this machine that no proxy forwarded (a local reverse proxy
    makes every client look local)."""
    if req.server.debug:
        return True
    headers = req.headers
    return is_loopback(str(req.client_address[0])) and \
        headers.get("forwarded") is None and \
        headers.get("x-forwarded-for") is None


def accepted_types(accept: str | None) -> set[str]:
    """The media types an `Accept` value names with a quality above 0."""
    types = set()
    for item in (accept or "").lower().split(","):
        media, *params = item.split(";")
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0 and media.strip():
            types.add(media.strip())
    return types


def page_format(req: QuickServerRequestHandler) -> str:
    """"html", "json" or "text": what this client reads best."""
    types = accepted_types(req.headers.get("accept"))
    if types.intersection(HTML_TYPES):
        return "html"
    if any(media == "application/json" or media.endswith("+json")
           for media in types) or _route_kind(req) == "json":
        return "json"
    return "text"


def _route_kind(req: QuickServerRequestHandler) -> str:
    path = req.path.split("?", 1)[0].split("#", 1)[0]
    try:
        found = req.server.routes.match(req.command, path)
    except (MethodNotAllowed, HTTPError, ValueError):
        return ""
    return found[0].kind if found is not None else ""


def _bounded(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n... ({len(text) - limit} more characters)"


def error_page(req: QuickServerRequestHandler, exc: BaseException | None
               ) -> tuple[bytes, str]:
    """The body and Content-Type answering `exc` (raised by a handler of
    `req`) with a 500."""
    if exc is None or not shows_details(req):
        return PLAIN
    kind = type(exc).__name__
    message = _bounded(str(exc), MAX_MESSAGE)
    trace = _bounded("".join(traceback.format_exception(
        type(exc), exc, exc.__traceback__)), MAX_TRACEBACK)
    form = page_format(req)
    if form == "json":
        body = json.dumps({"error": message, "type": kind,
                           "traceback": trace})
        return body.encode(), "application/json"
    message, trace = _printable(message), _printable(trace)
    if form == "html":
        return _html(req, kind, message, trace), "text/html; charset=utf-8"
    text = f"500 Internal Server Error\n{kind}: {message}\n\n{trace}"
    return text.encode("utf-8", "replace"), "text/plain; charset=utf-8"


def _printable(text: str) -> str:
    """`text` with control characters (a terminal's escape codes) written
    as `\\xNN`, line breaks kept."""
    return "\n".join(escape_control(line) for line in text.split("\n"))


def _html(req: QuickServerRequestHandler, kind: str, message: str,
          trace: str) -> bytes:
    esc = html.escape
    why = "server.debug is on" if req.server.debug else \
        "you are on this machine"
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>500 {esc(kind)}</title>
<style>body {{ font: 15px/1.4 system-ui, sans-serif; margin: 2em; }}
h1 {{ color: #b00020; font-size: 1.4em; }} pre {{ background: #f6f6f6;
padding: 1em; overflow: auto; }} .note {{ color: #666; }}</style></head>
<body><h1>{esc(kind)}: {esc(message)}</h1>
<p>while answering <code>{esc(escape_control(req.requestline))}</code></p>
<pre>{esc(trace)}</pre>
<p class="note">500 Internal Server Error. The traceback is shown because
{why}; other clients get a plain 500.</p>
</body></html>
"""
    body = page.encode("utf-8", "replace")
    if req.server.live_reload:  # the page reloads once the code is fixed
        body = body.replace(b"</body>", SCRIPT_TAG + b"</body>")
    return body
