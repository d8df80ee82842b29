"""How a job runs, apart from what it does: the executors of worker jobs.

- `"thread"` (`ThreadRunner`): a thread of the server; cancelling sets the
  flag `is_worker_alive()` reads, then raises `WorkerDeath` in the thread.
- `"process"` (`ProcessRunner`): a process of the server's own pool
  (`processes.py`); cancelling kills the process.
- any `concurrent.futures.Executor` (`FuturesRunner`): a
  `ProcessPoolExecutor`, Dask's `client.get_executor()`, ...; cancelling
  is `future.cancel()` (a job already running elsewhere runs to its end,
  its result is dropped). A worker job's Dask task is held on the
  scheduler, and outlives a restart of the server (`dask_tasks.py`).

A runner starts `fn(*args)` and reports back through two callbacks:
`on_progress(Progress)` and, once, `on_done(outcome)` with `("done",
value)`, `("error", type name, message, traceback text, exception)` or
`("cancelled",)`; from another process, what the server cannot rebuild
still settles the job (`outcomes.py`). `capacity` is how many jobs it runs
at once; the worker pool queues the rest."""
from __future__ import annotations

import concurrent.futures
import ctypes
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Protocol

from .. import log
from .dask_tasks import (CLOSE_TIMEOUT, DaskTask, KeptJob, dask_failure,
                         resume, task_name)
from .outcomes import Outcome, Shipment, error_outcome
from .processes import ProcessPool
from .progress import (DaskChannel, Progress, ProgressInbox, UdpChannel,
                       subscribe_dask, use_channel)
from ..threads import make_thread

if TYPE_CHECKING:
    from ..settings import Settings

OnProgress = Callable[[Progress], None]
OnDone = Callable[[Outcome], None]


class WorkerDeath(BaseException):
    """Raised inside a job's thread when its job was cancelled."""


class Runner(Protocol):
    """Where jobs run. `run` returns a handle that `cancel` takes."""

    @property
    def capacity(self) -> int:
        """How many jobs it runs at once (read as each job starts)."""

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...],
            key: str, on_progress: OnProgress, on_done: OnDone) -> Any:
        """Starts `fn(*args)`; `key` names the job on progress channels.
        Raises TypeError when the job cannot be sent where it runs."""

    def cancel(self, handle: Any) -> None:
        """Stops the job (as far as this executor can)."""

    def close(self) -> None:
        """Releases what the runner holds (threads, processes)."""


# -- threads -----------------------------------------------------------------

_CURRENT = threading.local()


class ThreadHandle:
    """A job running on a server thread."""

    def __init__(self) -> None:
        self.cancelled = False
        self.thread_id: int | None = None
        self.lock = threading.Lock()


def is_worker_alive() -> bool:
    """False once the job running on this thread was cancelled; long jobs
    check it to stop early and cleanly. (A job in a process is killed
    instead, and elsewhere it is not told.)"""
    handle = getattr(_CURRENT, "handle", None)
    return handle is None or not handle.cancelled


def get_worker_check() -> Callable[[], bool]:
    """`is_worker_alive` bound to the current job, for other threads."""
    handle = getattr(_CURRENT, "handle", None)
    return lambda: handle is None or not handle.cancelled


class ThreadRunner:
    """Each job on a thread of its own (at most `settings.jobs.max_workers`
    at once)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def capacity(self) -> int:
        return self.settings.jobs.max_workers

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...],
            key: str, on_progress: OnProgress, on_done: OnDone
            ) -> ThreadHandle:
        handle = ThreadHandle()
        make_thread(target=self._execute, daemon=True,
                    args=(handle, fn, args, on_progress, on_done),
                    name=f"worker-{key[:6]}").start()
        return handle

    @staticmethod
    def _execute(handle: ThreadHandle, fn: Callable[..., Any],
                 args: tuple[Any, ...], on_progress: OnProgress,
                 on_done: OnDone) -> None:
        outcome: Outcome = ("cancelled",)
        try:
            handle.thread_id = threading.get_ident()
            _CURRENT.handle = handle
            use_channel(on_progress)
            try:
                outcome = ("done", fn(*args))
            except WorkerDeath:
                outcome = ("cancelled",)
            except Exception as err:  # pylint: disable=broad-except
                outcome = error_outcome(err)
        except WorkerDeath:
            pass  # raised between the lines above: cancelled
        finally:
            with handle.lock:
                handle.thread_id = None  # no WorkerDeath from now on
            _CURRENT.handle = None
            use_channel(None)
        on_done(outcome)

    def cancel(self, handle: ThreadHandle) -> None:
        handle.cancelled = True
        timer = threading.Timer(self.settings.jobs.cancel_grace,
                                self._interrupt, (handle,))
        timer.daemon = True
        timer.start()

    @staticmethod
    def _interrupt(handle: ThreadHandle) -> None:
        with handle.lock:
            if handle.thread_id is not None:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(handle.thread_id),
                    ctypes.py_object(WorkerDeath))

    def close(self) -> None:
        pass


# -- the server's own processes ----------------------------------------------

class ProcessRunner:
    """Each job in a process of a `ProcessPool` of
    `settings.jobs.max_processes` processes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool = ProcessPool(self.capacity)

    @property
    def capacity(self) -> int:
        return self.settings.jobs.max_processes

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...],
            key: str, on_progress: OnProgress, on_done: OnDone) -> Any:
        self.pool.size = self.capacity  # the setting as the job starts
        return self.pool.run(fn, args, on_progress, on_done)

    def cancel(self, handle: Any) -> None:
        self.pool.cancel(handle)

    def close(self) -> None:
        self.pool.close()


# -- any concurrent.futures.Executor -----------------------------------------

def run_with_progress(channel: Any, fn: Callable[..., Any],
                      args: tuple[Any, ...]) -> Shipment:
    """Runs `fn(*args)` where an executor put it, with its progress going
    to `channel` (pickled along with the job). Its value or exception
    comes back as a `Shipment`, which the server unpacks itself: what
    cannot be rebuilt there still settles the job (and never breaks the
    executor)."""
    use_channel(channel)
    try:
        return Shipment(("done", fn(*args)))
    except Exception as err:  # pylint: disable=broad-except
        return Shipment(error_outcome(err))
    finally:
        use_channel(None)
        close = getattr(channel, "close", None)
        if close is not None:
            close()


def is_dask_executor(executor: Any) -> bool:
    return type(executor).__module__.startswith("distributed")


class FuturesRunner:
    """Jobs handed to a `concurrent.futures.Executor`. Progress comes back
    through Dask events for a Dask executor, else through a loopback UDP
    inbox (the executor's processes are on this machine). A worker job
    on a Dask executor (a `KeptJob`) is held on the scheduler, and a
    restarted server takes it up again (`dask_tasks.py`)."""

    def __init__(self, executor: concurrent.futures.Executor,
                 deliver: Callable[[str, Progress], None]) -> None:
        self.executor = executor
        self.capacity = int(getattr(executor, "_max_workers", 0) or 64)
        self._deliver = deliver
        self._inbox: ProgressInbox | None = None
        self._dask = is_dask_executor(executor)
        self._lock = threading.Lock()
        self._subscribed = False
        self._closed = False
        self._releasing: list[threading.Event] = []  # deletes sent

    @property
    def keeps_tasks(self) -> bool:
        """Whether its jobs' tasks can outlive the server (a Dask
        executor with its client)."""
        return self._dask and getattr(self.executor, "_client",
                                      None) is not None

    def _channel(self, key: str) -> Any:
        with self._lock:
            if self._dask:
                if not self._subscribed:
                    subscribe_dask(getattr(self.executor, "_client"),
                                   self._deliver)
                    self._subscribed = True
                return DaskChannel(key)
            if self._inbox is None:
                self._inbox = ProgressInbox(self._deliver)
            return UdpChannel(self._inbox.address, key)

    def _submit(self, fn: Callable[..., Any], args: tuple[Any, ...],
                job_key: str, **options: Any
                ) -> concurrent.futures.Future[Any]:
        """`fn(*args)` on the executor (`options`: Dask's `key`), its
        progress sent under `job_key`."""
        try:
            return self.executor.submit(run_with_progress,
                                        self._channel(job_key), fn, args,
                                        **options)
        except RuntimeError as err:  # shut down
            raise TypeError(f"the executor refused the job: {err}") from err

    def _settler(self, on_done: OnDone, task: DaskTask | None = None
                 ) -> Callable[[concurrent.futures.Future[Any]], None]:
        def settle(done: concurrent.futures.Future[Any]) -> None:
            try:
                on_done(_outcome_of(done, self._dask))
            finally:  # the outcome is recorded: the task may go
                if task is not None:
                    self._release(task)
        return settle

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...],
            key: str, on_progress: OnProgress, on_done: OnDone) -> Any:
        kept = fn if isinstance(fn, KeptJob) else None
        if kept is not None:
            fn = kept.fn
        if kept is None or not self.keeps_tasks:
            future = self._submit(fn, args, key)
            future.add_done_callback(self._settler(on_done))
            return future
        task = DaskTask(getattr(self.executor, "_client"), task_name(key))
        if kept.resume:
            self._channel(key)  # its progress events, from now on
            make_thread(target=resume, daemon=True, args=(
                task, kept.restartable, self._settler(on_done, task),
                lambda: self._start_held(task, kept.fn, args, key, on_done),
                on_done), name=f"dask-resume-{key[:6]}").start()
        else:
            self._start_held(task, fn, args, key, on_done)
        return task

    def _start_held(self, task: DaskTask, fn: Callable[..., Any],
                    args: tuple[Any, ...], key: str, on_done: OnDone
                    ) -> None:
        future = self._submit(fn, args, key, key=task.name)
        task.hold()
        task.follow(future, self._settler(on_done, task))

    def _release(self, task: DaskTask) -> None:
        """Lets the scheduler forget a task whose job is over."""
        if self._releases(task):
            task.release()

    def _releases(self, task: DaskTask) -> bool:
        """Notes a task released (`close` waits for it); False once the
        runner is closed: a server that stops keeping its jobs cancelled
        them before, and one that keeps them releases none."""
        with self._lock:
            if self._closed:
                return False
            self._releasing = [dropped for dropped in self._releasing
                               if not dropped.is_set()]
            self._releasing.append(task.dropped)  # (not the task: its
            return True  # futures would keep the key wanted)

    def cancel(self, handle: Any) -> None:
        if not isinstance(handle, DaskTask) or self._releases(handle):
            handle.cancel()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            releasing, self._releasing = self._releasing, []
        end = time.monotonic() + CLOSE_TIMEOUT
        for dropped in releasing:  # before the user closes the client
            dropped.wait(max(0.0, end - time.monotonic()))
        if self._inbox is not None:
            self._inbox.close()  # the executor itself is the user's


def _outcome_of(done: concurrent.futures.Future[Any], dask: bool
                ) -> Outcome:
    """The outcome of a job from its executor's future."""
    if done.cancelled():
        return ("cancelled",)
    err = done.exception()
    if err is not None:  # (the job's own errors are in its value)
        return dask_failure(err) if dask else error_outcome(err)
    value = done.result()
    return value.open() if isinstance(value, Shipment) else ("done", value)


# -- async def jobs -----------------------------------------------------------

ASYNC_JOBS = 1000  # `async def` jobs running at once (they hold no thread)


def is_async(fn: Any) -> bool:
    """Whether `fn` is an `async def` function (or a partial of one)."""
    while hasattr(fn, "func"):  # functools.partial
        fn = fn.func
    code = getattr(fn, "__code__", None)
    return code is not None and bool(code.co_flags & _CO_COROUTINE)


_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE, without importing inspect


class CoroutineJobRunner:
    """`async def` jobs, each a task on the server's asyncio event loop
    (`http.coroutines`): one that awaits holds no thread; cancelling one
    cancels its task (`CancelledError` at its current `await`, so its
    `finally` blocks run)."""

    capacity = ASYNC_JOBS

    def __init__(self, coroutines: Any) -> None:
        self._coroutines = coroutines

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...],
            key: str, on_progress: OnProgress, on_done: OnDone
            ) -> concurrent.futures.Future[Any]:
        return self._coroutines.submit(
            _async_job(fn, args, on_progress, on_done))

    def cancel(self, handle: concurrent.futures.Future[Any]) -> None:
        handle.cancel()

    def close(self) -> None:
        pass


async def _async_job(fn: Callable[..., Any], args: tuple[Any, ...],
                     on_progress: OnProgress, on_done: OnDone) -> None:
    import asyncio  # loaded already: this runs on its event loop
    use_channel(on_progress)  # this task's own (a context of its own)
    try:
        outcome: Outcome = ("done", await fn(*args))
    except asyncio.CancelledError:
        outcome = ("cancelled",)
    except Exception as err:  # pylint: disable=broad-except
        outcome = error_outcome(err)
    on_done(outcome)


class Runners:
    """The runner for each executor setting of a server: "thread",
    "process", or an executor instance (one runner per instance)."""

    def __init__(self, deliver: Callable[[str, Progress], None],
                 settings: Settings) -> None:
        self.settings = settings
        self.threads = ThreadRunner(settings)
        self._processes: ProcessRunner | None = None
        self._futures: dict[int, FuturesRunner] = {}
        self._coroutine_jobs: CoroutineJobRunner | None = None
        self._deliver = deliver
        self._lock = threading.Lock()
        # the server's `interactive`: "process" jobs follow the script's
        # redefinitions (`ProcessPool.renew`)
        self.follow_main: Callable[[], bool] = lambda: False

    def get(self, spec: Any) -> Runner:
        """The runner of an executor setting; ValueError for an unknown
        one."""
        if spec is None or spec == "thread":
            return self.threads
        if spec == "process":
            with self._lock:
                if self._processes is None:
                    self._processes = ProcessRunner(self.settings)
                    self._processes.pool.follow_main = \
                        lambda: self.follow_main()
                return self._processes
        if isinstance(spec, concurrent.futures.Executor) or \
                callable(getattr(spec, "submit", None)):
            with self._lock:
                runner = self._futures.get(id(spec))
                if runner is None:
                    runner = FuturesRunner(spec, self._deliver)
                    self._futures[id(spec)] = runner
                return runner
        raise ValueError(f"executor must be 'thread', 'process' or a "
                         f"concurrent.futures.Executor, not {spec!r}")

    def for_coroutines(self, coroutines: Any) -> CoroutineJobRunner:
        """The runner of `async def` jobs, on `coroutines` (the server's
        `http.coroutines.CoroutineRunner`), whatever the executor."""
        with self._lock:
            if self._coroutine_jobs is None:
                self._coroutine_jobs = CoroutineJobRunner(coroutines)
            return self._coroutine_jobs

    def start_processes(self) -> None:
        """Forks the process pool's template now (before serving, while
        the server has one thread), when the pool is configured."""
        with self._lock:
            runner = self._processes
        if runner is not None:
            runner.pool.start()

    def close(self) -> None:
        with self._lock:
            runners: list[Runner] = [self.threads]
            if self._processes is not None:
                runners.append(self._processes)
            runners.extend(self._futures.values())
        for runner in runners:
            try:
                runner.close()
            except Exception:  # pylint: disable=broad-except
                log.log_exception("error while closing an executor:")
