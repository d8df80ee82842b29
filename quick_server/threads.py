"""The threads the server starts, made in one place.

In a Jupyter kernel, ipykernel maps every thread to the thread that made
it, to route its output to the right cell, and follows that chain on each
write. Thread idents are reused: threads that start threads and end
(the connection loop's followers, job threads) can close the chain into a
loop, and then every write from such a thread spins forever, holding the
log's lock, so the kernel hangs. A thread made here is a top-level
thread for ipykernel (its output goes to the cell that ran when it
started), so no chain of ours can loop. Elsewhere it is a plain thread."""
from __future__ import annotations

import threading
from typing import Any, Callable

_KERNEL_MARK = "_ipykernel_parent_thread_ident"  # ipykernel's own name


def make_thread(target: Callable[..., Any], *, name: str | None = None,
                args: tuple[Any, ...] = (), daemon: bool = True
                ) -> threading.Thread:
    """A `threading.Thread` (not started) of the server."""
    thread = threading.Thread(target=target, name=name, args=args,
                              daemon=daemon)
    if hasattr(thread, _KERNEL_MARK):
        setattr(thread, _KERNEL_MARK, threading.main_thread().ident)
    return thread
