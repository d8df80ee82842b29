"""QuickServer: the registration API and the lifecycle of a server; its
settings are one `settings.Settings` (`server.settings`).

The work is delegated to the wings (http, jobs, rpc, dev); names with a
leading underscore are plumbing the package calls, not API."""
from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import socketserver
import sys
import threading
import time
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Callable, Iterator

from . import log
from .http.sockio import is_tls
from .http.accepting import Acceptor
from .http.connection import accept_connections
from .http.event_loop import EventLoop
from .route_api import CacheIdF, RouteDecorators
from .http.routing import METHODS, MiddlewareF, ReqArgs, ReqF, Route, \
    RouteTable, split_middleware, with_middleware
from .http.static import DEFAULT_WHITE_LIST, StaticFiles
from .dev.cmdloop import CmdCompleteF, CmdF, CommandLoop, usable_stdin
from .dev.restart import (ShutdownHook, adopt_shutdown_hooks, request_restart,
                      run_shutdown_hooks, catch_stop_signals)
from .monitor.observations import Observations
from .dev.reloader import Reloader
from .dev.restart import (adopt_listener, close_unclaimed_listeners,
                      keep_listener, register_listener)
from .background_api import BackgroundApi, hold_address, take_address
from .cors_proxy_api import CorsProxyApi
from .folder_api import FolderApi
from .job_api import JobApi, WorkerRoute
from .js_client_api import JsClientApi
from .json_api import JsonApi
from .kept_jobs import KeptJobs
from .monitor_api import MonitorApi
from .rpc_api import RpcApi
from .tokens import TokenApi, TokenHandler, TokenStore
from .http.compress import gzip_filter
from .http.cors import CorsPolicy, cors_filter
from .http.dispatch import AnswerFilter
from .http.errorpage import error_filter
from .http.extra_headers import extra_headers_filter
from .http.livescript import script_filter
from .http.proxy import Proxy
from .settings import LimitsView, ServerAliases, Settings, check_together

if TYPE_CHECKING:
    import ssl

    from .jobs.services_hub import ServiceHub

STOP_MARGIN = 5.0  # seconds server_close waits past shutdown_grace
_UNLOCKED = contextlib.nullcontext()  # a parallel route's (reusable)


class QuickServer(RouteDecorators, JobApi, KeptJobs, MonitorApi, RpcApi,
                  JsClientApi, TokenApi, CorsProxyApi, FolderApi,
                  BackgroundApi, JsonApi, ServerAliases,
                  socketserver.TCPServer):
    """A development server for static files, dynamic routes and workers.

    Set its settings (`server.settings.http.max_file_size`, or by the old
    names: `server.max_file_size`) and register routes before
    `serve_forever`."""

    allow_reuse_address = True
    request_queue_size = 1024  # until serving: then settings.http.backlog

    def __init__(self, server_address: tuple[str, int], parallel: bool = True,
                 *, ssl_context: ssl.SSLContext | None = None,
                 certfile: str | None = None, keyfile: str | None = None,
                 token_handler: TokenHandler | None = None,
                 bind_and_activate: bool = True) -> None:
        self.settings = Settings()  # first: the old names read it
        host, port = server_address[0] or "127.0.0.1", server_address[1]
        if certfile == "auto":  # before binding: DevCertError leaks nothing
            from .dev.devcert import dev_certificate
            certfile, keyfile = dev_certificate(), None
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.parallel = parallel
        self._routes = RouteTable()
        self._static = StaticFiles(self.settings.static)
        self.observed = Observations()  # requests, for the dashboard
        self.stats = self.observed  # (its summary is printed on exit)
        self._cors = CorsPolicy(False)  # parsed once per cross_origin
        self._middlewares: list[MiddlewareF] = []
        self._typed: dict[str, Any] = {}  # path -> rpc.model.TypedRoute
        self._serial_lock = threading.Lock()
        self._inflight = 0
        self._inflight_lock = threading.Lock()
        self._proxies: tuple[Proxy, ...] = ()
        # what every answer goes through, in this order (`http.dispatch`)
        self._filters: list[AnswerFilter] = [
            error_filter, script_filter, gzip_filter, cors_filter,
            extra_headers_filter]
        self._tokens = TokenStore(token_handler)
        self._worker_routes: dict[str, WorkerRoute] = {}
        self._services: ServiceHub | None = None
        self.commands = CommandLoop(self.settings)
        self.draining = False  # stopping: answers close their connection
        self.reloader = Reloader(self)
        self._running = False
        self._serving: threading.Thread | None = None
        self._stop_reason = "quit"
        self._shutdown_hooks: list[ShutdownHook] = []
        adopt_shutdown_hooks(self.add_shutdown_hook)
        self._acceptor = Acceptor()
        self._loop = EventLoop(self._connection_failed)
        self._async: Any = None  # the asyncio loop's runner, on first use
        self._stop_serving = threading.Event()
        self._serve_lock = threading.Lock()
        self._stopped = threading.Event()  # serve_forever ended for good
        self._add_builtin_commands()
        super().__init__((host, port), socketserver.BaseRequestHandler,
                         bind_and_activate)
        if certfile is not None and ssl_context is None:
            import ssl  # only a server with TLS loads it
            ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ssl_context.load_cert_chain(certfile, keyfile)
        if ssl_context is not None:
            self.socket = ssl_context.wrap_socket(self.socket,
                                                  server_side=True)

    # -- socket ------------------------------------------------------------

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6:
            with contextlib.suppress(OSError):
                self.socket.setsockopt(socket.IPPROTO_IPV6,
                                       socket.IPV6_V6ONLY, 0)
        inherited = adopt_listener(self.address_family, self.server_address)
        if inherited is not None:  # restarted: the same socket, no bind
            self.socket.close()
            self.socket = inherited
            self.server_address = inherited.getsockname()
        else:
            take_address(self, self.address_family, self.server_address)
            # not HTTPServer.server_bind: its getfqdn() can stall on DNS
            socketserver.TCPServer.server_bind(self)
        register_listener(self)
        hold_address(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def shutdown(self) -> None:
        """Stops `serve_forever` (from another thread), returning once it
        stopped accepting, with the listening socket closed (unless a
        restart hands it over): a client that connects now is refused
        instead of waiting in its queue. In-flight requests still finish
        before `serve_forever` returns (join its thread)."""
        with self._serve_lock:  # the loop started, or will not
            self._stop_serving.set()
        self._loop.stop_accepting()
        self._close_listener()

    def _close_listener(self) -> None:
        if self._stop_reason != "restart":
            self.socket.close()  # server_close() frees the rest

    def server_close(self) -> None:
        """Frees the socket and the threads; called from another thread
        while serving, it stops serving first and waits (a bounded time)
        for the graceful stop."""
        serving = self._serving
        if serving is not None and serving is not threading.current_thread():
            # serve_forever would spin on the closed socket: end it first
            self.shutdown()
            self._stopped.wait(self.shutdown_grace + STOP_MARGIN)
        keep_listener(self.socket)  # restarting: the next process takes it
        super().server_close()
        self._static.gzip_cache.clear()
        self._loop.close()  # the connections still open end
        if self._async is not None:
            self._async.close()
        close = getattr(self._tokens.handler, "close", None)
        if close is not None:
            close()  # a store that holds a file or a connection

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.log_exception(f"error on the connection from {client_address}:")

    @property
    def _coroutines(self) -> Any:
        """Where `async def` handlers run (`http.coroutines`): an asyncio
        event loop on a thread of its own, started on first use."""
        if self._async is None:
            from .http.coroutines import CoroutineRunner
            self._async = CoroutineRunner(log.msg)
        return self._async

    def _connection_failed(self, conn: Any) -> None:
        """A connection's code raised: say so, and end the connection."""
        self.handle_error(conn.sock, conn.client_address)
        conn.expire(math.inf)

    @property
    def port(self) -> int:
        return self.server_port

    @property
    def is_https(self) -> bool:
        """True once the listening socket is wrapped with TLS."""
        return is_tls(self.socket)

    @property
    def _upload_limit(self) -> int:
        """The largest multipart body accepted: `max_upload_size`, by
        default room for one file of `max_file_size` and the form's other
        fields (each uploaded file is also held to `max_file_size`)."""
        http = self.settings.http
        if http.max_upload_size is not None:
            return http.max_upload_size
        return http.max_file_size + http.max_body_size

    @property
    def limits(self) -> LimitsView:
        """The limits of a request head by their old names
        (`server.limits.head_timeout`): aliases of `settings.http`'s."""
        return LimitsView(self.settings)

    # -- requests in flight ------------------------------------------------

    def _request_started(self) -> None:
        with self._inflight_lock:
            self._inflight += 1

    def _request_finished(self) -> None:
        with self._inflight_lock:
            self._inflight -= 1

    def _wait_idle(self, timeout: float) -> bool:
        """Waits until no request is being answered (checked every few
        milliseconds: only a stopping server waits); False on timeout."""
        deadline = time.monotonic() + timeout
        while self._inflight:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def _serial(self, route: Route) -> contextlib.AbstractContextManager[Any]:
        """Held while a route handler runs when `parallel` is off."""
        return _UNLOCKED \
            if self.parallel or not route.exclusive else self._serial_lock

    # -- static files ------------------------------------------------------

    def bind_path(self, name: str, folder: str) -> None:
        """Serves `folder` (relative to `base_path`) under prefix `name`."""
        self._static.bind(name, folder)

    def bind_path_fallback(self, name: str, folder: str) -> None:
        """Like `bind_path`, but tried after every other bound folder."""
        self._static.bind(name, folder, fallback=True)

    def add_file_patterns(self, patterns: list[str], blacklist: bool) -> None:
        """Adds fnmatch patterns to the black- or the white-list. With a
        white-list, only files matching it are served; black wins."""
        (self._static.black if blacklist else self._static.white).add(
            list(patterns))

    def add_default_white_list(self) -> None:
        """White-lists the usual web file types (html, js, css, images,
        fonts, json, ...)."""
        self.add_file_patterns(DEFAULT_WHITE_LIST, blacklist=False)

    def link_empty_favicon_fallback(self) -> None:
        """Answers `/favicon.ico` with the small icon bundled here (the
        name is the original's: its icon was empty)."""
        self.favicon_fallback = os.path.join(os.path.dirname(__file__),
                                             "favicon.ico")

    # -- routes ------------------------------------------------------------

    def add_route(self, method: str, kind: str, mask: str, handler: ReqF,
                  argc: int | None = None, *, exclusive: bool = True,
                  guard: Callable[[Any], None] | None = None) -> None:
        """Registers `handler(req, args)`; see the `json_*`/`text_*`/
        `html_*` decorators. `guard(req)` runs before the body is read and
        raises `HTTPError` to refuse the request. ValueError for an unknown
        method or kind (not "json", "text" or "html"), or when method and
        mask are taken."""
        if method not in METHODS:
            raise ValueError(f"unsupported method {method}")
        if self._routes.add(Route(method, mask, kind, with_middleware(
                list(self._middlewares), handler), argc, exclusive, guard),
                replace=self.interactive):
            self._route_replaced(f"{method} {mask}")

    def _cached_handler(self, handler: ReqF, cache_id: CacheIdF,
                       method: str | None, section: str | None) -> ReqF:
        """`handler` answering from `server.cache` for the key
        `cache_id(args)` (None: not cached), behind the handler's
        middleware: the middleware runs on every request, and a `Response`
        (e.g. a 401) is never cached. A plain result must be a value the
        cache method can store."""
        from .jobs.caching import cached
        middlewares, inner = split_middleware(handler)

        def compute(req: Any, args: ReqArgs) -> Any:
            value = inner(req, args)
            if isinstance(value, CoroutineType):  # a cached async handler
                value = self._coroutines.submit(value).result()  # waits
            return value

        def answer(req: Any, args: ReqArgs) -> Any:
            return cached(self.cache, lambda: cache_id(args),
                          lambda: compute(req, args), section, method)
        answer.__name__ = getattr(inner, "__name__", "handler")
        return with_middleware(middlewares, answer)

    def middleware(self, *middlewares: MiddlewareF
                   ) -> Callable[[ReqF], ReqF]:
        """Decorator (below the route decorator) that runs
        `middleware(req, args, okay)` before the handler."""
        def wrap(handler: ReqF) -> ReqF:
            return with_middleware(list(middlewares), handler)
        return wrap

    @contextlib.contextmanager
    def middlewares(self, *middlewares: MiddlewareF) -> Iterator[None]:
        """Every route registered inside the `with` block gets these."""
        before = list(self._middlewares)
        self._middlewares.extend(middlewares)
        try:
            yield
        finally:
            self._middlewares = before

    # -- commands, serving and stopping ------------------------------------

    def cmd(self, argc: int | None = None,
            complete: CmdCompleteF | None = None) -> Callable[[CmdF], CmdF]:
        """Registers the decorated `fn(args)` as a terminal command named
        after the function (`cache_clear` is typed `cache_clear` or
        `cache clear`)."""
        def register(fn: CmdF) -> CmdF:
            self.commands.add(fn, argc, complete)
            return fn
        return register

    def _add_builtin_commands(self) -> None:
        def help(args: list[str]) -> None:  # pylint: disable=redefined-builtin
            """lists the commands"""
            log.msg(self.commands.help_text())

        def restart(args: list[str]) -> None:
            """restarts the server with fresh code"""
            self.stop("restart")

        def quit(args: list[str]) -> None:  # pylint: disable=redefined-builtin
            """stops the server"""
            self.stop("quit")

        def workers(args: list[str]) -> None:
            """lists worker jobs by route (started, finished, failed,
            cancelled, run times)"""
            log.msg(self.workers.stats.summary())

        for fn in (help, restart, quit, workers):
            self.commands.add(fn, 0)
        self._add_job_commands()
        self._add_status_command()

    def serve_forever(self, poll_interval: float = 0.1) -> None:
        """Serves until `quit`, `restart`, Ctrl-C or SIGTERM; then stops
        gracefully and returns. Starts the command loop unless
        `no_command_loop`. After `restart` the process starts again once
        the script has ended (its `finally` blocks run first). ValueError
        naming the settings that do not fit together, before anything
        starts."""
        check_together(self.settings)
        if self._stop_serving.is_set():  # shut down before it began
            self._stop_serving.clear()
            self._graceful_stop()
            return
        if self.socket.fileno() < 0:
            raise RuntimeError("this server was stopped (its socket is "
                               "closed): create a new one to serve again")
        self._running = True
        self._serving = threading.current_thread()
        self._stopped.clear()
        self._stop_reason = "quit"
        self._start_job_processes()  # forks: before any thread of ours
        self._open_job_store()  # and puts back the jobs it kept
        previous = catch_stop_signals(lambda: self.stop("signal"))
        if not self.no_command_loop and usable_stdin():
            self.commands.start(lambda: self._running)
        close_unclaimed_listeners()
        self.draining = False
        self.reloader.start()
        switch = sys.getswitchinterval()
        try:
            # a job computing on a thread gives the event loop its turn
            # within this, not Python's 5 ms (a convoy: 225 req/s, p99
            # 0.6 s, where it is 7,200 req/s, p99 13 ms)
            sys.setswitchinterval(self.settings.http.switch_interval)
            if self._serve():
                # a signal the kernel hands another thread runs its
                # handler only once this thread wakes: every poll_interval
                while not self._stop_serving.wait(max(poll_interval, 0.01)):
                    pass
        except KeyboardInterrupt:
            self._stop_reason = "interrupt"
        finally:
            self._running = False
            sys.setswitchinterval(switch)
            self._loop.stop_accepting()
            self._close_listener()  # new clients are refused, not queued
            self.reloader.stop()  # ends live-reload streams too
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            self._graceful_stop()
            self._serving = None
            self._stop_serving.clear()
            self._stopped.set()
        if self._stop_reason == "restart":
            request_restart()

    def _serve(self) -> bool:
        """Starts the event loop that accepts and serves connections;
        False when `shutdown` came first."""
        http = self.settings.http
        with self._serve_lock:
            if self._stop_serving.is_set():
                return False
            self.socket.listen(http.backlog)
            if self._loop.closed:  # by an earlier serve_forever
                self._loop = EventLoop(self._connection_failed)
            self._loop.start(self.socket, lambda: accept_connections(
                self, self._acceptor), http.pool_size, http.max_connections)
        return True

    def watch(self, paths: str | list[str]) -> None:
        """Files or folders (relative to `base_path`) whose change
        restarts the server when `auto_restart` is on, besides every
        imported module outside the standard library and site-packages."""
        self.reloader.watch(paths)

    def add_shutdown_hook(self, hook: ShutdownHook) -> None:
        """Runs `hook()` when this server shuts down (after in-flight
        requests finished, before `serve_forever` returns)."""
        self._shutdown_hooks.append(hook)

    def _graceful_stop(self) -> None:
        log.end_prompt()
        jobs = self._jobs  # None: no job was ever made
        self._close_jobs(self._stop_reason)  # answers waiting polls at once
        self.draining = True
        if not self.reloader.drain(self.shutdown_grace):
            log.msg("stopping with requests still running")
        self._finish_drain()  # the jobs a restart lets finish here
        hooks, self._shutdown_hooks = self._shutdown_hooks, []
        run_shutdown_hooks(hooks)
        self._static.gzip_cache.clear()  # big files' gzip forms, on disk
        if jobs is not None and jobs[0].stats.lines():
            log.msg(jobs[0].stats.summary())
        self.commands.save_history()
        log.msg(self.stats.summary())


def create_server(server_address: tuple[str, int], parallel: bool = True,
                  **kwargs: Any) -> QuickServer:
    """Creates a `QuickServer` bound to `(address, port)`; an empty address
    means 127.0.0.1, an address with ':' is IPv6."""
    return QuickServer(server_address, parallel, **kwargs)
