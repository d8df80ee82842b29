"""Restarting in place and shutting down: the supervisor behind
`setup_restart`, exit codes, shutdown hooks.

With `setup_restart()` the original process only supervises: it runs the
script again as a child and starts it anew whenever the child exits with
the restart code. Without it, `restart` re-executes the process. Either
way `serve_forever` returns first, and the script's clean-up runs."""
from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import threading
import weakref
from typing import Callable

from . import log

_ENV_CHILD = "QUICK_SERVER_CHILD"
_ENV_RESTARTED = "QUICK_SERVER_RESTARTED"
_EXIT = {"restart": 42, "error": 1}
_HOOK_LOCK = threading.Lock()


def set_restart_exit_code(code: int) -> None:
    """The exit code by which a child asks the supervisor to restart it."""
    _EXIT["restart"] = code


def set_error_exit_code(code: int) -> None:
    """The exit code of the supervisor when its child died of a signal."""
    _EXIT["error"] = code


def restart_exit_code() -> int:
    return _EXIT["restart"]


def is_original() -> bool:
    """True in the process the user started (not a supervised child)."""
    return _ENV_CHILD not in os.environ


def has_been_restarted() -> bool:
    """True when this process was started by a `restart`."""
    return os.environ.get(_ENV_RESTARTED) == "1"


def get_exec_arr() -> list[str]:
    """The command line that runs this script again."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:
        name = spec.name.removesuffix(".__main__")
        return [sys.executable, "-m", name] + sys.argv[1:]
    return [sys.executable] + sys.argv


def setup_restart() -> None:
    """Call first in a script: this process becomes a supervisor that runs
    the script as a child and restarts it on request; returns (in the
    child) only."""
    if not is_original():
        return
    env = dict(os.environ)
    env[_ENV_CHILD] = "1"
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: object) -> None:
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while True:
        child = subprocess.Popen(get_exec_arr(), env=env)
        while True:
            try:
                code = child.wait()
                break
            except KeyboardInterrupt:
                continue
        if code != _EXIT["restart"]:
            sys.exit(code if code >= 0 else _EXIT["error"])
        env[_ENV_RESTARTED] = "1"
        log.msg("restarting the server")


_RESTART = threading.Event()


def request_restart() -> None:
    """Makes this process start again once it ends (after `serve_forever`
    returned and the script's own clean-up ran): with the restart exit code
    under a supervisor, else by re-executing itself."""
    _RESTART.set()


def _restart_at_exit() -> None:
    # registered when quick_server is imported, so it runs after the exit
    # handlers registered later (atexit runs the last registered first)
    if not _RESTART.is_set():
        return
    sys.stdout.flush()
    sys.stderr.flush()
    if not is_original():
        os._exit(_EXIT["restart"])  # pylint: disable=protected-access
    os.environ[_ENV_RESTARTED] = "1"
    os.execv(sys.executable, get_exec_arr())


atexit.register(_restart_at_exit)

ShutdownHook = Callable[[], None]
_PENDING_HOOKS: list[ShutdownHook] = []
_HOOK_OWNER: weakref.WeakMethod[Callable[[ShutdownHook], None]] | None = None


def add_shutdown_hook(hook: ShutdownHook) -> None:
    """Runs `hook()` when the server shuts down (after in-flight requests
    finished, before the socket closes): the server created last in this
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
