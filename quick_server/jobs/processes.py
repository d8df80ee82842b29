"""A pool of job processes that can be ended one at a time: the
`"process"` executor.

`concurrent.futures.ProcessPoolExecutor` cannot stop a running job, so the
server keeps its own processes. They are forked from a *template process*
that the server forks once, early, while it has a single thread (before
it serves): a process forked later from a server with running threads
could inherit a lock some thread held and hang. The template stays single
threaded; each job process is forked from it on demand, so it starts in
milliseconds, already holding every module and global of the script (and
every worker function), and no script is imported twice. A job process
caps the threads of numeric libraries to its share of the cores
(`thread_caps.py`).

Cancelling a running job kills its process (SIGKILL ends it even inside a
long C call); a new one is forked in its place. The template and its job
processes end with the server: the template reads its control socket,
whose end means the server is gone, and job processes are killed when
the template ends (Linux: PR_SET_PDEATHSIG). What runs in those
processes is in `forked.py`.

In a notebook (`interactive`), cells go on defining functions after the
template was forked: a job whose script changed a function or class since
then (`main_definitions.py`) makes the pool fork a new template first
(`renew`), so the job runs the code the notebook shows.

Messages on a job process's socket are length-prefixed pickles: the server
sends `(fn, args)`; the job process answers with `("progress", Progress)`
any number of times, then its outcome packed by `outcomes.pack` (the value
or exception pickled inside), which the server unpacks: a result or an
exception that cannot be rebuilt in the server still settles the job."""
from __future__ import annotations

import itertools
import os
import pickle
import signal
import socket
import struct
import sys
import threading
import time
from typing import Any, Callable

from .. import log
from . import progress as progress_mod
from . import thread_caps
from .forked import HEADER, detach_from_server, kill, recv, template_main
from .main_definitions import Definitions
from .outcomes import Outcome, describe, unpack
from ..threads import make_thread

REAP_WITHIN = 5.0  # seconds a retired template is waited for after its jobs

class JobProcess:
    """A job process seen from the server."""

    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid = pid
        self.sock = sock
        self.busy = False
        self.killed = False
        self.job = 0  # the serial number of its current (or last) job
        self.template = 0  # the pid of the template that forked it


Ticket = tuple[JobProcess, int]  # a job: its process and serial number


class ProcessPool:
    """Up to `size` job processes forked from one template process.

    `run(fn, args, on_progress, on_done)` sends a job to an idle process
    (forking one if needed) and returns that process; `on_done(outcome)`
    is called once, from the pool's reader thread. `cancel(process)` kills
    it: `on_done` then gets ("cancelled",).

    With `follow_main()` true (the server's `interactive`), a job whose
    script defined or redefined a function or class since the template
    was forked runs in a process of a new template (`renew`)."""

    def __init__(self, size: int) -> None:
        if not hasattr(os, "fork"):
            raise RuntimeError("the 'process' executor needs os.fork "
                               "(POSIX); use a ProcessPoolExecutor")
        self.size = size
        self._lock = threading.Lock()
        self._control: socket.socket | None = None
        self._template_pid = 0
        self._idle: list[JobProcess] = []
        self._all: set[JobProcess] = set()
        self._serials = itertools.count(1)
        self.closed = False
        self.follow_main: Callable[[], bool] = lambda: False
        self._definitions: Definitions | None = None  # at the fork
        self._retired: list[int] = []  # templates ending after their jobs
        self._renewing = threading.Lock()  # held while `_retired` changes

    @property
    def started(self) -> bool:
        return self._control is not None

    def start(self, renewing: bool = False) -> None:
        """Forks the template process (best while the server has a single
        thread: call before serving)."""
        with self._lock:
            if self._control is not None or self.closed:
                return
            if threading.active_count() > 1 and not renewing and \
                    not self.follow_main():  # (a kernel has its threads)
                log.msg("forking the job process template from a server "
                        "that runs threads already: set max_processes (or "
                        "name 'process' in a worker) before serving, so "
                        "that it forks at the start")
            ours, template = socket.socketpair()
            sys.stdout.flush()
            sys.stderr.flush()
            definitions = Definitions()  # (what the fork will hold)
            pid = os.fork()
            if pid == 0:  # the template
                try:
                    ours.close()
                    signal.signal(signal.SIGINT, signal.SIG_IGN)
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    detach_from_server([template.fileno(), 1, 2])
                    template_main(template)
                finally:
                    os._exit(0)  # pylint: disable=protected-access
            template.close()
            self._control = ours
            self._template_pid = pid
            self._definitions = definitions

    def renew(self) -> None:
        """Forks a new template for the jobs to come, so that they see the
        script's functions as they are now. Idle processes end at once;
        busy ones finish their job, and their old template ends after
        them. (Called with `_renewing` held.)"""
        with self._lock:
            control, self._control = self._control, None
            if control is None:
                return
            idle, self._idle = self._idle, []
            for process in idle:
                self._all.discard(process)
            self._retired.append(self._template_pid)
        for process in idle:
            kill(process.pid)
            process.sock.close()
        try:
            control.sendall(b"r")
        except OSError:
            pass
        control.close()
        self._reap_retired(0.0)
        self.start(renewing=True)

    def _stale(self) -> bool:
        """Whether the template misses a change of the script that jobs
        should see (`follow_main`)."""
        definitions = self._definitions
        return definitions is not None and self.follow_main() and \
            definitions.changed()

    def _fork_job_process(self) -> JobProcess:
        control = self._control
        assert control is not None
        threads = thread_caps.threads_per_process(self.size)
        control.sendall(b"f" + struct.pack("!H", min(threads, 0xFFFF)))
        data, fds, _, _ = socket.recv_fds(control, 4, 1)
        if not fds or len(data) != 4:
            raise RuntimeError("the job process template is gone")
        (pid,) = struct.unpack("!i", data)
        process = JobProcess(pid, socket.socket(fileno=fds[0]))
        process.template = self._template_pid
        return process

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...],
            on_progress: Callable[[progress_mod.Progress], None],
            on_done: Callable[[Outcome], None]) -> Ticket:
        """Starts `fn(*args)` in a job process; the ticket names the job
        for `cancel`. TypeError when the job cannot be sent (not
        picklable)."""
        try:
            message = pickle.dumps((fn, args),
                                   protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as err:
            hint = (" (its name holds another object now: register the "
                    "worker again with the new function)"
                    if "not the same object" in str(err) else "")
            raise TypeError(
                f"a 'process' job must be picklable (a module-level function "
                f"and picklable arguments): {err}{hint}") from err
        if self._stale():
            with self._renewing:  # (one renewal for jobs that start at once)
                if self._stale():
                    self.renew()
        while True:
            self.start()
            with self._lock:
                if self.closed:
                    raise RuntimeError("the process pool is closed")
                if self._control is None:
                    continue  # a renewal (another job's) retired it since
                process = self._idle.pop() if self._idle else None
                if process is None:
                    process = self._fork_job_process()
                    self._all.add(process)
                process.busy = True
                process.job = next(self._serials)
                ticket = (process, process.job)
                break
        try:
            process.sock.sendall(HEADER.pack(len(message)) + message)
        except OSError:
            self._forget(process)
            raise RuntimeError("the job process died") from None
        make_thread(target=self._read, daemon=True,
                    args=(process, on_progress, on_done),
                    name=f"quick_server-job-{process.pid}").start()
        return ticket

    def _read(self, process: JobProcess,
              on_progress: Callable[[progress_mod.Progress], None],
              on_done: Callable[[Outcome], None]) -> None:
        """Relays one job's messages; returns the process to the idle
        list when its job is done."""
        while True:
            try:
                message = recv(process.sock)
            except Exception as err:  # pylint: disable=broad-except
                ended = isinstance(err, (EOFError, OSError))
                if not ended:  # (our messages hold only strings, bytes
                    kill(process.pid)  # and Progress: a stream to drop)
                self._forget(process)
                on_done(("cancelled",) if process.killed else (
                    "error", "ProcessError",
                    "the job process ended unexpectedly" if ended else
                    f"the job process sent what cannot be read: "
                    f"{describe(err)}", "", None))
                self._refill()
                return
            if message[0] == "progress":
                on_progress(message[1])
                continue
            message = unpack(message)
            with self._lock:
                process.busy = False
                reusable = not (self.closed or process.killed) and \
                    process.template == self._template_pid
                if reusable:
                    self._idle.append(process)
            if not reusable:  # (a kill is on its way: never reused)
                self._forget(process)
            on_done(message)
            if not reusable:
                self._refill()
                self._reap_after(process)
            return

    def _reap_after(self, process: JobProcess) -> None:
        """When `process` was the last of a retired template, reaps that
        template once it ends (it does when its job processes have; a
        few seconds at most, else the next renewal or the close does)."""
        template = process.template
        with self._lock:
            if any(other.template == template for other in self._all):
                return
        deadline = time.monotonic() + REAP_WITHIN
        while time.monotonic() < deadline:
            with self._renewing:  # (no one else reaps it meanwhile)
                if template not in self._retired:
                    return
                if _reaped(template):
                    self._retired.remove(template)
                    return
            time.sleep(0.05)

    def _refill(self) -> None:
        """Forks a spare process in place of one that ended, so the next
        job does not wait for it."""
        with self._lock:
            if self.closed or self._control is None or \
                    len(self._all) >= self.size:
                return
            try:
                process = self._fork_job_process()
            except (OSError, RuntimeError):
                return
            self._all.add(process)
            self._idle.append(process)

    def _forget(self, process: JobProcess) -> None:
        with self._lock:
            process.busy = False  # never killed by pid again: it may be reused
            self._all.discard(process)
            if process in self._idle:
                self._idle.remove(process)
        process.sock.close()

    def cancel(self, ticket: Ticket) -> None:
        """Kills the process running the job of `ticket` (its core is free
        at once), with everything it started; nothing when that job is
        over (its process may run another job by now)."""
        process, job = ticket
        with self._lock:
            if not process.busy or process.killed or process.job != job:
                return
            process.killed = True
        kill(process.pid)

    def close(self) -> None:
        """Ends the template and every job process."""
        with self._lock:
            self.closed = True
            processes = list(self._all)
            control, self._control = self._control, None
        for process in processes:
            process.killed = True
            kill(process.pid)
        if control is not None:
            try:
                control.sendall(b"q")
            except OSError:
                pass
            control.close()
            # (the template also ends when the control socket closes,
            # unless a process forked by someone else holds a copy)
        with self._renewing:
            if control is not None:
                self._retired.append(self._template_pid)
            self._reap_retired(2.0)

    def _reap_retired(self, wait: float) -> None:
        """Reaps the templates that ended; those still there after `wait`
        seconds are killed when `wait` is not 0 (the pool closes)."""
        deadline = time.monotonic() + wait
        while self._retired:
            for pid in list(self._retired):
                if _reaped(pid):
                    self._retired.remove(pid)
            if not self._retired or not wait:
                return
            if time.monotonic() > deadline:
                for pid in self._retired:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                self._retired.clear()
                return
            time.sleep(0.01)


def _reaped(pid: int) -> bool:
    """Whether the child `pid` has ended (it is reaped now), without
    waiting; a child reaped already counts as ended."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] != 0
    except ChildProcessError:
        return True
