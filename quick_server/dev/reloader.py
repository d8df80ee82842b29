"""A server's live development (`server.reloader`): restarting when a
source file changes (the files are watched by `watching`, the listening
socket handed to the next process by `restart`), serving live reload
(`live_reload`), and the open connections drained for a lossless stop
(`http.drain`).

One thread per server polls the watched files every `Reloader.interval`
seconds, further apart when there are many."""
from __future__ import annotations

import os
import threading
import time
from typing import Any, Iterable

from .. import log
from . import restart
from ..browser import serve_hub
from ..http.drain import OpenConnections
from ..http.livescript import LIVE_SCRIPT_PATH, LIVE_STREAM_PATH
from ..notebook import NO_RESTART, in_kernel
from .live_reload import LiveReload
from .watching import POLL_INTERVAL, SourceWatcher, forget_bytecode
from ..threads import make_thread

# the server is the caller's: typed as Any here, so that this module
# (development) never imports the server built on top of it
QuickServer = Any

CPU_SHARE = 0.02  # with many files the looks are further apart


def announce_restart(changed: list[str]) -> None:
    """Says which files changed, and forgets their bytecode: the next
    process imports what is on disk now."""
    names = ", ".join(os.path.relpath(path) for path in changed[:3])
    more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
    log.msg("{0}{1} changed: restarting", names, more)
    for path in changed:
        forget_bytecode(path)


class Reloader:
    """A server's live development: `auto_restart`, `watch`ed paths,
    `live_reload`, and its open connections for a lossless stop."""

    def __init__(self, server: QuickServer) -> None:
        self.server = server
        self.paths: list[str] = []
        self.interval = POLL_INTERVAL
        self.connections = OpenConnections()
        # made now: its settings can be set before serving starts
        self.live = LiveReload(server.settings)
        self._live_routes = False
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def watch(self, paths: str | Iterable[str]) -> None:
        """Adds files or folders (relative to `base_path`) to what
        `auto_restart` watches."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        for path in paths:
            self.paths.append(os.path.realpath(
                os.path.join(self.server.settings.static.base_path,
                             os.fspath(path))))

    def start(self) -> None:
        """Called as `serve_forever` starts: sets up live reload and the
        watching thread when either feature is on."""
        restart.mark_serving()
        dev = self.server.settings.dev
        auto_restart = dev.auto_restart and not in_kernel()
        if dev.auto_restart and not auto_restart:
            log.warning("auto_restart is off in a Jupyter kernel: {0}",
                        NO_RESTART)
        if dev.live_reload:
            self._serve_live_reload()
        elif self.paths and not auto_restart:
            log.msg("watched paths are ignored: auto_restart is off")
        if not auto_restart and not dev.live_reload:
            return
        self._stop.clear()
        sources = SourceWatcher(self.paths) if auto_restart else None
        self._thread = make_thread(
            target=self._run, args=(sources,),
            name="quick_server-reload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ends the watching thread and every live-reload stream."""
        self._stop.set()
        self.live.close()

    def _serve_live_reload(self) -> None:
        if not self._live_routes:
            self._live_routes = True
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
                if self.server.settings.dev.live_reload:
                    self.live.poll()
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
        if isinstance(getattr(target, "st", None), os.stat_result):
            self.live.served(target.path, url_path, target.st)

    def drain(self, timeout: float) -> bool:
        """See `OpenConnections.drain`."""
        return self.connections.drain(self.server, timeout)
