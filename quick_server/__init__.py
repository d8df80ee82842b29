"""quick_server: a quick to set up development server for Python back ends.

Static files behind white- and black-lists, dynamic JSON / text routes,
long-running workers polled by the browser, token storage, CORS, a proxy,
HTTPS, and a command prompt on the terminal."""
from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names, for type checkers; loaded when first used
    from .http.body import UploadedFile
    from .http.files import FileResponse, file_return
    from .http.request import Request as QuickServerRequestHandler
    from .log import debug, msg, set_log_file
    from .http.responses import (HTTPError, PreventDefaultResponse, Response,
                                 StreamResponse)
    from .http.routing import MiddlewareF, ReqArgs, ReqF, ReqNext
    from .rpc.contracts import RpcError, rpc_call
    from .rpc.codec import ValidationError
    from .server import QuickServer, create_server
    from .dev.restart import (add_shutdown_hook, get_exec_arr, has_been_restarted,
                          is_original, set_error_exit_code,
                          set_restart_exit_code)
    from .dev.supervisor import setup_restart
    from .client import WorkerError, worker_request
    from .multipart_client import FilesAnswer, send_files
    from .tokens import (MemoryTokenHandler, SqliteTokenHandler, TokenError,
                         TokenHandler, TokenObj)
    from .jobs.progress import report_progress
    from .jobs.executors import WorkerDeath, get_worker_check, is_worker_alive
    from .jobs.outcomes import JobFailed
    from .jobs.table import WorkerArgs


__version__ = "1.1.0"

# a literal list: type checkers (mypy --strict) read the exports from it
__all__ = [
    "__version__",
    "create_server",
    "debug",
    "FileResponse",
    "file_return",
    "HTTPError",
    "MiddlewareF",
    "msg",
    "PreventDefaultResponse",
    "QuickServer",
    "QuickServerRequestHandler",
    "ReqArgs",
    "ReqF",
    "ReqNext",
    "Response",
    "StreamResponse",
    "rpc_call",
    "RpcError",
    "FilesAnswer",
    "send_files",
    "ValidationError",
    "set_log_file",
    "UploadedFile",
    "MemoryTokenHandler",
    "SqliteTokenHandler",
    "TokenError",
    "TokenHandler",
    "TokenObj",
    "add_shutdown_hook",
    "get_exec_arr",
    "has_been_restarted",
    "is_original",
    "set_error_exit_code",
    "set_restart_exit_code",
    "setup_restart",
    "get_worker_check",
    "is_worker_alive",
    "JobFailed",
    "report_progress",
    "WorkerArgs",
    "WorkerDeath",
    "WorkerError",
    "worker_request",
]

# where each public name lives ("module" or "module:its name there"): a
# wing is imported when one of its names is first used (`import
# quick_server` loads almost nothing)
_WHERE = {
    "QuickServerRequestHandler": "http.request:Request",
    "UploadedFile": "http.body", "FileResponse": "http.files",
    "file_return": "http.files", "debug": "log", "msg": "log",
    "set_log_file": "log", "HTTPError": "http.responses",
    "PreventDefaultResponse": "http.responses",
    "Response": "http.responses", "StreamResponse": "http.responses",
    "MiddlewareF": "http.routing", "ReqArgs": "http.routing",
    "ReqF": "http.routing", "ReqNext": "http.routing",
    "RpcError": "rpc.contracts", "rpc_call": "rpc.contracts",
    "ValidationError": "rpc.codec", "QuickServer": "server",
    "create_server": "server", "add_shutdown_hook": "dev.restart",
    "get_exec_arr": "dev.restart", "has_been_restarted": "dev.restart",
    "is_original": "dev.restart", "set_error_exit_code": "dev.restart",
    "set_restart_exit_code": "dev.restart", "setup_restart": "dev.supervisor",
    "WorkerError": "client", "worker_request": "client",
    "FilesAnswer": "multipart_client", "send_files": "multipart_client",
    "MemoryTokenHandler": "tokens", "SqliteTokenHandler": "tokens",
    "TokenError": "tokens", "TokenHandler": "tokens", "TokenObj": "tokens",
    "report_progress": "jobs.progress", "WorkerDeath": "jobs.executors",
    "get_worker_check": "jobs.executors",
    "is_worker_alive": "jobs.executors", "JobFailed": "jobs.outcomes",
    "WorkerArgs": "jobs.table",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, _, attr = where.partition(":")
    value = getattr(importlib.import_module(f".{module}", __name__),
                    attr or name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if "QUICK_SERVER_CHILD" in os.environ or "QUICK_SERVER_FDS" in os.environ:
    # a process that `restart` started, or handed its sockets to: it takes
    # them (and clears them from the environment) at once
    from .dev import restart as _restart  # noqa: F401
    if _restart.has_been_restarted():
        # a restarted program that fails to start answers with its error
        from .dev import failedstart  # noqa: F401
