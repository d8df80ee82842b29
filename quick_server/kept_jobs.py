"""Jobs that outlive the process (a mixin of `QuickServer`): the job
store's place, when it opens (serving starts, after the job processes are
forked) and what a restarted server reloads from it, what a stop keeps,
and the `jobs` command.

By default worker jobs are kept across a restart (`auto_restart`,
`--reload`, the `restart` command) in a store of the user's cache folder,
one per script and port, removed when the server stops for good; with
`persist_jobs(path)` they are kept across every stop and start, a crash
included; `persist_jobs(None)` keeps them in memory only. Under
`setup_restart`'s supervisor a restart lets the running jobs finish in
the old process while the new one serves (`jobs/draining.py`)."""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from . import log
from .dev.restart import can_hand_over, has_been_restarted, hand_over_now
from .settings import Settings

if TYPE_CHECKING:
    from .job_api import WorkerRoute
    from .jobs.job import Job
    from .jobs.job_store import JobStore
    from .jobs.services_hub import ServiceHub
    from .jobs.table import WorkerPool

_DEFAULT = "default"  # across restarts only, in the cache folder


class KeptJobs:
    """`persist_jobs`, the store's life, and the `jobs` command."""

    _store_choice: str | None = _DEFAULT
    _store: JobStore | None = None
    _draining: list[Job] = []  # running jobs this process finishes

    if TYPE_CHECKING:  # what the server provides
        settings: Settings
        _jobs: Any
        _services: ServiceHub | None
        _worker_routes: dict[str, WorkerRoute]
        _loop: Any
        commands: Any

        @property
        def port(self) -> int: ...

        @property
        def workers(self) -> WorkerPool: ...

    def persist_jobs(self, path: str | os.PathLike[str] | None) -> None:
        """Keeps worker jobs (queued, running, results not fetched yet,
        services' jobs) in the SQLite file at `path` across every stop and
        start of the server, a crash included; None keeps them in memory
        only, lost with the process. Call before `serve_forever`.
        Without a call, jobs are kept across restarts only."""
        if self._store is not None:
            raise RuntimeError("persist_jobs() is called before serving")
        self._store_choice = None if path is None else os.fspath(path)

    def _store_path(self) -> str | None:
        choice = self._store_choice
        if choice != _DEFAULT:
            return choice
        from .cache_dir import cache_folder
        from .jobs.job_store import store_path
        return store_path(_script(), self.port, cache_folder())

    def _open_job_store(self) -> None:
        """Opens the store as serving starts (the job processes are
        forked already) and puts back the jobs it kept: a fresh start
        with the default store begins empty."""
        path = self._store_path()
        if path is None or self._store is not None:
            return
        default = self._store_choice == _DEFAULT
        if default and not has_been_restarted():
            _remove(path)  # left by a crash: not ours to reload
        if not (self._jobs is not None or self._worker_routes or
                self._services is not None or os.path.exists(path)):
            return  # no jobs here: no store
        from .jobs.job_store import JobStore
        from .jobs.recording import ServiceRecorder, StoreRecorder
        from .jobs.restoring import restore
        try:
            store = JobStore(path, self.settings.jobs.max_store_bytes,
                             lambda text: log.job_warning("{0}", text))
        except Exception as err:  # pylint: disable=broad-except
            log.job_warning("jobs are kept in memory only: the job store {0} "
                            "cannot be opened: {1}", path, err)
            return
        self._store = store
        stored = store.load()
        hub = self._services
        if hub is not None:  # first: jobs go back to services
            hub.recorder = ServiceRecorder(store)
            if hub.key_made:  # services go on with the key they have
                kept = store.kept("services key", hub.key)
                if kept != hub.key:
                    hub.key = kept
                    log.msg("services key (kept by the job store): {0}",
                            kept)
            hub.restore(store.services(), {
                job.key: job.service for job in stored
                if job.service is not None and job.state == "running"})
        pool = self.workers
        pool.recorder = StoreRecorder(store)
        counts = restore(pool, store, stored, self._worker_routes)
        if counts:
            log.job_msg("jobs restored from {0}: {1}", path, ", ".join(
                f"{count} {what}" for what, count in sorted(counts.items())))

    def _close_jobs(self, reason: str) -> None:
        """Stops the job table (and services) as the server stops: on a
        restart, or always with `persist_jobs(path)`, the store keeps
        every job and a waiting poll is told to come back; otherwise jobs
        are cancelled, and the default store is removed."""
        store = self._store
        if reason == "restart" and self._hand_over():
            return  # the jobs run on: `_finish_drain`
        keep = store is not None and (
            reason == "restart" or self._store_choice != _DEFAULT)
        if self._jobs is not None:
            self.workers.close(keep)  # answers waiting long-polls at once
        if self._services is not None:
            self._services.close()  # and services waiting for jobs
        if store is not None:
            store.close()
            if not keep and self._store_choice == _DEFAULT:
                _remove(store.path)

    def _hand_over(self) -> bool:
        """On a restart under the supervisor: the next process starts now
        and this one finishes its running jobs (`_finish_drain`); False
        when there are none (or no store, or `drain_timeout` is 0)."""
        store = self._store
        if store is None or self._jobs is None or \
                self.settings.jobs.drain_timeout <= 0 or not can_hand_over():
            return False
        from .jobs.draining import hand_over
        jobs = hand_over(self.workers, store)
        if not jobs:
            return False
        if not hand_over_now():
            store.drained([job.token for job in jobs])
            return False
        if self._services is not None:
            self._services.close()  # services talk to the next process
        self._draining = jobs
        log.job_msg("{0} running job(s) finish in this process (pid {1}) "
                    "while the next one serves", len(jobs), os.getpid())
        return True

    def _finish_drain(self) -> None:
        """The server stopped serving (its requests ended): waits for the
        jobs it finishes for the next process, at most `drain_timeout`,
        then closes the job table and store."""
        jobs, self._draining = self._draining, []
        store = self._store
        if not jobs or store is None:
            return
        self._loop.close()  # clients come back to the next process
        from .jobs.draining import drain
        left = drain(self.workers, store, jobs,
                     self.settings.jobs.drain_timeout)
        if left:
            log.job_warning("{0} job(s) still running after drain_timeout: "
                            "given up to the next process", len(left))
        else:
            log.job_msg("the running jobs finished: this process ends")
        self.workers.close(True)
        store.close()

    def _add_job_commands(self) -> None:
        def jobs(args: list[str]) -> None:
            """lists what the job store holds, by state"""
            store = self._store
            if store is None:
                log.msg("no job store (jobs are kept in memory only)")
                return
            summary = store.summary()
            log.msg("job store {0}: {1}", store.path, ", ".join(
                f"{count} {state}" for state, count in sorted(
                    summary.items())) or "empty")

        def jobs_clear(args: list[str]) -> None:
            """empties the job store (the jobs in memory go on)"""
            store = self._store
            count = 0 if store is None else store.clear()
            log.msg("{0} stored job(s) deleted", count)

        self.commands.add(jobs, 0)
        self.commands.add(jobs_clear, 0)


def _script() -> str:
    """The script this process runs (what names its default store)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv
                                                else "")
    return path or "interactive"


def _remove(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(path + suffix)
        except FileNotFoundError:
            pass
        except OSError as err:
            log.msg("could not remove {0}: {1}", path + suffix, err)
