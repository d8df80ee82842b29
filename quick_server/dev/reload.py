"""Live development: restarting when a source file changes, stopping
without losing a request (the listening socket itself is handed to the
next process by `restart`), and reloading the browser with Server-Sent
Events.

Sources are watched by polling modification times from one thread per
server (every `Reloader.interval` seconds; a few microseconds per file,
nothing on the request path). A changed Python file is compiled first: a
syntax error is printed and the server goes on serving the old code until
the next save."""
from __future__ import annotations

import importlib.util
import json
import os
import secrets
import site
import socket
import ssl
import sys
import sysconfig
import threading
import time
import traceback
from typing import Any, Iterable

from .. import log
from . import restart
from ..browser import live_reload_js, script_answer, serve_hub
from ..http.livescript import (LIVE_PREFIX, LIVE_SCRIPT_PATH, LIVE_STREAM_PATH,
                         SCRIPT_TAG, inject_script)
from ..http.responses import HTTPError, Response

# the request handler and the server are the caller's: typed as Any here,
# so that this module (development) never imports the HTTP core's handler
QuickServerRequestHandler = Any
QuickServer = Any

POLL_INTERVAL = 0.1  # seconds between two looks at the watched files
CPU_SHARE = 0.02  # with many files the looks are further apart
SETTLE_TIME = 0.03  # a changed file must keep still this long (editors
SETTLE_ROUNDS = 10  # write in steps), checked at most this many times
MAX_WATCHED_FILES = 20_000  # per watched folder walk and for served files
DRAIN_WAIT = 0.1  # a connection used this recently may still send a
# request when the server stops: it gets this long to do so
DRAIN_HEAD = 1.0  # a request head begun before the stop must be complete
# this long after it (a client trickling bytes holds no restart up)

MAX_LISTENERS = 100  # browser tabs listening at once
RETRY_MS = 200  # how soon a browser reconnects after the stream ended
PING_SECONDS = 15.0  # a comment on an idle stream finds closed tabs
KEPT_EVENTS = 32

Stamp = tuple[int, int] | None  # (mtime_ns, size); None: no such file
_IMPORTED_AT = time.time_ns()  # a source changed later is newer code


def stamp(path: str) -> Stamp:
    """What tells a file changed: its modification time and size."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_mtime_ns, st.st_size


# -- the program's sources --------------------------------------------------

def library_roots() -> tuple[str, ...]:
    """Folders whose modules are not the user's: the standard library and
    every site-packages (each ending with a separator)."""
    paths = sysconfig.get_paths()
    roots = {paths[name] for name in ("stdlib", "platstdlib", "purelib",
                                      "platlib") if name in paths}
    try:
        roots.update(site.getsitepackages())
    except AttributeError:  # an old virtualenv's site module
        pass
    roots.add(site.getusersitepackages())
    return tuple(os.path.join(os.path.realpath(root), "")
                 for root in roots if root)


class ModuleFiles:
    """The files of every imported module outside the standard library
    and site-packages (the `__main__` script included); looked up again
    only when `sys.modules` grew or shrank."""

    def __init__(self) -> None:
        self._roots = library_roots()
        self._known: dict[str, str | None] = {}  # module name -> its file
        self._count = -1

    def files(self) -> set[str]:
        modules = sys.modules
        if len(modules) != self._count:
            self._count = len(modules)
            for name, module in list(modules.items()):
                if name not in self._known:
                    self._known[name] = self._source(module)
        return {path for path in self._known.values() if path is not None}

    def _source(self, module: Any) -> str | None:
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or not os.path.isfile(path):
            return None
        real = os.path.realpath(path)
        return None if real.startswith(self._roots) else real


def folder_files(folder: str, limit: int = MAX_WATCHED_FILES) -> list[str]:
    """Files under `folder` (hidden entries and `__pycache__` left out),
    at most `limit` of them."""
    found: list[str] = []
    stack = [folder]
    while stack and len(found) < limit:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    if entry.name.startswith(".") or \
                            entry.name == "__pycache__":
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif len(found) < limit:
                        found.append(entry.path)
        except OSError:
            continue
    return found


def syntax_error(path: str) -> str | None:
    """The syntax error of the Python file at `path`, formatted as Python
    prints it; None when it compiles (or is not Python)."""
    if not path.endswith(".py"):
        return None
    try:
        with open(path, "rb") as handle:
            source = handle.read()
        compile(source, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as err:
        return "".join(traceback.format_exception_only(type(err), err))
    except OSError:
        return None  # gone meanwhile: the import will say so
    return None


def forget_bytecode(path: str) -> None:
    """Removes the cached bytecode of a changed Python file: a `.pyc` is
    trusted when the source's size and whole-second time match, which two
    quick edits can both have."""
    if not path.endswith(".py"):
        return
    try:
        os.remove(importlib.util.cache_from_source(path))
    except (OSError, ValueError, NotImplementedError):
        pass


def announce_restart(changed: list[str]) -> None:
    """Says which files changed, and forgets their bytecode: the next
    process imports what is on disk now."""
    names = ", ".join(os.path.relpath(path) for path in changed[:3])
    more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
    log.msg("{0}{1} changed: restarting", names, more)
    for path in changed:
        forget_bytecode(path)


class Snapshot:
    """The stamps of a set of files, compared on each `changes` call."""

    def __init__(self) -> None:
        self.stamps: dict[str, Stamp] = {}

    def changes(self, paths: Iterable[str], new_is_change: bool) -> set[str]:
        """Paths whose stamp differs from the last call. A path seen for
        the first time is recorded, and reported only with
        `new_is_change` (a file added to a watched folder, not a module
        imported late)."""
        changed = set()
        stamps = self.stamps
        for path in paths:
            now = stamp(path)
            before = stamps.get(path, False)
            if before is False:
                stamps[path] = now
                if new_is_change:
                    changed.add(path)
            elif before != now:
                stamps[path] = now
                changed.add(path)
        return changed

    def forget_missing(self, present: set[str]) -> set[str]:
        """Drops (and returns) the recorded paths not in `present`: files
        deleted from a watched folder."""
        gone = set(self.stamps) - present
        for path in gone:
            del self.stamps[path]
        return gone


def settle(paths: set[str]) -> None:
    """Waits (briefly, bounded) until the files stop changing: an editor
    may truncate a file and write it in steps."""
    before = {path: stamp(path) for path in paths}
    for _ in range(SETTLE_ROUNDS):
        time.sleep(SETTLE_TIME)
        now = {path: stamp(path) for path in paths}
        if now == before:
            return
        before = now


class SourceWatcher:
    """Decides when the program must restart: a module file or a watched
    path changed, and every changed Python file compiles."""

    def __init__(self, extra_paths: list[str]) -> None:
        self.modules = ModuleFiles()
        self.extra_paths = extra_paths
        self.modules_seen = Snapshot()
        self.extra_seen = Snapshot()
        self.pending: set[str] = set()  # changed, not yet restarted for
        self.reported: dict[str, str] = {}  # errors already printed
        self.fresh: set[str] = set()
        self.poll()  # the starting point
        # files changed since this process started (before watching did;
        # never a time in the future, which would restart for ever)
        now = time.time_ns()
        self.fresh = {path for snapshot in (self.modules_seen,
                                            self.extra_seen)
                      for path, seen in snapshot.stamps.items()
                      if seen is not None and _IMPORTED_AT < seen[0] <= now}

    def watched(self) -> set[str]:
        files = set()
        for path in self.extra_paths:
            if os.path.isdir(path):
                files.update(folder_files(path))
            else:
                files.add(path)
        return files

    def poll(self) -> list[str] | None:
        """The changed files when the program should restart now (all of
        them compile); None otherwise."""
        changed = self.modules_seen.changes(self.modules.files(), False)
        extra = self.watched()
        changed |= self.extra_seen.changes(extra, True)
        changed |= self.extra_seen.forget_missing(extra)
        changed |= self.fresh
        self.fresh = set()
        if not changed:
            return None
        settle(changed)
        self.modules_seen.changes(changed & set(self.modules_seen.stamps),
                                  False)
        self.extra_seen.changes(changed & set(self.extra_seen.stamps), True)
        self.pending |= changed
        errors = {path: err for path in sorted(self.pending)
                  if (err := syntax_error(path)) is not None}
        for path, err in errors.items():
            if self.reported.get(path) != err:
                log.msg("not restarting: {0} does not compile (the server "
                        "goes on with the code it has):\n{1}", path,
                        err.rstrip())
        self.reported = errors
        if errors:
            return None
        done, self.pending = sorted(self.pending), set()
        return done


# -- stopping without losing a request ------------------------------------

class OpenConnections:
    """The server's open connections (their handlers), so that stopping
    can close the idle ones without dropping a request in progress."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handlers: set[QuickServerRequestHandler] = set()

    def add(self, handler: QuickServerRequestHandler) -> None:
        with self._lock:
            self._handlers.add(handler)

    def discard(self, handler: QuickServerRequestHandler) -> None:
        with self._lock:
            self._handlers.discard(handler)

    def __len__(self) -> int:
        return len(self._handlers)

    def drain(self, server: QuickServer, timeout: float) -> bool:
        """Once the server stopped accepting: waits until no request is in
        progress, and closes each connection that waits for a request and
        has had none for `DRAIN_WAIT` seconds (a connection that just
        opened or just got an answer may be sending one: it is served,
        with `Connection: close`); a request head still incomplete
        `DRAIN_HEAD` seconds after the stop is cut off. False when
        `timeout` passed first."""
        began = time.perf_counter()
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                handlers = list(self._handlers)
            busy = False
            now = time.perf_counter()
            for handler in handlers:
                if not getattr(handler, "waiting", True):
                    if getattr(handler, "requestline", "x") or \
                            now - began < DRAIN_HEAD:
                        busy = True  # answering, or reading a head
                    else:
                        _hang_up(handler.connection)
                elif _has_input(handler.connection) or \
                        now - handler.waiting_since < DRAIN_WAIT:
                    busy = True
                else:
                    _hang_up(handler.connection)
            if not busy and server.wait_idle(0):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(left, 0.005))


def _has_input(sock: Any) -> bool:
    """Whether request bytes wait on the connection."""
    try:
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        data = socket.socket.recv(sock, 1, socket.MSG_PEEK |
                                  socket.MSG_DONTWAIT)
        return bool(data)
    except (BlockingIOError, InterruptedError):
        return False
    except (OSError, ValueError):
        return False  # closed or reset: nothing to serve


def _hang_up(sock: Any) -> None:
    # the blocked read of its thread returns at once, which ends it
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except (OSError, ValueError):
        pass


# -- live reload in the browser ---------------------------------------------



class LiveReload:
    """The files served from bound folders, watched, and the browsers
    listening for their changes on an event stream."""

    def __init__(self, max_listeners: int = MAX_LISTENERS) -> None:
        self.instance = secrets.token_hex(8)  # changes with every process
        self.max_listeners = max_listeners
        self._cond = threading.Condition()
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

    def close(self) -> None:
        """Ends every stream (the server stops: browsers reconnect to the
        next process, which tells them to reload)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False

    def script(self, req: Any, args: Any) -> Response:
        return script_answer(live_reload_js())

    def stream(self, req: QuickServerRequestHandler,
               args: Any) -> Response | None:
        """The event stream of one browser tab: `hello` with this
        process's id, then `reload` / `css` events as files change, until
        the tab goes or the server stops."""
        if req.command == "HEAD":
            return Response(b"", 200, "text/event-stream")
        with self._cond:
            if self._closed:
                raise HTTPError(503, "The server is stopping")
            if self._listeners >= self.max_listeners:
                raise HTTPError(503, "Too many live-reload listeners",
                                headers=[("Retry-After", "5")])
            self._listeners += 1
            seq = self._seq
        try:
            req.close_connection = True  # the body ends with the connection
            req.start_stream(200, [
                ("Content-Type", "text/event-stream"),
                ("Cache-Control", "no-cache"),
                ("X-Accel-Buffering", "no")])
            self._send(req, f"retry: {RETRY_MS}\nevent: hello\n"
                            f"data: {self.instance}\n\n")
            while True:
                with self._cond:
                    self._cond.wait_for(
                        lambda: self._closed or self._seq > seq,
                        PING_SECONDS)
                    if self._closed:
                        return None
                    new = [e for e in self._events if e[0] > seq]
                    seq = self._seq
                text = "".join(f"event: {event}\ndata: {data}\n\n"
                               for _, event, data in new)
                self._send(req, text or ": ping\n\n")
        except OSError:
            req.close_connection = True  # the tab went away
        finally:
            with self._cond:
                self._listeners -= 1
        return None

    @staticmethod
    def _send(req: QuickServerRequestHandler, text: str) -> None:
        data = text.encode()
        req.wfile.write(data)
        req.add_sent(len(data))


# -- one server's live development ----------------------------------------

class Reloader:
    """A server's live development: `auto_restart`, `watch`ed paths,
    `live_reload`, and its open connections for a lossless stop."""

    def __init__(self, server: QuickServer) -> None:
        self.server = server
        self.paths: list[str] = []
        self.interval = POLL_INTERVAL
        self.connections = OpenConnections()
        self.live: LiveReload | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def watch(self, paths: str | Iterable[str]) -> None:
        """Adds files or folders (relative to `base_path`) to what
        `auto_restart` watches."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        for path in paths:
            self.paths.append(os.path.realpath(
                os.path.join(self.server.base_path, os.fspath(path))))

    def start(self) -> None:
        """Called as `serve_forever` starts: sets up live reload and the
        watching thread when either feature is on."""
        restart.mark_serving()
        server = self.server
        if server.live_reload:
            self._serve_live_reload()
        elif self.paths and not server.auto_restart:
            log.msg("watched paths are ignored: auto_restart is off")
        if not server.auto_restart and not server.live_reload:
            return
        self._stop.clear()
        sources = SourceWatcher(self.paths) if server.auto_restart else None
        self._thread = threading.Thread(
            target=self._run, args=(sources,),
            name="quick_server-reload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ends the watching thread and every live-reload stream."""
        self._stop.set()
        if self.live is not None:
            self.live.close()

    def _serve_live_reload(self) -> None:
        if self.live is None:
            self.live = LiveReload()
            self.server.add_route("GET", "text", LIVE_SCRIPT_PATH,
                                  self.live.script, 0, exclusive=False)
            self.server.add_route("GET", "text", LIVE_STREAM_PATH,
                                  self.live.stream, 0, exclusive=False)
            serve_hub(self.server)
        self.live.reopen()

    def _run(self, sources: SourceWatcher | None) -> None:
        pause = self.interval
        while not self._stop.wait(pause):
            began = time.thread_time()  # work, not the settling sleeps
            try:
                if sources is not None:
                    changed = sources.poll()
                    if changed and not self._stop.is_set():
                        self._restart(changed)
                        return
                live = self.live
                if live is not None and self.server.live_reload:
                    live.poll()
            except Exception:  # pylint: disable=broad-except
                log.log_exception("error while watching files:")
            # many files: look less often, at most CPU_SHARE of a core
            pause = max(self.interval,
                        (time.thread_time() - began) / CPU_SHARE)

    def _restart(self, changed: list[str]) -> None:
        announce_restart(changed)
        self.server.stop("restart")

    def served(self, target: Any, url_path: str) -> None:
        """A static request got `target`: a file is watched for live
        reload from now on."""
        live = self.live
        if live is not None and isinstance(getattr(target, "st", None),
                                           os.stat_result):
            live.served(target.path, url_path, target.st)

    def drain(self, timeout: float) -> bool:
        """See `OpenConnections.drain`."""
        return self.connections.drain(self.server, timeout)
