"""Live reload in the browser: the files served from bound folders,
watched, and the browser tabs listening for their changes on a
Server-Sent Events stream (`reload`, or `css` when only stylesheets
changed)."""
from __future__ import annotations

import json
import os
import threading
from typing import Any

from .. import log
from ..browser import live_reload_js, script_answer
from ..http.responses import EventStream, HTTPError, Response
from ..http.waiting import Signal
from ..settings import LiveReloadAliases, Settings
from .watching import MAX_WATCHED_FILES, Snapshot, settle

RETRY_MS = 200  # how soon a browser reconnects after the stream ended
PING_SECONDS = 15.0  # a comment on an idle stream finds closed tabs
KEPT_EVENTS = 32
STREAM_KEY = "live-reload"  # what the signal names when an event comes


class LiveReload(LiveReloadAliases):
    """The files served from bound folders, watched, and the browsers
    listening for their changes on an event stream (at most
    `settings.dev.max_listeners`; the old name `max_listeners` here is
    an alias)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = Settings() if settings is None else settings
        self.instance = os.urandom(8).hex()  # changes with every process
        self._cond = threading.Condition()
        self.signal = Signal()  # fired when an event is published
        self._events: list[tuple[int, str, str]] = []
        self._seq = 0
        self._listeners = 0
        self._closed = False
        self._files: dict[str, tuple[str, ...]] = {}  # real path -> URLs
        self._snapshot = Snapshot()
        self._full_warned = False

    @property
    def listeners(self) -> int:
        return self._listeners

    def served(self, real_path: str, url_path: str,
               st: os.stat_result) -> None:
        """Records that a request got the file at `real_path` (`st` as
        served): it is watched from now on (at most
        `MAX_WATCHED_FILES` files)."""
        urls = self._files.get(real_path)
        if urls is not None and url_path in urls:
            return
        with self._cond:
            urls = self._files.get(real_path, ())
            if not urls and len(self._files) >= MAX_WATCHED_FILES:
                if not self._full_warned:
                    self._full_warned = True
                    log.msg("live reload watches {0} files already; more "
                            "are not watched", MAX_WATCHED_FILES)
                return
            if url_path not in urls:
                self._files[real_path] = (urls + (url_path,))[-8:]
            self._snapshot.stamps.setdefault(
                real_path, (st.st_mtime_ns, st.st_size))

    def poll(self) -> None:
        """Tells the browsers about served files that changed since the
        last call: `css` with their URLs when they are all stylesheets,
        else `reload`."""
        with self._cond:
            files = dict(self._files)
        changed = self._snapshot.changes(files, False)
        if not changed:
            return
        settle(changed)
        self._snapshot.changes(changed, False)
        urls = sorted({url for path in changed for url in files[path]})
        kind = "css" if all(path.lower().endswith(".css")
                            for path in changed) else "reload"
        self.publish(kind, json.dumps(urls))

    def publish(self, event: str, data: str) -> None:
        with self._cond:
            self._seq += 1
            self._events = (self._events + [(self._seq, event, data)]
                            )[-KEPT_EVENTS:]
            self._cond.notify_all()
        self.signal.fire(STREAM_KEY)

    def close(self) -> None:
        """Ends every stream (the server stops: browsers reconnect to the
        next process, which tells them to reload)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.signal.fire()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False

    def script(self, req: Any, args: Any) -> Response:
        return script_answer(live_reload_js())

    def stream(self, req: Any, args: Any) -> Response:
        """The event stream of one browser tab: `hello` with this
        process's id, then `reload` / `css` events as files change, until
        the tab goes or the server stops."""
        if req.command == "HEAD":
            return Response(b"", 200, "text/event-stream")
        with self._cond:
            if self._closed:
                raise HTTPError(503, "The server is stopping")
            if self._listeners >= self.settings.dev.max_listeners:
                raise HTTPError(503, "Too many live-reload listeners",
                                headers=[("Retry-After", "5")])
            self._listeners += 1
            seq = self._seq
        req.close_connection = True  # the body ends with the connection
        last = [seq]

        def pending() -> bytes | None:
            """The events since the last call (b"": none), None once the
            server stops."""
            with self._cond:
                if self._closed:
                    return None
                new = [e for e in self._events if e[0] > last[0]]
                last[0] = self._seq
            return "".join(f"event: {event}\ndata: {data}\n\n"
                           for _, event, data in new).encode()
        hello = (f"retry: {RETRY_MS}\nevent: hello\n"
                 f"data: {self.instance}\n\n").encode()
        return EventStream(hello, pending, self.signal, (STREAM_KEY,),
                           ping=b": ping\n\n", ping_every=PING_SECONDS,
                           headers=[("Cache-Control", "no-cache"),
                                    ("X-Accel-Buffering", "no")],
                           on_close=self._gone)

    def _gone(self) -> None:
        with self._cond:
            self._listeners -= 1

