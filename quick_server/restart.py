"""Restarting in place and shutting down: the supervisor behind
`setup_restart`, exit codes, shutdown hooks.

With `setup_restart()` the original process only supervises: it runs the
script again as a child and starts it anew whenever the child exits with
the restart code. Without it, `restart` re-executes the process."""
from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import threading
from typing import Callable

from . import log

_ENV_CHILD = "QUICK_SERVER_CHILD"
_ENV_RESTARTED = "QUICK_SERVER_RESTARTED"
_EXIT = {"restart": 42, "error": 1}
_HOOKS: list[Callable[[], None]] = []
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


def restart_now() -> None:
    """Ends this process so that it starts again: by the restart exit code
    under a supervisor, else by re-executing once the interpreter ends."""
    if not is_original():
        sys.exit(_EXIT["restart"])
    args = get_exec_arr()

    def reexec() -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.environ[_ENV_RESTARTED] = "1"
        os.execv(sys.executable, args)

    atexit.register(reexec)
    sys.exit(0)


def add_shutdown_hook(hook: Callable[[], None]) -> None:
    """Runs `hook()` when the server shuts down (after in-flight requests
    finished, before the socket closes)."""
    with _HOOK_LOCK:
        _HOOKS.append(hook)


def run_shutdown_hooks() -> None:
    """Runs every shutdown hook once; a failing hook is logged."""
    with _HOOK_LOCK:
        hooks = list(_HOOKS)
        _HOOKS.clear()
    for hook in hooks:
        try:
            hook()
        except Exception:  # pylint: disable=broad-except
            log.log_exception("error in a shutdown hook:")
