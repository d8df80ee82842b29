"""What the process uses, read without imports beyond the standard
library (Linux's /proc where there is one; `resource` elsewhere)."""
from __future__ import annotations

import os
import threading
import time
from typing import Any

STARTED = time.time()  # (as the module loads: the server's start, near)


def rss_bytes() -> int | None:
    """Resident memory now (Linux), or the peak elsewhere."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if os.uname().sysname == "Darwin" else peak * 1024
    except (ImportError, OSError, AttributeError):
        return None


def open_fds() -> int | None:
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(folder))
        except OSError:
            continue
    return None


def max_fds() -> int | None:
    try:
        import resource
        return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, AttributeError):
        return None


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def describe(started: float = STARTED) -> dict[str, Any]:
    """`{"pid", "uptime_s", "rss_bytes", "threads", "fds", "cpu_s",
    "start_time"}`."""
    return {"pid": os.getpid(), "uptime_s": round(time.time() - started, 3),
            "rss_bytes": rss_bytes(), "threads": threading.active_count(),
            "fds": open_fds(), "cpu_s": round(cpu_seconds(), 3),
            "start_time": started}
