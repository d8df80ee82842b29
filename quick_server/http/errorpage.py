"""Error pages: what a client sees when a handler raises.

`settings.dev.debug` (`server.debug`) says who sees the exception and
its traceback: `None` (the default) a client on this machine that no
proxy forwarded, or that a proxy on this machine forwarded for a client
on this machine (a dev proxy such as Vite's); `True` every client;
`False` no one. Details come as an HTML page to a client that accepts
HTML (a browser), as `{"error", "type", "traceback"}` to one that
accepts JSON or asked a JSON route, as plain text otherwise. Without
details the answer is the plain 500, in JSON (`{"error": "Internal
Server Error"}`) for a JSON client. Every value is escaped for its
format; messages and tracebacks are bounded in size."""
from __future__ import annotations

import ipaddress
import json
from typing import Any

from ..log import escape_control
from .livescript import SCRIPT_TAG
from .negotiation import accepted
from .responses import Response

Request = Any  # a `request.Request` (typed loosely: no import circle)


PLAIN = (b"Internal Server Error\n", "text/plain; charset=utf-8")
PLAIN_JSON = (b'{"error": "Internal Server Error"}', "application/json")
MAX_MESSAGE = 10_000  # characters of the exception's message shown
MAX_TRACEBACK = 200_000  # characters of the traceback shown
HTML_TYPES = ("text/html", "application/xhtml+xml")
# headers a proxy sets; those that name the client, in a list or alone
CLIENT_HEADERS = ("x-forwarded-for", "x-real-ip", "x-client-ip",
                  "true-client-ip")


def is_loopback(host: str) -> bool:
    """Whether a client address is this machine (127.0.0.0/8, ::1, and
    IPv4 loopback mapped into IPv6)."""
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def shows_details(req: Request) -> bool:
    """Whether this client may see the exception: `settings.dev.debug`
    when it is True or False, else whether the request comes from this
    machine."""
    debug = req.server.settings.dev.debug
    return is_local(req) if debug is None else bool(debug)


def is_local(req: Request) -> bool:
    """Whether a request comes from a client on this machine: a loopback
    peer, and every client that a proxy's headers name is on this machine
    too (a proxy on this machine makes every client look local). `Via`
    names no client, and a `Forwarded` element without `for` none known:
    such a request is not local."""
    headers = req.headers
    if not is_loopback(str(req.client_address[0])) or \
            headers.get("via") is not None:
        return False
    named = [item for name in CLIENT_HEADERS
             for value in headers.get_all(name) or ()
             for item in value.split(",")]
    for value in headers.get_all("forwarded") or ():
        for element in value.split(","):
            found = [pair.partition("=")[2] for pair in element.split(";")
                     if pair.partition("=")[0].strip().lower() == "for"]
            named.extend(found or [""])
    return all(is_loopback(_host(item)) for item in named)


def _host(item: str) -> str:
    """The address in a forwarding header's item: quotes, brackets and a
    port taken off (`"[::1]:5173"`, `127.0.0.1:80`)."""
    item = item.strip().strip('"').strip()
    if item.startswith("["):
        return item[1:].partition("]")[0]
    if item.count(":") == 1:
        return item.partition(":")[0]
    return item


def accepted_types(accept: str | None) -> set[str]:
    """The media types an `Accept` value names with a quality above 0."""
    return accepted(accept)


def page_format(req: Request) -> str:
    """"html", "json" or "text": what this client reads best."""
    types = accepted_types(req.headers.get("accept"))
    if types.intersection(HTML_TYPES):
        return "html"
    if any(media == "application/json" or media.endswith("+json")
           for media in types) or req.route_kind == "json":
        return "json"  # the route that answers (dispatch noted it)
    return "text"


def _bounded(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n... ({len(text) - limit} more characters)"


def error_filter(req: Request, response: Response) -> Response:
    """The answer filter that makes the page of a 500 that answers an
    exception (`response.error`)."""
    if response.error is not None and not response.response:
        req.failure = response.error  # (for the dashboard's list)
        response.response, response.ctype = error_page(req, response.error)
    return response


def error_page(req: Request, exc: BaseException | None
               ) -> tuple[bytes, str]:
    """The body and Content-Type answering `exc` (raised by a handler of
    `req`) with a 500."""
    form = page_format(req)
    if exc is None or not shows_details(req):
        return PLAIN_JSON if form == "json" else PLAIN
    kind = type(exc).__name__
    message = _bounded(str(exc), MAX_MESSAGE)
    import traceback  # loaded on first use
    trace = _bounded("".join(traceback.format_exception(
        type(exc), exc, exc.__traceback__)), MAX_TRACEBACK)
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


def _html(req: Request, kind: str, message: str,
          trace: str) -> bytes:
    import html  # loaded on first use
    esc, dev = html.escape, req.server.settings.dev
    why = "to every client because server.debug is True" \
        if dev.debug else "because you are on this machine; other " \
        "clients get a plain 500"
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>500 {esc(kind)}</title>
<style>body {{ font: 15px/1.4 system-ui, sans-serif; margin: 2em; }}
h1 {{ color: #b00020; font-size: 1.4em; }} pre {{ background: #f6f6f6;
padding: 1em; overflow: auto; }} .note {{ color: #666; }}</style></head>
<body><h1>{esc(kind)}: {esc(message)}</h1>
<p>while answering <code>{esc(escape_control(req.requestline))}</code></p>
<pre>{esc(trace)}</pre>
<p class="note">500 Internal Server Error. The traceback is shown {why}.
</p>
</body></html>
"""
    body = page.encode("utf-8", "replace")
    if dev.live_reload:  # the page reloads once the code is fixed
        body = body.replace(b"</body>", SCRIPT_TAG + b"</body>")
    return body
