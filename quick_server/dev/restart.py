"""Restarting in place and shutting down: the listening sockets handed
to the next process, exit codes, shutdown hooks.

With `setup_restart()` (`supervisor.py`) the original process only
supervises: it runs the script again as a child and starts it anew
whenever the child exits with the restart code. Without it, `restart`
re-executes the process. Either way `serve_forever` returns first, and
the script's clean-up runs.

The listening sockets survive a restart (on POSIX), as with werkzeug's
reloader: their descriptors are handed to the next process, which adopts
them instead of binding (`adopt_listener`), so connections made meanwhile
wait in the kernel's accept queue and none is refused. In place, the
descriptors stay open across `exec` (their numbers in `QUICK_SERVER_FDS`,
`:tls` after one that served HTTPS); under a supervisor, the child sends
them to it over a Unix socket (`SCM_RIGHTS`) before exiting, and the
supervisor passes them on to the next child."""
from __future__ import annotations

import atexit
import ipaddress
import os
import signal
import socket
import sys
import threading
import weakref
from typing import Any, Callable

from .. import log
from ..http.sockio import is_tls
from ..notebook import in_kernel

ENV_CHILD = "QUICK_SERVER_CHILD"
ENV_RESTARTED = "QUICK_SERVER_RESTARTED"
ENV_FDS = "QUICK_SERVER_FDS"  # listening sockets handed to this process
ENV_CHANNEL = "QUICK_SERVER_CHANNEL"  # a supervised child's way back
HANDOFF = os.name == "posix" and hasattr(socket, "send_fds")
MAX_LISTENERS = 64  # descriptors handed over at most
EXIT = {"restart": 42, "error": 1}
_HOOK_LOCK = threading.Lock()
Listener = tuple[int, bool]  # a descriptor, and whether it served TLS


def set_restart_exit_code(code: int) -> None:
    """The exit code by which a child asks the supervisor to restart it."""
    EXIT["restart"] = code


def set_error_exit_code(code: int) -> None:
    """The exit code of the supervisor when its child died of a signal."""
    EXIT["error"] = code


def is_original() -> bool:
    """True in the process the user started (not a supervised child)."""
    return ENV_CHILD not in os.environ


def has_been_restarted() -> bool:
    """True when this process was started by a `restart`."""
    return os.environ.get(ENV_RESTARTED) == "1"


def get_exec_arr() -> list[str]:
    """The command line that runs this script again."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:
        name = spec.name.removesuffix(".__main__")
        return [sys.executable, "-m", name] + sys.argv[1:]
    return [sys.executable] + sys.argv


def fds_text(listeners: list[Listener]) -> str:
    return ",".join(f"{fd}:tls" if tls else str(fd) for fd, tls in listeners)


def close_fds(fds: list[Listener]) -> None:
    for fd, _ in fds:
        try:
            os.close(fd)
        except OSError:
            pass


# -- listening sockets handed over ----------------------------------------

_LISTENER_LOCK = threading.Lock()
_SERVERS: weakref.WeakSet[Any] = weakref.WeakSet()  # their `socket`s
_KEPT: list[Listener] = []  # listeners closed by a restarting script
_TLS: set[int] = set()  # inherited descriptors that served TLS


def _take_env_socket(name: str) -> socket.socket | None:
    fd = os.environ.pop(name, "")
    if not HANDOFF or not fd.isdigit():
        return None
    try:
        sock = socket.socket(fileno=int(fd))
    except OSError:
        return None
    sock.set_inheritable(False)
    return sock


def _take_inherited() -> list[socket.socket]:
    """The listening sockets handed to this process (the environment
    variable is removed: the script's own subprocesses do not see it)."""
    socks = []
    for part in os.environ.pop(ENV_FDS, "").split(","):
        fd, _, mark = part.partition(":")
        if not fd.isdigit() or not HANDOFF:
            continue
        try:
            sock = socket.socket(fileno=int(fd))
        except OSError:
            continue
        sock.set_inheritable(False)
        socks.append(sock)
        if mark == "tls":
            _TLS.add(sock.fileno())
    return socks


_INHERITED = _take_inherited()
_CHANNEL = _take_env_socket(ENV_CHANNEL)


def _host_of(family: int, host: str) -> Any:
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        try:
            info = socket.getaddrinfo(host, None, family, socket.SOCK_STREAM)
            return ipaddress.ip_address(str(info[0][4][0]).split("%")[0])
        except (OSError, ValueError, IndexError):
            return None


def pass_on_inherited() -> list[Listener]:
    """The listening sockets handed to the supervisor itself (by whoever
    started it): its first child adopts them."""
    with _LISTENER_LOCK:
        listeners: list[Listener] = []
        for sock in _INHERITED:
            tls = sock.fileno() in _TLS  # before detach: then it is -1
            listeners.append((sock.detach(), tls))
        _INHERITED.clear()
        _TLS.clear()
    return listeners


def adopt_listener(family: int, address: tuple[Any, ...]
                   ) -> socket.socket | None:
    """The listening socket a restart handed to this process for
    `address` (same family, host and port; port 0 takes any), or None:
    the server then binds as usual."""
    host, port = str(address[0]), int(address[1])
    with _LISTENER_LOCK:
        for sock in _INHERITED:
            bound = sock.getsockname()
            if sock.family == family and port in (0, bound[1]) and \
                    _host_of(family, host) == _host_of(family, bound[0]):
                _INHERITED.remove(sock)
                _TLS.discard(sock.fileno())  # its server says what it is
                return sock
    return None


def close_unclaimed_listeners() -> None:
    """Closes the handed-over sockets no server adopted (the script now
    listens elsewhere): their ports would accept and never answer."""
    with _LISTENER_LOCK:
        for sock in _INHERITED:
            sock.close()
        _INHERITED.clear()
        _TLS.clear()


def register_listener(server: Any) -> None:
    """`server.socket` is handed to the next process on a restart (while
    it is open)."""
    with _LISTENER_LOCK:
        _SERVERS.add(server)


def keep_listener(sock: socket.socket) -> None:
    """Called as a server closes: on a pending restart, the listening
    socket's descriptor stays open for the next process (`sock` itself
    is closed), so connections wait in its queue meanwhile."""
    if not HANDOFF or not _RESTART.is_set() or sock.fileno() < 0:
        return
    with _LISTENER_LOCK:
        tls = _is_tls(sock)
        _KEPT.append((sock.detach(), tls))


_SERVING = threading.Event()


def mark_serving() -> None:
    """A server of this process started serving: the program started."""
    _SERVING.set()


def is_serving_started() -> bool:
    return _SERVING.is_set()


def _listener_fds() -> list[Listener]:
    with _LISTENER_LOCK:
        fds = list(_KEPT) + [(sock.fileno(), _is_tls(sock))
                             for sock in _INHERITED]
        for server in list(_SERVERS):
            sock = getattr(server, "socket", None)
            if sock is not None and sock.fileno() >= 0 and \
                    all(sock.fileno() != known for known, _ in fds):
                fds.append((sock.fileno(), _is_tls(sock)))
        return fds[:MAX_LISTENERS]


def _is_tls(sock: socket.socket) -> bool:
    return is_tls(sock) or sock.fileno() in _TLS


def release_listeners() -> list[socket.socket]:
    """For a program that failed before serving: every listening socket
    of this process (handed over, or taken by a server that never served)
    goes back to where `adopt_listener` finds it. Returns them, but for
    those that served HTTPS without a certificate loaded here: they are
    kept for the next process, their connections wait meanwhile."""
    with _LISTENER_LOCK:
        for server in list(_SERVERS):
            sock = getattr(server, "socket", None)
            if sock is not None and sock.fileno() >= 0 and \
                    all(sock.fileno() != known.fileno()
                        for known in _INHERITED):
                _INHERITED.append(sock)
        for sock in list(_INHERITED):
            if sock.fileno() in _TLS and not is_tls(sock):
                _INHERITED.remove(sock)
                _KEPT.append((sock.detach(), True))
        return list(_INHERITED)


_RESTART = threading.Event()
_HANDED = threading.Event()  # the next process started already


def request_restart() -> None:
    """Makes this process start again once it ends (after `serve_forever`
    returned and the script's own clean-up ran): with the restart exit code
    under a supervisor, else by re-executing itself. Nothing after
    `hand_over_now`: the next process runs already."""
    if not _HANDED.is_set():
        _RESTART.set()


def can_hand_over() -> bool:
    """Whether this process can let the next one start before it ends
    (`hand_over_now`): a child of `setup_restart`'s supervisor."""
    return HANDOFF and _CHANNEL is not None and not is_original()


def hand_over_now() -> bool:
    """Restarts now, before this process ends (it goes on finishing its
    jobs, `jobs/draining.py`): its listening sockets go to the supervisor,
    which starts the next process at once, and this one reads no more
    commands (standard input becomes /dev/null: a read waiting there gets
    nothing the next process is typed). False when that cannot be done."""
    if not can_hand_over() or _CHANNEL is None:
        return False
    sys.stdout.flush()
    sys.stderr.flush()
    fds = _listener_fds()
    marks = b"".join(b"t" if tls else b"-" for _, tls in fds)
    try:
        socket.send_fds(_CHANNEL, [b"drain:%d:%s" % (os.getpid(), marks)],
                        [fd for fd, _ in fds])
    except OSError as err:
        log.msg("could not hand the listening sockets over: {0}", err)
        return False
    _HANDED.set()
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
    except OSError:
        pass
    return True


def _restart_at_exit() -> None:
    # registered when quick_server is imported, so it runs after the exit
    # handlers registered later (atexit runs the last registered first)
    if not _RESTART.is_set():
        return
    sys.stdout.flush()
    sys.stderr.flush()
    fds = _listener_fds() if HANDOFF else []
    if not is_original():
        _send_to_supervisor(fds)
        os._exit(EXIT["restart"])  # pylint: disable=protected-access
    os.environ[ENV_RESTARTED] = "1"
    for fd, _ in fds:
        os.set_inheritable(fd, True)
    os.environ[ENV_FDS] = fds_text(fds)
    os.execv(sys.executable, get_exec_arr())


def _send_to_supervisor(fds: list[Listener]) -> None:
    if _CHANNEL is None or not fds:
        return
    marks = b"".join(b"t" if tls else b"-" for _, tls in fds)
    try:
        socket.send_fds(_CHANNEL, [b"listeners:" + marks],
                        [fd for fd, _ in fds])
    except OSError as err:
        log.msg("could not hand the listening sockets over: {0}", err)


atexit.register(_restart_at_exit)


def catch_stop_signals(stop: Callable[[], None]) -> dict[int, Any]:
    """Serving in the main thread, Ctrl-C and SIGTERM call `stop()`; the
    handlers they had are returned, to be put back. In a Jupyter kernel
    SIGTERM is left alone: it is how the kernel is ended (Ctrl-C is the
    kernel's interrupt button there)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    signums = [signal.SIGINT] if in_kernel() else [signal.SIGTERM,
                                                    signal.SIGINT]
    return {signum: signal.signal(signum, lambda *_: stop())
            for signum in signums}


ShutdownHook = Callable[[], None]
_PENDING_HOOKS: list[ShutdownHook] = []
_HOOK_OWNER: weakref.WeakMethod[Callable[[ShutdownHook], None]] | None = None


def add_shutdown_hook(hook: ShutdownHook) -> None:
    """Runs `hook()` when the server shuts down (after in-flight requests
    finished, before `serve_forever` returns): the server created last in this
    process, or the next one created. `server.add_shutdown_hook(hook)`
    names the server."""
    with _HOOK_LOCK:
        owner = _HOOK_OWNER() if _HOOK_OWNER is not None else None
        if owner is None:
            _PENDING_HOOKS.append(hook)
            return
    owner(hook)


def adopt_shutdown_hooks(add: Callable[[ShutdownHook], None]) -> None:
    """`add` (a new server's `add_shutdown_hook`) receives the hooks that
    `add_shutdown_hook` registers from now on, and those waiting."""
    global _HOOK_OWNER  # pylint: disable=global-statement
    with _HOOK_LOCK:
        _HOOK_OWNER = weakref.WeakMethod(add)  # type: ignore[arg-type]
        pending = list(_PENDING_HOOKS)
        _PENDING_HOOKS.clear()
    for hook in pending:
        add(hook)


def run_shutdown_hooks(hooks: list[ShutdownHook]) -> None:
    """Runs each hook; a failing hook is logged and the others still run."""
    for hook in hooks:
        try:
            hook()
        except Exception:  # pylint: disable=broad-except
            log.log_exception("error in a shutdown hook:")
