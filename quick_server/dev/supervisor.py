"""The supervisor behind `setup_restart`: the original process runs the
script as a child and starts it anew whenever the child exits with the
restart code, handing it the listening sockets the last child sent
(`restart.py`).

A child may also restart *before* it ends (`restart.hand_over_now`): it
sends its sockets with a `drain` mark as it stops serving, and goes on
finishing its running jobs (`jobs/draining.py`). The supervisor starts
the next child at once and keeps the old one as *draining*: its exit
then means nothing (neither a restart nor a stop). Several may drain at
once. Each child is waited for on a thread of its own, which reaps it
at once (the next child tells a dead drainer by its pid) and wakes the
supervisor through the channel, after whatever the child sent there.
When the supervisor stops, the children still draining are ended."""
from __future__ import annotations

import os
import signal
import socket
import sys
from typing import TYPE_CHECKING

from .. import log
from ..notebook import NO_RESTART, in_kernel
from . import restart
from .restart import (Listener, close_fds, fds_text, get_exec_arr,
                      is_original, pass_on_inherited)
from ..threads import make_thread

if TYPE_CHECKING:
    import subprocess

DRAIN_END_WAIT = 5.0  # seconds a draining child gets to end on a stop


def setup_restart() -> None:
    """Call first in a script: this process becomes a supervisor that runs
    the script as a child and restarts it on request; returns (in the
    child) only. In a Jupyter kernel it does nothing but say so: the
    process is the kernel."""
    if in_kernel():
        log.warning("setup_restart() does nothing in a Jupyter kernel: {0}",
                    NO_RESTART)
        return
    if not is_original():
        return
    _Supervisor().run()


class _Supervisor:
    """The children of `setup_restart`: the one serving, those draining."""

    def __init__(self) -> None:
        self.env = dict(os.environ)
        self.env[restart.ENV_CHILD] = "1"
        self.child: subprocess.Popen[bytes] | None = None
        self.draining: dict[int, subprocess.Popen[bytes]] = {}
        self.channel, self.child_end = _supervisor_channel()

    def forward(self, signum: int, _frame: object) -> None:
        child = self.child
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.forward)
        signal.signal(signal.SIGINT, self.forward)
        listeners = pass_on_inherited()
        while True:
            child = self.child = self.start(listeners)
            code, listeners = self.wait(child)
            if code != restart.EXIT["restart"]:
                self.end_draining()
                sys.exit(code if code >= 0 else restart.EXIT["error"])
            self.env[restart.ENV_RESTARTED] = "1"
            log.msg("restarting the server")

    def start(self, listeners: list[Listener]) -> subprocess.Popen[bytes]:
        pass_fds = [fd for fd, _ in listeners]
        if self.child_end is not None:
            self.env[restart.ENV_CHANNEL] = str(self.child_end.fileno())
            pass_fds.append(self.child_end.fileno())
        self.env[restart.ENV_FDS] = fds_text(listeners)
        import subprocess  # loaded on first use
        child = subprocess.Popen(get_exec_arr(), env=self.env,
                                 pass_fds=pass_fds)
        close_fds(listeners)  # the child has its own copies now
        make_thread(target=self.reap, args=(child,), daemon=True,
                    name=f"child-{child.pid}").start()
        return child

    def reap(self, child: subprocess.Popen[bytes]) -> None:
        """Waits for `child` and says so on the channel (after anything
        it sent there itself)."""
        while True:
            try:
                child.wait()
                break
            except KeyboardInterrupt:
                continue
        if self.child_end is not None:
            try:
                self.child_end.send(b"exit:%d" % child.pid)
            except OSError:
                pass

    def wait(self, child: subprocess.Popen[bytes]
             ) -> tuple[int, list[Listener]]:
        """Waits until `child` ends, or hands over to drain (its code is
        then the restart code); what it sent."""
        listeners: list[Listener] = []
        if self.channel is None:  # no hand-off: only its exit
            return child.wait(), listeners
        while True:
            msg, fds = _receive(self.channel)
            kind, _, rest = msg.partition(b":")
            if kind == b"exit":
                pid = int(rest or b"0")
                self.draining.pop(pid, None)
                if pid == child.pid:
                    return child.wait(), listeners
            elif kind in (b"listeners", b"drain"):
                close_fds(listeners)  # only the last message counts
                marks = rest.rpartition(b":")[2]
                listeners = [(fd, marks[i:i + 1] == b"t")
                             for i, fd in enumerate(fds)]
                if kind == b"drain":
                    log.msg("the old server (pid {0}) finishes its running"
                            " jobs", child.pid)
                    self.draining[child.pid] = child
                    return restart.EXIT["restart"], listeners
            elif kind == b"error":  # the channel broke: its exit only
                return child.wait(), listeners
            else:
                close_fds([(fd, False) for fd in fds])

    def end_draining(self) -> None:
        """The supervisor stops: so do the children still draining."""
        children = [c for c in self.draining.values() if c.poll() is None]
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(DRAIN_END_WAIT)
            except Exception:  # pylint: disable=broad-except
                child.kill()
                child.wait()


def _supervisor_channel() -> tuple[socket.socket | None,
                                   socket.socket | None]:
    """The supervisor's end and the children's end of the Unix socket over
    which a restarting child sends its listening sockets."""
    if not restart.HANDOFF:
        return None, None
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    theirs.set_inheritable(True)
    return mine, theirs


def _receive(channel: socket.socket) -> tuple[bytes, list[int]]:
    """The next message on the channel, and the descriptors it carries."""
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(
                channel, 4 * restart.MAX_LISTENERS, restart.MAX_LISTENERS)
            return msg, fds
        except InterruptedError:
            continue
        except OSError as err:
            log.msg("could not receive from a child: {0}", err)
            return b"error", []
