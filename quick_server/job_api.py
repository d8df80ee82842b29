"""The job registration methods of a server (a mixin of `QuickServer`):
workers, services, `submit`, the job processes and worker.js."""
from __future__ import annotations

import contextlib
import os
import threading
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, TypeVar

from . import log
from .browser import (JS_TYPE, TS_TYPE, WORKER_JS, declarations_path,
                      script_answer, serve_hub, sibling_paths, worker_dts,
                      worker_js, worker_module, write_if_changed)
from .http.files import download_path
from .http.responses import to_json
from .http.routing import ReqArgs, ReqF
from .settings import Settings

if TYPE_CHECKING:  # the jobs wing is imported when jobs are first used
    import concurrent.futures

    from .jobs.protocol import Polls
    from .jobs.services_hub import ServiceHub
    from .jobs.table import WorkerArgs, WorkerPool

WorkerF = TypeVar("WorkerF", bound=Callable[["WorkerArgs"], Any])
_MADE = threading.Lock()  # the job table is made once


class WorkerRoute(NamedTuple):
    """A worker path: its function (None for services), executor, how its
    jobs start (`start(payload, token=None, key=None)`: a restored job
    has its own), whether a job that was running when the server
    restarted may run again, and how such a job takes up its task where
    it still runs (`resume(payload, token, key)`: the job, or None when
    its executor keeps no task across a restart; a Dask executor
    does)."""
    fn: Any
    executor: Any
    start: Callable[..., Any]
    restartable: bool
    resume: Callable[[Any, str, str], Any] | None = None


class JobApi:
    """`json_worker`, `bind_services`, `service_worker`, `submit`,
    `start_job_processes`, `link_worker_js` and `mirror_worker_js`."""

    _jobs: tuple[WorkerPool, Polls] | None = None
    _services_prefix: str | None = None  # where bind_services put its API

    if TYPE_CHECKING:  # what the server provides
        settings: Settings
        _services: ServiceHub | None
        _worker_routes: dict[str, WorkerRoute]
        cache: Any
        worker_executor: Any
        interactive: bool
        max_chunk_size: int
        base_path: str
        _coroutines: Any  # where `async def` handlers and jobs run

        def _to_json(self, value: Any) -> str: ...

        def add_route(self, method: str, kind: str, mask: str,
                      handler: ReqF, argc: int | None = None, *,
                      exclusive: bool = True,
                      guard: Callable[[Any], None] | None = None
                      ) -> None: ...

        def _js_client_pending(self, path: str, fn: Any,
                               typed: bool = True) -> None: ...

        def _js_clients_changed(self) -> None: ...

        def _replacing(self, what: str
                       ) -> contextlib.AbstractContextManager[None]: ...

    @property
    def workers(self) -> WorkerPool:
        """The job table (made, and the jobs wing imported, when first
        used)."""
        return self._job_table()[0]

    @property
    def _polls(self) -> Polls:
        return self._job_table()[1]

    def _job_table(self) -> tuple[WorkerPool, Polls]:
        jobs = self._jobs
        if jobs is None:
            from .jobs.protocol import Polls
            from .jobs.table import WorkerPool
            with _MADE:
                if self._jobs is None:
                    pool = WorkerPool(self.settings)
                    pool.runners.follow_main = lambda: self.interactive
                    self._jobs = (pool, Polls(pool))
                jobs = self._jobs
        return jobs

    def json_worker(self, mask: str,
                    cache_id: Callable[[WorkerArgs], Any] | None = None,
                    cache_method: str | None = None,
                    cache_section: str | None = None,
                    executor: Any = None, restartable: bool = False
                    ) -> Callable[[WorkerF], WorkerF]:
        """Registers `fn(payload)` as a worker at `mask` (POST, the worker
        protocol). `executor` says where its jobs run: "thread",
        "process", or a `concurrent.futures.Executor` (default:
        `server.worker_executor`). With `server.cache` and
        `cache_id(payload)` set, a result is computed once per cache
        key. `restartable=True`: a job that was running when the server
        restarted runs again from its start (else it fails with
        `JobLost`); on a Dask executor it goes on where it runs, when the
        scheduler still has its task."""
        if executor is not None:
            self.workers.runners.get(executor)  # ValueError when unknown

        def register(fn: WorkerF) -> WorkerF:
            self._js_client_pending(mask, fn, typed=False)
            with self._replacing(f"worker {mask}"):
                self._register_worker(mask, fn, cache_id, cache_method,
                                      cache_section, executor, restartable)
            self._js_clients_changed()
            return fn
        return register

    def _register_worker(self, mask: str, fn: Callable[..., Any],
                         cache_id: Callable[[Any], Any] | None,
                         cache_method: str | None,
                         cache_section: str | None, executor: Any,
                         restartable: bool, typed: Any = None) -> None:
        """A worker at `mask` (what `json_worker` registers). `typed` (a
        `rpc.typed_worker.WorkerContract`, for `rpc_worker`) checks each
        payload into its request type (a 400 when it does not fit), gives
        `fn` and `cache_id` the typed request, and checks and encodes the
        result; the job store keeps the JSON payload either way."""
        from .jobs.caching import cache_key, cache_lookup, cache_store

        def start(payload: WorkerArgs, token: str | None = None,
                  job_key: str | None = None, resume: bool = False) -> Any:
            runner = self._runner_for(fn, executor)
            keeps_tasks = getattr(runner, "keeps_tasks", False)  # Dask
            if resume and not keeps_tasks:
                return None  # its task died with the old process
            arg = payload if typed is None else typed.payload_of(payload)
            job_fn, args = (fn, (payload,)) if typed is None \
                else typed.job(payload, arg)
            if keeps_tasks:
                from .jobs.dask_tasks import KeptJob
                job_fn = KeptJob(job_fn, resume, restartable)
            key = cache_key(self.cache, None if cache_id is None
                            else (lambda: cache_id(arg)))
            if key is not None:
                found, value = cache_lookup(self.cache, key,
                                            cache_section, cache_method)
                if found:
                    return self.workers.finished_job(
                        self._to_json(value), mask, token=token,
                        payload=payload)

            def encode(value: Any, seconds: float) -> str:
                if typed is not None:
                    value = typed.result_json(value)
                if key is not None:
                    value = cache_store(self.cache, key, value, seconds,
                                        cache_section, cache_method)
                return self._to_json(value)
            return self.workers.submit(
                job_fn, args, route=mask, encode=encode, runner=runner,
                token=token, kept=True, key=job_key)

        self._worker_routes[mask] = WorkerRoute(
            fn, executor, start, restartable,
            lambda payload, token, key: start(payload, token, key,
                                              resume=True))
        self._add_worker_route(mask, start, getattr(fn, "__name__", "worker"))
        self.add_route(
            "GET", "json", download_path(mask, ":token"),
            lambda req, args: self.workers.download(
                args["segments"]["token"]), 0, exclusive=False)

    def _add_worker_route(self, mask: str,
                          start: Callable[[WorkerArgs], Any],
                          name: str) -> None:
        """The worker protocol at `mask`, starting jobs with `start`."""
        from .jobs.protocol import handle_request
        def protocol(req: Any, args: ReqArgs) -> Any:
            return handle_request(self.workers, self._polls, args["post"],
                                  start, self.max_chunk_size)
        protocol.__name__ = name
        self.add_route("POST", "json", mask, protocol, 0, exclusive=False)

    def bind_services(self, prefix: str = "/services",
                      service_timeout: float | None = None,
                      key: str | None = None) -> str:
        """Lets remote services pull jobs over HTTP under `prefix` (see
        `services.py`): each call needs `Authorization: Bearer <key>`. A
        service silent for `service_timeout` seconds is dead (None:
        `settings.services.service_timeout`, which a value sets). Without
        a `key` one is made (and logged; the job store keeps it for a
        restarted server, see `persist_jobs`); the key is returned."""
        if self._services is not None:
            raise ValueError("services are bound already")
        if service_timeout is not None:
            self.settings.services.service_timeout = service_timeout
        made = key is None
        if key is None:
            import secrets  # loaded on first use
            key = secrets.token_urlsafe(24)
            log.msg("services key: {0}", key)
        elif not key:
            raise ValueError("the services key must not be empty")
        from .jobs.services_hub import ServiceHub
        from .jobs.services_http import bind_routes as bind_service_routes
        self._services = ServiceHub(self.settings, key, made)
        bind_service_routes(self, self._services, prefix)
        self._services_prefix = prefix.rstrip("/")
        return key

    def service_worker(self, mask: str, name: str) -> None:
        """Serves the worker protocol at `mask` with the services called
        `name` (`bind_services` first): browsers and `worker_request` see
        an ordinary worker. Across a restart of the server a job a
        service holds stays with it, and one that waits for a service
        waits again."""
        if self._services is None:
            raise ValueError("call bind_services() before service_worker()")
        hub = self._services
        from .jobs.services_hub import ServiceRunner
        runner = ServiceRunner(hub, name)

        def start(payload: WorkerArgs, token: str | None = None,
                  key: str | None = None) -> Any:
            hub.check_room(len(to_json(payload)))
            return self.workers.submit(_run_on_a_service, (payload,),
                                       route=mask, runner=runner,
                                       token=token, kept=True, key=key)
        self._worker_routes[mask] = WorkerRoute(None, "service", start, True)
        with self._replacing(f"service worker {mask}"):
            self._add_worker_route(mask, start, f"service {name}")
        self._js_clients_changed()  # a client that names it has it now

    def submit(self, fn: Callable[..., Any], *args: Any,
               executor: Any = None) -> concurrent.futures.Future[Any]:
        """Runs `fn(*args)` as a job (on `executor`, default
        `server.worker_executor`) and returns its `Future`: a route can
        hand work to the job pool and wait for it. Bounded like every job
        (HTTPError 503 when the queue is full); a failure where the job
        ran is the exception itself, or a `JobFailed` with its type and
        message."""
        return self.workers.submit_future(
            fn, args, self._runner_for(fn, executor))

    def _runner_for(self, fn: Callable[..., Any], executor: Any) -> Any:
        """Where `fn`'s jobs run: `executor` (default
        `server.worker_executor`); an `async def` function's on the
        server's asyncio event loop."""
        from .jobs.executors import is_async
        if is_async(fn):
            return self.workers.runners.for_coroutines(self._coroutines)
        return self.workers.runners.get(executor or self.worker_executor)

    def start_job_processes(self) -> None:
        """Forks the "process" executor's template process now. The server
        does so itself when serving starts, before any thread of its own;
        call this earlier when something else starts threads first (a
        Dask `Client`, your own threads): a process forked while other
        threads run could inherit a lock one of them held."""
        self.workers.runners.get("process")
        self.workers.runners.start_processes()

    def _start_job_processes(self) -> None:
        """When any worker runs in processes (or `max_processes` was set:
        `submit(..., executor="process")` will), checks that its function
        can be sent there and forks the pool's template now, while the
        server has a single thread (nothing when no job can run in a
        process and no job was made yet)."""
        if self._jobs is None and not self._worker_routes and \
                self.worker_executor != "process" and \
                not self.settings.is_set("jobs.max_processes"):
            return
        import pickle
        for mask, route in self._worker_routes.items():
            fn, executor = route.fn, route.executor
            if fn is None or (executor or self.worker_executor) != "process":
                continue
            self.workers.runners.get("process")
            try:
                pickle.dumps(fn)
            except Exception as err:  # pylint: disable=broad-except
                log.msg("worker {0}: its function cannot run in a process "
                        "(it must be a module-level function): {1}",
                        mask, err)
        if self.worker_executor == "process" or \
                self.settings.is_set("jobs.max_processes"):
            self.workers.runners.get("process")
        self.workers.runners.start_processes()

    def link_worker_js(self, mask: str) -> str:
        """Serves the browser client `worker.js` at `mask` (a classic
        script), the same client as an ES module beside it (`/js/worker.js`
        -> `/js/worker.mjs`, with its TypeScript declarations at
        `/js/worker.d.ts`; a mask not ending in `.js` gets `.mjs` and
        `.d.ts` appended), and the hub that shares a browser's waiting
        connections among its tabs."""
        module_mask, dts_mask = sibling_paths(mask)
        for path, body, ctype in ((mask, worker_js, JS_TYPE),
                                  (module_mask, worker_module, JS_TYPE),
                                  (dts_mask, worker_dts, TS_TYPE)):
            self.add_route("GET", "text", path,
                           _script_route(body, ctype), 0, exclusive=False)
        serve_hub(self)
        return WORKER_JS

    link_legacy_worker_js = link_worker_js  # the original's names

    def mirror_worker_js(self, path: str, module: bool = True) -> None:
        """Copies the worker client to `path` (in a front end's source
        tree, relative to `base_path`) and keeps the copy current whenever
        the server starts: the ES module (`import { Worker } from
        './worker.js'`) with its TypeScript declarations beside it
        (`worker.d.ts`; `.d.mts` for a `.mjs` path), or with
        `module=False` the classic script `link_worker_js` serves."""
        target = os.path.join(self.base_path, path)
        serve_hub(self)  # for pages of this server (else a tab holds it)
        if not module:
            write_if_changed(target, worker_js())
            return
        write_if_changed(target, worker_module())
        write_if_changed(declarations_path(target), worker_dts())

    def mirror_legacy_worker_js(self, path: str, module: bool = False
                                ) -> None:
        """The original quick_server's name: `mirror_worker_js`, writing
        the classic script by default, as it did."""
        self.mirror_worker_js(path, module)


def _script_route(body: Callable[[], bytes], ctype: str) -> ReqF:
    """The GET route of one of the browser's scripts."""
    return lambda req, args: script_answer(body(), ctype)


def _run_on_a_service(payload: Any) -> Any:
    raise AssertionError("a service job runs on a service")  # never called
