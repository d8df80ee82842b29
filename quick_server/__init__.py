"""quick_server: a quick to set up development server for Python back ends.

Static files behind white- and black-lists, dynamic JSON / text routes,
long-running workers polled by the browser, token storage, CORS, a proxy,
HTTPS, and a command prompt on the terminal."""
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
                      set_restart_exit_code, setup_restart)
from .client import WorkerError, worker_request
from .multipart_client import FilesAnswer, send_files
from .tokens import (MemoryTokenHandler, SqliteTokenHandler, TokenError,
                     TokenHandler, TokenObj)
from .jobs.progress import report_progress
# a restarted program that fails to start answers with its error
from .dev import failedstart  # noqa: F401  pylint: disable=unused-import
from .jobs.executors import WorkerDeath, get_worker_check, is_worker_alive
from .jobs.outcomes import JobFailed
from .jobs.table import WorkerArgs

__version__ = "1.1.0"

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
