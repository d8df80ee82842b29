"""Worker jobs on a Dask cluster that outlive the server process (issue 21).

A worker job (`json_worker`) on a Dask executor is a task under a key made
from the job's own key (`task_name`), and a Dask `Variable` of the same
name holds it on the scheduler: when the server process exits (a restart,
a crash) and its client disconnects, the scheduler keeps the task running,
and keeps its result or error. A restarted server that restores the job
(`jobs/restoring.py`) takes the task up again by its name (`DaskTask.attach`)
instead of failing the job with `JobLost`; its progress goes on through the
Dask events, which name the job by its key.

Once the server has the job's outcome (in its job table and its job store)
or the job is cancelled, the variable is deleted: the scheduler forgets
the task, and nothing is left on it. A task that is gone when the server
looks for it (a `LocalCluster` dies with the process that started it, a
scheduler that restarted forgets its tasks) fails the job with `JobLost`,
or runs it again when its worker is `restartable`.

Jobs of `server.submit` live in the process that made them: their tasks
are not held (they are not `KeptJob`s)."""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, Callable

from .. import log
from .outcomes import Outcome, describe, error_outcome

PREFIX = "quick_server-"  # task and variable names: PREFIX + job key
LOST = "JobLost"  # the error type of a job that was lost
ATTACH_TIMEOUT = 5.0  # seconds the scheduler looks for a held task
CLOSE_TIMEOUT = 5.0  # seconds a closing runner waits for its releases


DASK_ENVIRONMENT = ("quick_server and the script's modules must be "
                    "importable on the Dask scheduler and workers, in the "
                    "same environment as the client")


def dask_failure(err: BaseException) -> Outcome:
    """The outcome of a Dask task that failed before its job ran; a task
    the cluster could not load ("Error during deserialization of the task
    graph", an ImportError) names the likely cause."""
    outcome = error_outcome(err)
    text = outcome[2]
    if "Error during deserialization" in text or \
            isinstance(err, ImportError):
        cause = err.__cause__
        text = " ".join(text.split()).rstrip(".") + "." + \
            " The cluster could not load the job" + (
                "" if cause is None else
                f" ({type(cause).__name__}: {describe(cause)})") + \
            f": {DASK_ENVIRONMENT}."
    return (*outcome[:2], text, *outcome[3:])


def task_name(key: str) -> str:
    """The Dask key of a job's task, and the name of its variable."""
    return PREFIX + key


class KeptJob:
    """A worker job's function, marked for a Dask runner that holds its
    task on the scheduler. `resume`: the job was running when the server
    restarted: take its task up again (when it is gone, run the job again
    if `restartable`, else fail it with `JobLost`). Runners that do not
    know it call it as the function itself."""

    def __init__(self, fn: Callable[..., Any], resume: bool = False,
                 restartable: bool = False) -> None:
        self.fn = fn
        self.resume = resume
        self.restartable = restartable

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)


class DaskTask:
    """A held task (the runner's handle of its job): `hold` it once it was
    submitted, or `attach` to it after a restart; `follow` its outcome;
    `release` it once the outcome is recorded (or the job cancelled)."""

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name
        self.future: concurrent.futures.Future[Any] | None = None
        self.cancelled = False
        self._held: concurrent.futures.Future[Any] | None = None
        self._released = False
        self.dropped = threading.Event()  # the variable's delete was sent
        self._lock = threading.Lock()

    def hold(self) -> None:
        """Sets the task's variable (asynchronously: the scheduler waits
        for the task to arrive); the task outlives this client from then
        on."""
        from distributed import Future, Variable
        with self._lock:  # (`release` sees it held, or it is not held)
            if self._released:
                return
            future: Any = Future(self.name, self.client)  # ours till held
            setting = Variable(self.name, self.client).set(
                future, asynchronous=True)
            self._held = held = asyncio.run_coroutine_threadsafe(
                setting, self.client.loop.asyncio_loop)

        def report(done: concurrent.futures.Future[Any]) -> None:
            err = None if done.cancelled() else done.exception()
            if err is not None:
                log.msg("the Dask task {0} is not held on the scheduler "
                        "(its job will not survive a restart): {1}",
                        self.name, err)
        held.add_done_callback(report)

    def attach(self) -> Any:
        """The task's Dask future, taken from its variable, or None when
        the scheduler no longer has it (blocks: a scheduler round trip,
        and up to `ATTACH_TIMEOUT` s when the task is there but its
        variable is not)."""
        from distributed import Variable
        # The variable is deleted after this: the scheduler handles a
        # delete once this client confirmed every `get` of it, and that
        # confirmation must not come after the delete on this client's
        # stream (which would wait for it for ever).
        attaching: concurrent.futures.Future[Any] = \
            concurrent.futures.Future()
        with self._lock:
            if self._released:  # (cancelled: not taken up)
                return None
            self._held = attaching
        try:
            client = self.client
            status = client.sync(client.scheduler.get_task_status,
                                 keys=[self.name])
            if status.get(self.name) is None:
                return None
            try:
                future = Variable(self.name, client).get(
                    timeout=ATTACH_TIMEOUT)
            except (TimeoutError, asyncio.TimeoutError):
                return None  # the task of another client, about to go
            if getattr(future, "status", None) in (None, "lost"):
                return None
            return future
        finally:
            attaching.set_result(None)

    def follow(self, future: concurrent.futures.Future[Any],
               settle: Callable[[concurrent.futures.Future[Any]], None]
               ) -> None:
        """Settles the job through `settle` when `future` (the task's
        outcome) is done; cancelled at once when the job was."""
        with self._lock:
            if not self._released:
                self.future = future
            cancelled = self.cancelled
        future.add_done_callback(settle)
        if cancelled:
            future.cancel()

    def cancel(self) -> None:
        """Stops the task (as `future.cancel()` does a Dask task's) and
        releases it. Dask's cancel of a key that another client (its
        variable) wants only drops this client's interest, in whichever
        order the scheduler handles the two: it is forced (no one else
        wants a job's task)."""
        with self._lock:
            self.cancelled = True
            future = self.future
        self.release()
        if future is not None:
            future.cancel()  # settles the job as cancelled
        try:
            from distributed import Future
            self.client.cancel([Future(self.name, self.client)], force=True)
        except Exception as err:  # pylint: disable=broad-except
            text = f"the Dask task {self.name} was not cancelled: {err}"
            log.debug(lambda: text)

    def release(self) -> None:
        """Deletes the task's variable (once it is set): the scheduler
        forgets the task once this client no longer wants it either."""
        with self._lock:
            if self._released:
                return
            self._released = True
            held = self._held
            # (its futures and their callbacks, which name this task, are
            # a cycle that would keep the key wanted until collected)
            self.future = None

        def delete(_: Any = None) -> None:
            try:
                from distributed import Variable
                Variable(self.name, self.client).delete()
            except Exception as err:  # pylint: disable=broad-except
                text = f"the Dask variable {self.name} was not deleted: {err}"
                log.debug(lambda: text)
            self.dropped.set()
        if held is None:
            delete()  # (never held: there is no variable, or an old one)
        else:  # once it is set, or after `attach`
            held.add_done_callback(delete)


Settle = Callable[[concurrent.futures.Future[Any]], None]


def resume(task: DaskTask, restartable: bool, settle: Settle,
           start_again: Callable[[], None],
           on_done: Callable[[Outcome], None]) -> None:
    """Takes up the task of a job that was running when the server
    restarted (on a thread of its own: the scheduler answers); when it is
    gone, runs the job again (`start_again`) if `restartable`, else fails
    it with `JobLost`."""
    try:
        future = task.attach()
        why = f"its Dask task {task.name} is gone: " + (
            "the local Dask cluster died with the previous process"
            if in_process_cluster(task.client) else
            "the scheduler no longer has it")
    except Exception as err:  # pylint: disable=broad-except
        future, why = None, (f"the Dask scheduler could not be asked for "
                             f"its task {task.name} ({type(err).__name__}: "
                             f"{describe(err)})")
    if future is not None:
        task.follow(dask_future_outcome(future), settle)
        return
    if task.cancelled:
        on_done(("cancelled",))
    elif restartable:
        log.msg("a restored worker job runs again: {0}", why)
        try:
            start_again()
        except Exception as err:  # pylint: disable=broad-except
            on_done(error_outcome(err))
    else:
        log.msg("a restored worker job is lost: {0}", why)
        on_done(("error", LOST, f"the server restarted while the job ran, "
                 f"and {why} (a worker registered with restartable=True "
                 f"would run it again)", "", None))


def dask_future_outcome(future: Any) -> concurrent.futures.Future[Any]:
    """A `concurrent.futures.Future` that follows a Dask future (as the
    Dask executor's own do): cancelling it cancels the Dask future."""
    out: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def copy(done: Any) -> None:  # on Dask's callback thread
        try:
            if done.status == "finished":
                value, err = done.result(), None
            elif done.status == "cancelled":
                out.cancel()
                return
            else:
                value, err = None, done.exception()
        except BaseException as failed:  # pylint: disable=broad-except
            value, err = None, failed  # (a result that cannot be read)
        try:
            if err is None:
                out.set_result(value)
            else:
                out.set_exception(err)
        except concurrent.futures.InvalidStateError:
            pass  # cancelled meanwhile

    def cancel(done: concurrent.futures.Future[Any]) -> None:
        if done.cancelled() and future.status != "cancelled":
            future.cancel()
    out.add_done_callback(cancel)
    future.add_done_callback(copy)
    return out


def in_process_cluster(client: Any) -> bool:
    """Whether `client`'s scheduler runs in this process (a
    `LocalCluster`): tasks of an earlier process are not there."""
    cluster = getattr(client, "cluster", None)
    scheduler = getattr(cluster, "scheduler", None)
    return scheduler is not None and hasattr(scheduler, "tasks")
