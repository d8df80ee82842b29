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
the template ends (Linux: PR_SET_PDEATHSIG).

Messages on a job process's socket are length-prefixed pickles: the server
sends `(fn, args)`; the job process answers with `("progress", Progress)`
any number of times, then its outcome packed by `outcomes.pack` (the value
or exception pickled inside), which the server unpacks: a result or an
exception that cannot be rebuilt in the server still settles the job."""
from __future__ import annotations

import ctypes
import itertools
import os
import pickle
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from typing import Any, Callable

from .. import log
from . import progress as progress_mod
from . import thread_caps
from .outcomes import Outcome, describe, error_outcome, pack, unpack

_HEADER = struct.Struct("!I")
MAX_MESSAGE = 1 << 30  # bytes of one pickled message


def _send(sock: socket.socket, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_HEADER.pack(len(data)) + data)


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    chunks = []
    while size > 0:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _recv(sock: socket.socket) -> Any:
    """The next message, or raises EOFError when the peer is gone."""
    head = _recv_exact(sock, _HEADER.size)
    if head is None:
        raise EOFError
    (size,) = _HEADER.unpack(head)
    if size > MAX_MESSAGE:
        raise EOFError
    data = _recv_exact(sock, size)
    if data is None:
        raise EOFError
    return pickle.loads(data)


# -- inside the processes ------------------------------------------------------

def _die_with_parent() -> None:
    """Linux: this process is killed when the process that forked it
    ends (the template, for a job process)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _detach_from_server(keep: list[int]) -> None:
    """Points every inherited descriptor but stdout, stderr and `keep` at
    /dev/null (the listening socket, client connections, files), so that
    the port is free once the server closes it; standard input is
    /dev/null too. Each number stays taken, so an object that later
    closes its old descriptor can never close a new one."""
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    for fd in _open_fds():
        if fd > 2 and fd != null and fd not in keep:
            try:
                os.dup2(null, fd)
            except OSError:
                pass


def _open_fds() -> list[int]:
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            return [int(name) for name in os.listdir(folder)]
        except OSError:
            continue
    return list(range(3, 1024))


def _template_main(control: socket.socket) -> None:
    """The template process: forks a job process for each request on
    `control` and sends its socket back; ends when the server is gone."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # job processes reap
    server = os.getppid()
    control.settimeout(1.0)
    while True:
        try:
            request = control.recv(1)
        except (InterruptedError, TimeoutError, socket.timeout):
            if os.getppid() != server:
                return  # the server died (someone may hold our socket)
            continue
        except OSError:
            return
        if request in (b"", b"q"):
            return
        try:
            head = _recv_exact(control, 2)  # the job process's threads
        except OSError:
            return
        if head is None:
            return
        (threads,) = struct.unpack("!H", head)
        mine, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            control.close()
            mine.close()
            _die_with_parent()
            thread_caps.cap(threads)
            _job_process_main(theirs)
            os._exit(0)  # pylint: disable=protected-access
        theirs.close()
        socket.send_fds(control, [struct.pack("!i", pid)], [mine.fileno()])
        mine.close()


def _job_process_main(sock: socket.socket) -> None:
    """A job process: runs one job after the other until its socket
    closes."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setpgid(0, 0)  # a group of its own: a kill ends what the job started
    progress_mod.use_channel(lambda p: _send(sock, ("progress", p)))
    while True:
        try:
            fn, args = _recv(sock)
        except EOFError:
            return
        except Exception as err:  # pylint: disable=broad-except
            hint = (" (a job process knows the functions defined before "
                    "the job processes started: define job functions "
                    "before serve_forever or start_job_processes)"
                    if isinstance(err, AttributeError) else "")
            _send(sock, ("error", type(err).__name__,
                         f"the job could not be received: "
                         f"{describe(err)}{hint}",
                         traceback.format_exc(), None))
            continue
        try:
            outcome: Outcome = ("done", fn(*args))
        except BaseException as err:  # pylint: disable=broad-except
            outcome = error_outcome(err)
        _send(sock, pack(outcome))  # (strings and bytes: always pickled)


def _kill(pid: int) -> None:
    """Kills a job process and the processes its job started (its group);
    a process gone already is no error."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


# -- in the server -----------------------------------------------------------

class JobProcess:
    """A job process seen from the server."""

    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid = pid
        self.sock = sock
        self.busy = False
        self.killed = False
        self.job = 0  # the serial number of its current (or last) job


Ticket = tuple[JobProcess, int]  # a job: its process and serial number


class ProcessPool:
    """Up to `size` job processes forked from one template process.

    `run(fn, args, on_progress, on_done)` sends a job to an idle process
    (forking one if needed) and returns that process; `on_done(outcome)`
    is called once, from the pool's reader thread. `cancel(process)` kills
    it: `on_done` then gets ("cancelled",)."""

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

    @property
    def started(self) -> bool:
        return self._control is not None

    def start(self) -> None:
        """Forks the template process (best while the server has a single
        thread: call before serving)."""
        with self._lock:
            if self._control is not None or self.closed:
                return
            if threading.active_count() > 1:
                log.msg("forking the job process template from a server "
                        "that runs threads already: set max_processes (or "
                        "name 'process' in a worker) before serving, so "
                        "that it forks at the start")
            ours, template = socket.socketpair()
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:  # the template
                try:
                    ours.close()
                    signal.signal(signal.SIGINT, signal.SIG_IGN)
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    _detach_from_server([template.fileno(), 1, 2])
                    _template_main(template)
                finally:
                    os._exit(0)  # pylint: disable=protected-access
            template.close()
            self._control = ours
            self._template_pid = pid

    def _fork_job_process(self) -> JobProcess:
        control = self._control
        assert control is not None
        threads = thread_caps.threads_per_process(self.size)
        control.sendall(b"f" + struct.pack("!H", min(threads, 0xFFFF)))
        data, fds, _, _ = socket.recv_fds(control, 4, 1)
        if not fds or len(data) != 4:
            raise RuntimeError("the job process template is gone")
        (pid,) = struct.unpack("!i", data)
        return JobProcess(pid, socket.socket(fileno=fds[0]))

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
            raise TypeError(
                f"a 'process' job must be picklable (a module-level function "
                f"and picklable arguments): {err}") from err
        self.start()
        with self._lock:
            if self.closed:
                raise RuntimeError("the process pool is closed")
            process = self._idle.pop() if self._idle else None
            if process is None:
                process = self._fork_job_process()
                self._all.add(process)
            process.busy = True
            process.job = next(self._serials)
            ticket = (process, process.job)
        try:
            process.sock.sendall(_HEADER.pack(len(message)) + message)
        except OSError:
            self._forget(process)
            raise RuntimeError("the job process died") from None
        threading.Thread(target=self._read, daemon=True,
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
                message = _recv(process.sock)
            except Exception as err:  # pylint: disable=broad-except
                ended = isinstance(err, (EOFError, OSError))
                if not ended:  # (our messages hold only strings, bytes
                    _kill(process.pid)  # and Progress: a stream to drop)
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
                reusable = not (self.closed or process.killed)
                if reusable:
                    self._idle.append(process)
            if not reusable:  # (a kill is on its way: never reused)
                self._forget(process)
            on_done(message)
            if not reusable:
                self._refill()
            return

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
        _kill(process.pid)

    def close(self) -> None:
        """Ends the template and every job process."""
        with self._lock:
            self.closed = True
            processes = list(self._all)
            control, self._control = self._control, None
        for process in processes:
            process.killed = True
            _kill(process.pid)
        if control is None:
            return
        try:
            control.sendall(b"q")
        except OSError:
            pass
        control.close()
        # (the template also ends when the control socket closes, unless
        # a process forked from the server by someone else holds a copy)
        deadline = time.monotonic() + 2.0
        while True:
            try:
                pid, _ = os.waitpid(self._template_pid, os.WNOHANG)
            except ChildProcessError:
                return
            if pid or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        if not pid:
            os.kill(self._template_pid, signal.SIGKILL)
            os.waitpid(self._template_pid, 0)
