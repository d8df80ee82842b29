"""What runs in the processes the `"process"` executor forks (see
`processes.py`): the template process, which forks a job process for each
request of the server, and the job processes, which run one job after the
other; and the messages they exchange with the server: length-prefixed
pickles."""
from __future__ import annotations

import ctypes
import os
import pickle
import signal
import socket
import struct
import sys
import time
import traceback
from typing import Any

from . import progress as progress_mod
from . import thread_caps
from .outcomes import Outcome, describe, error_outcome, pack

HEADER = struct.Struct("!I")
MAX_MESSAGE = 1 << 30  # bytes of one pickled message


def send(sock: socket.socket, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(HEADER.pack(len(data)) + data)


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    chunks = []
    while size > 0:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def recv(sock: socket.socket) -> Any:
    """The next message, or raises EOFError when the peer is gone."""
    head = _recv_exact(sock, HEADER.size)
    if head is None:
        raise EOFError
    (size,) = HEADER.unpack(head)
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


def detach_from_server(keep: list[int]) -> None:
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


def template_main(control: socket.socket) -> None:
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
        if request == b"r":  # retired: ends once its job processes have
            _wait_for_children(server)
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


def _wait_for_children(server: int) -> None:
    """A retired template (`ProcessPool.renew`): waits until its job
    processes have ended (the server closes them once their job is done;
    a template that ends kills them), or until the server is gone."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # (reaped here now)
    while os.getppid() == server:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # none left
        if not pid:
            time.sleep(0.2)


def _job_process_main(sock: socket.socket) -> None:
    """A job process: runs one job after the other until its socket
    closes."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setpgid(0, 0)  # a group of its own: a kill ends what the job started
    progress_mod.use_channel(lambda p: send(sock, ("progress", p)))
    while True:
        try:
            fn, args = recv(sock)
        except EOFError:
            return
        except Exception as err:  # pylint: disable=broad-except
            hint = (" (a job process knows the functions defined before "
                    "the job processes started: define job functions "
                    "before serve_forever or start_job_processes)"
                    if isinstance(err, AttributeError) else "")
            send(sock, ("error", type(err).__name__,
                         f"the job could not be received: "
                         f"{describe(err)}{hint}",
                         traceback.format_exc(), None))
            continue
        try:
            outcome: Outcome = ("done", fn(*args))
        except BaseException as err:  # pylint: disable=broad-except
            outcome = error_outcome(err)
        send(sock, pack(outcome))  # (strings and bytes: always pickled)


def kill(pid: int) -> None:
    """Kills a job process and the processes its job started (its group);
    a process gone already is no error."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
