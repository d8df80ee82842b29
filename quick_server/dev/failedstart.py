"""A restarted program that fails to start: an edit that compiles but
raises as the program starts (a NameError at import).

The traceback is printed, and until a source file changes every request
is answered at once with a 503 and `Retry-After` that shows the error, as
a bundler's error overlay does: a page for a browser, `{"error": ...}` for
a JSON client, the exception and its traceback only for the clients that
error pages show them to. Pages with live reload reload to it, and reload
again once the next save started the program. The listening sockets that
`restart` handed to this process answer meanwhile, and are handed on to
the next one, so no connection is refused or lost.

Installed when quick_server is imported by a restarted process; the
program counts as started once a server began serving."""
from __future__ import annotations

import html
import json
import os
import sys
import threading
import time
import traceback
from typing import Any, Callable

from .. import log
from . import restart
from ..http import errorpage as errors
from .reloader import announce_restart
from .watching import POLL_INTERVAL, SourceWatcher
from ..http.livescript import SCRIPT_TAG
from ..http.responses import HTTPError
from ..http.routing import METHODS
from ..server import QuickServer, create_server
from ..threads import make_thread

RETRY_AFTER = "1"  # seconds a client is asked to wait before asking again
STOP_GRACE = 2.0  # seconds an answer in progress gets once a fix came
NO_DETAILS = ("The server's program failed to start; it starts again "
              "when its source is fixed.")
ExceptHook = Callable[[type[BaseException], BaseException, Any], None]


def _printable(text: str, limit: int) -> str:
    """`text` cut at `limit` characters, its control characters (a
    terminal's escape codes) written as `\\xNN`, line breaks kept."""
    if len(text) > limit:
        text = f"{text[:limit]}\n... ({len(text) - limit} more characters)"
    return "\n".join(log.escape_control(line) for line in text.split("\n"))


class StartFailure:
    """The exception that ended the program's start, as each client may
    see it."""

    def __init__(self, value: BaseException, trace: Any) -> None:
        self.kind = type(value).__name__
        self.message = _printable(str(value), errors.MAX_MESSAGE)
        self.trace = _printable("".join(traceback.format_exception(
            type(value), value, trace)), errors.MAX_TRACEBACK)

    @property
    def headline(self) -> str:
        return f"{self.kind}: {self.message}"

    def page(self, req: Any) -> tuple[bytes, str]:
        """The body and Content-Type answering `req`: the error and its
        traceback when error pages would show them to this client, else
        only that the program failed to start; JSON for a client that
        accepts it or sends it."""
        details = errors.shows_details(req)
        form = errors.page_format(req)
        ctype = (req.headers.get("content-type") or "").lower()
        if form == "text" and "json" in ctype.split(";")[0]:
            form = "json"  # no route says what it answers: the body does
        if form == "json":
            body: dict[str, str] = {"error": NO_DETAILS}
            if details:
                body = {"error": f"The program failed to start: "
                                 f"{self.headline}",
                        "type": self.kind, "traceback": self.trace}
            return json.dumps(body).encode(), "application/json"
        if form == "html":
            return self._html(details), "text/html; charset=utf-8"
        text = f"503 Service Unavailable\n{NO_DETAILS}\n"
        if details:
            text = ("503 Service Unavailable\nThe program failed to start: "
                    f"{self.headline}\n\n{self.trace}")
        return text.encode("utf-8", "replace"), "text/plain; charset=utf-8"

    def _html(self, details: bool) -> bytes:
        esc = html.escape
        if details:
            title = esc(self.kind)
            main = (f"<h1>{esc(self.headline)}</h1>\n<p>The program failed "
                    f"to start. This page reloads once a source file "
                    f"changes.</p>\n<pre>{esc(self.trace)}</pre>\n"
                    f"<p class=\"note\">503 Service Unavailable. The "
                    f"traceback is shown because you are on this machine; "
                    f"other clients see only that the program failed to "
                    f"start.</p>")
        else:
            title = "Service Unavailable"
            main = f"<h1>503 Service Unavailable</h1>\n<p>{NO_DETAILS}</p>"
        page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>503 {title}</title>
<style>body {{ font: 15px/1.4 system-ui, sans-serif; margin: 2em; }}
h1 {{ color: #b00020; font-size: 1.4em; }} pre {{ background: #f6f6f6;
padding: 1em; overflow: auto; }} .note {{ color: #666; }}</style></head>
<body>{main}
{SCRIPT_TAG.decode()}</body></html>
"""
        return page.encode("utf-8", "replace")

    def answer(self, req: Any) -> None:
        """A route guard that answers every request with the 503, before a
        byte of its body is read (the connection then closes)."""
        raise HTTPError(503, close=True, page=self.page(req),
                        headers=[("Retry-After", RETRY_AFTER),
                                 ("Cache-Control", "no-store")])


def _unreachable(req: Any, args: Any) -> None:
    raise AssertionError("the guard answers every request")


class FailureServers:
    """A server on each listening socket of this process that answers
    every request with the failure (and serves live reload)."""

    def __init__(self, failure: StartFailure) -> None:
        self.servers: list[QuickServer] = []
        self._threads: list[threading.Thread] = []
        for sock in restart.release_listeners():
            try:
                self.servers.append(self._server(sock.getsockname()[:2],
                                                 failure))
            except Exception:  # pylint: disable=broad-except
                log.log_exception(f"cannot answer on {sock.getsockname()}:")
        for server in self.servers:  # once every socket is adopted
            thread = make_thread(target=server.serve_forever,
                                 name="quick_server-failed-start",
                                 daemon=True)
            thread.start()
            self._threads.append(thread)

    @staticmethod
    def _server(address: tuple[str, int], failure: StartFailure
                ) -> QuickServer:
        server = create_server(address)  # adopts the socket
        server.no_command_loop = True
        server.live_reload = True
        server.shutdown_grace = STOP_GRACE
        for method in METHODS:
            server.add_route(method, "text", "/", _unreachable,
                             exclusive=False, guard=failure.answer)
        return server

    def close(self, restarting: bool) -> None:
        """Stops answering; the sockets go to the next process when
        `restarting` (a restart was requested before), else they close."""
        for server in self.servers:
            server.stop("restart" if restarting else "quit")
        for thread in self._threads:
            thread.join(STOP_GRACE + 5)
        for server in self.servers:
            server.server_close()


def _traceback_files(trace: Any) -> list[str]:
    return [frame.filename for frame in traceback.extract_tb(trace)
            if os.path.isfile(frame.filename)]


def wait_for_a_fix(extra_paths: list[str], interval: float = POLL_INTERVAL
                   ) -> list[str]:
    """The changed files, once a source file changed (since this process
    started) and every changed Python file compiles; KeyboardInterrupt
    passes through."""
    sources = SourceWatcher(extra_paths)
    while (changed := sources.poll()) is None:
        time.sleep(interval)
    return changed


def _restart_after_a_fix(hook: ExceptHook) -> ExceptHook:
    def excepthook(kind: type[BaseException], value: BaseException,
                   trace: Any) -> None:
        hook(kind, value, trace)
        if restart.is_serving_started() or \
                not issubclass(kind, Exception):
            return
        log.msg("the restarted program failed to start (see above); until "
                "a source file changes, requests get a 503 that shows the "
                "error (Ctrl-C stops)")
        answering = FailureServers(StartFailure(value, trace))
        try:
            changed = wait_for_a_fix(_traceback_files(trace))
        except KeyboardInterrupt:
            answering.close(restarting=False)
            return
        announce_restart(changed)
        restart.request_restart()
        answering.close(restarting=True)
    return excepthook


if restart.has_been_restarted() and restart.HANDOFF:
    # an edit broke the program: keep the listening sockets, show the
    # error, and wait for the next save rather than leave the developer
    # without a server
    sys.excepthook = _restart_after_a_fix(sys.excepthook)
