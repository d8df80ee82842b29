"""The dashboard's routes under its path: the page (one HTML file with
its own CSS and JS, no external assets), `status.json`, the live event
stream that pushes the status to open pages once a second (each push
carries only the requests that are new to that page), and the cancel
action. Access: `access.Access`."""
from __future__ import annotations

import os
import threading
from typing import Any

from ..http.errorpage import shows_details
from ..http.responses import EventStream, HTTPError, Response, to_json
from ..http.waiting import Signal
from .access import Access
from .status import status
from ..threads import make_thread

PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                    "dashboard.html")
TICK = 1.0  # seconds between two pushes to open pages
MAX_VIEWERS = 16  # open pages at once
KEY = "tick"


class Feed:
    """The pushes to open dashboard pages: a thread fires the signal
    every `TICK` seconds while at least one page listens."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.signal = Signal()
        self._lock = threading.Lock()
        self._viewers = 0
        self._ticking = False

    def stream(self, req: Any) -> EventStream:
        tracebacks = shows_details(req)
        with self._lock:
            if self._viewers >= MAX_VIEWERS:
                raise HTTPError(503, "Too many dashboards open",
                                headers=[("Retry-After", "5")])
            self._viewers += 1
            if not self._ticking:
                self._ticking = True
                make_thread(target=self._tick, daemon=True,
                            name="quick_server-dashboard").start()
        since = [0]

        def event() -> bytes | None:
            if self.server.draining:
                return None  # the server stops: the stream ends
            data = status(self.server, tracebacks, since[0])
            since[0] = data["last_request"]
            return b"event: status\ndata: " + to_json(data).encode() + \
                b"\n\n"
        first = event() or b""
        return EventStream(b"retry: 1000\n\n" + first, event, self.signal,
                           (KEY,), ping=b": ping\n\n", ping_every=15.0,
                           headers=[("Cache-Control", "no-cache"),
                                    ("X-Accel-Buffering", "no")],
                           on_close=self._gone)

    def _gone(self) -> None:
        with self._lock:
            self._viewers -= 1

    def _tick(self) -> None:
        pause = threading.Event()
        while True:
            pause.wait(TICK)
            with self._lock:
                if not self._viewers:
                    self._ticking = False
                    return
            self.signal.fire(KEY)


def page() -> Response:
    with open(PAGE, "rb") as handle:
        body = handle.read()
    return Response(body, 200, "text/html; charset=utf-8", [
        ("Cache-Control", "no-store"),
        ("Content-Security-Policy", "default-src 'none'; script-src "
         "'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
         "img-src data:"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer")])


def bind(server: Any, path: str, key: str | None) -> None:
    """The dashboard's routes under `path` on `server`."""
    base = "/" + path.strip("/")
    access = Access(key, base)
    feed = Feed(server)

    def cancel(req: Any, args: Any) -> Any:
        return {"cancelled": server._jobs is not None and
                server.workers.cancel_by_id(args["segments"]["id"])}
    routes = [
        ("GET", "text", base, lambda req, args: page(), access.check),
        ("GET", "json", base + "/status.json", lambda req, args: status(
            server, shows_details(req)), access.check),
        ("GET", "text", base + "/events",
         lambda req, args: feed.stream(req), access.check),
        ("POST", "json", base + "/jobs/:id/cancel", cancel,
         access.check_action),
    ]
    for method, kind, mask, handler, guard in routes:
        server.add_route(method, kind, mask, handler, 0, exclusive=False,
                         guard=guard)
