"""Serving from a notebook or a program with other work to do: a mixin of
`QuickServer` with `start_background`/`stop`, the replacement of a server
on an address this process serves already, and `interactive` (a route,
rpc or worker registered again replaces the old one)."""
from __future__ import annotations

import contextlib
import socket
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Iterator

from . import log
from .notebook import NO_RESTART, in_kernel
from .threads import make_thread

if TYPE_CHECKING:
    from .settings import Settings

START_TIMEOUT = 10.0  # seconds start_background waits for the port
JOIN_MARGIN = 5.0  # seconds stop() waits past shutdown_grace


# -- the servers of this process by address --------------------------------

_ADDRESS_LOCK = threading.Lock()
_BY_ADDRESS: weakref.WeakValueDictionary[tuple[Any, ...], Any] = \
    weakref.WeakValueDictionary()


def _address_key(family: int, address: tuple[Any, ...]
                 ) -> tuple[Any, ...] | None:
    """(family, host, port) for a fixed port; None for port 0 (a fresh
    port is never taken). "localhost" and 127.0.0.1 are one key."""
    host, port = str(address[0]), int(address[1])
    if port == 0:
        return None
    with contextlib.suppress(OSError, IndexError):
        host = str(socket.getaddrinfo(host, port, family,
                                      socket.SOCK_STREAM)[0][4][0])
    return (family, host.split("%")[0], port)


def take_address(server: Any, family: int,
                 address: tuple[Any, ...]) -> None:
    """Before `server` binds `address`: a server of this process bound
    there is stopped first and its socket closed (re-running a notebook
    cell replaces the server instead of "Address already in use")."""
    key = _address_key(family, address)
    if key is None:
        return
    with _ADDRESS_LOCK:
        olds = [old for taken, old in list(_BY_ADDRESS.items())
                if _overlap(taken, key)]
    for old in olds:
        if old is server or old.socket.fileno() < 0:
            continue
        log.msg("replacing the server on {0}:{1}", *old.server_address[:2])
        old._close_for_replacement()


_WILDCARDS = ("0.0.0.0", "::")


def _overlap(taken: tuple[Any, ...], wanted: tuple[Any, ...]) -> bool:
    """Whether a server bound at `taken` holds the port `wanted` asks for:
    the same address, or the same port with a wildcard on either side
    of the same family (a server on 0.0.0.0 holds 127.0.0.1 too), or
    IPv6's wildcard, which may hold IPv4's addresses too."""
    if taken[2] != wanted[2]:
        return False
    if taken[0] == wanted[0]:  # one family: the host or a wildcard
        return taken[1] == wanted[1] or taken[1] in _WILDCARDS or \
            wanted[1] in _WILDCARDS
    return "::" in (taken[1], wanted[1])  # (IPv6's may hold IPv4 too)


def hold_address(server: Any) -> None:
    """`server` is bound: a later server on its address replaces it."""
    key = _address_key(server.address_family, server.server_address)
    if key is not None:
        with _ADDRESS_LOCK:
            _BY_ADDRESS[key] = server


def _own_thread() -> bool:
    """Whether this thread is one of a server's (a request handler, the
    event loop): it must not wait for a server to end."""
    return threading.current_thread().name.startswith("quick_server-")


class BackgroundApi:
    """`start_background`, `stop` and `interactive`."""

    settings: Settings
    socket: socket.socket
    _running: bool
    _stop_reason: str
    _serving: threading.Thread | None
    _loop: Any
    _background: threading.Thread | None = None
    _interactive: bool | None = None
    _replaced: list[str] | None = None  # collected by `_replacing`

    if TYPE_CHECKING:  # what the server provides
        def serve_forever(self, poll_interval: float = 0.1) -> None: ...

        def shutdown(self) -> None: ...

        def server_close(self) -> None: ...

    # -- serving on a thread -----------------------------------------------

    def start_background(self) -> threading.Thread:
        """Serves on a daemon thread and returns once the port answers
        (the thread is returned); `stop()` ends it, closes the socket and
        joins. The command loop is off: the terminal stays the
        program's. Raises what `serve_forever` raised when it could not
        start (e.g. ValueError for settings that do not fit together)."""
        if self._background is not None and self._background.is_alive():
            raise RuntimeError("this server serves in the background "
                               "already")
        if self.socket.fileno() < 0:
            raise RuntimeError("this server was stopped and its socket "
                               "closed: a stopped server does not serve "
                               "again; create a new one (run the cell that "
                               "makes it again)")
        self.settings.dev.no_command_loop = True
        failed: list[BaseException] = []

        def run() -> None:
            try:
                self.serve_forever()
            except BaseException as exc:  # pylint: disable=broad-except
                failed.append(exc)
            finally:
                self.server_close()  # a restart keeps the socket open

        thread = make_thread(target=run, daemon=True,
                             name="quick_server-background")
        self._background = thread
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not (self._serving is thread and self._loop.accepting):
            if not thread.is_alive():
                thread.join()
                if failed:
                    raise failed[0]
                raise RuntimeError("the server stopped as it started")
            if time.monotonic() >= deadline:
                raise RuntimeError("the server did not start serving in "
                                   f"{START_TIMEOUT:g} s")
            time.sleep(0.002)
        return thread

    def stop(self, reason: str = "quit") -> None:
        """Asks `serve_forever` to end (from any thread, or a signal);
        `reason` "restart" restarts the process afterwards. A server
        started with `start_background` is also closed (its port freed)
        and its thread joined before this returns, unless called from
        one of the server's own threads (a route handler): then it ends
        right after. In a Jupyter kernel "restart" is "quit" (the
        process is the kernel), and a line says so."""
        if reason == "restart" and in_kernel():
            log.warning("no restart in a Jupyter kernel, the server stops: "
                        "{0}", NO_RESTART)
            reason = "quit"
        if self._stop_reason != "restart":
            self._stop_reason = reason
        self._running = False
        make_thread(target=self.shutdown, daemon=True).start()
        thread = self._background
        if thread is not None and not _own_thread():
            grace = float(self.settings.http.shutdown_grace)
            thread.join(grace + JOIN_MARGIN)

    def _close_for_replacement(self) -> None:
        """Stops and closes this server for a new one on its address."""
        if self._background is not None:
            self.stop()
        elif self._serving is not threading.current_thread():
            self.server_close()  # stops serving first, waits, closes

    # -- registering again -------------------------------------------------

    @property
    def interactive(self) -> bool:
        """True: a route, rpc or worker registered again at the same
        method and path replaces the old one (one log line says so), as
        re-running a notebook cell expects; False: that is a ValueError.
        By default on under ipykernel (Jupyter)."""
        if self._interactive is None:
            return in_kernel()
        return self._interactive

    @interactive.setter
    def interactive(self, value: bool) -> None:
        self._interactive = bool(value)

    def _route_replaced(self, what: str) -> None:
        """A route was registered again (`interactive`): logged, once per
        registration (`_replacing` gathers an rpc's or worker's)."""
        if self._replaced is not None:
            self._replaced.append(what)
        else:
            log.msg("replaced route {0}", what)

    def _replacing(self, what: str
                   ) -> contextlib.AbstractContextManager[None]:
        """Registers several routes as one `what` (e.g. "rpc /add"): one
        log line when any of them replaced an old one."""
        return _gathered(self, what)


@contextlib.contextmanager
def _gathered(server: BackgroundApi, what: str) -> Iterator[None]:
    outer, server._replaced = server._replaced, []
    try:
        yield
    finally:
        replaced, server._replaced = server._replaced, outer
        if replaced:
            if outer is not None:
                outer.append(what)
            else:
                log.msg("replaced {0}", what)
