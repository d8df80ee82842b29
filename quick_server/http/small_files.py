"""The cache of small files' contents (and of their transformed forms),
so that a request for a small static file costs no open, read or close."""
from __future__ import annotations

import errno
import os
import stat
import threading
from collections import OrderedDict
from typing import Callable

from .file_headers import FileTarget


class SmallFiles:
    """Contents of small files, kept while the file's identity (inode,
    size, modification time) stays the same, as nginx's open_file_cache
    does: a request for a cached file costs no open, read or close. Also
    the transformed forms of files (gzip, a page with the live-reload
    script: `variant`). Bounded in file size and in total bytes (least
    recently used goes)."""

    def __init__(self, max_file: int = 1 << 16,
                 max_total: int = 32 << 20) -> None:
        self.max_file = max_file
        self.max_total = max_total
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[os.stat_result, bytes]] = \
            OrderedDict()
        self._total = 0

    def get(self, target: FileTarget
            ) -> tuple[os.stat_result, bytes] | None:
        """The stat and contents of a small file (read now or cached);
        None for a file larger than `max_file`. OSError if unreadable."""
        st = target.st
        if st.st_size > self.max_file:
            return None
        ident = file_identity(st)
        with self._lock:
            entry = self._entries.get(target.path)
            if entry is not None and file_identity(entry[0]) == ident:
                self._entries.move_to_end(target.path)
                return entry
        fd, st = open_regular(target.path)
        try:
            if st.st_size > self.max_file:
                return None
            data = os.pread(fd, st.st_size, 0)
        finally:
            os.close(fd)
        if len(data) == st.st_size:
            self._store(target.path, st, data)
        return st, data

    def variant(self, path: str, st: os.stat_result, kind: str,
                make: Callable[[], bytes]) -> bytes:
        """The form `kind` of the file at `path` (as of `st`): cached, or
        `make()` now and kept while the file stays the same."""
        key = f"{path}\0{kind}"  # never a path: a path holds no NUL
        ident = file_identity(st)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and file_identity(entry[0]) == ident:
                self._entries.move_to_end(key)
                return entry[1]
        data = make()
        self._store(key, st, data)
        return data

    def _store(self, path: str, st: os.stat_result, data: bytes) -> None:
        with self._lock:
            old = self._entries.pop(path, None)
            if old is not None:
                self._total -= len(old[1])
            self._entries[path] = (st, data)
            self._total += len(data)
            while self._total > self.max_total:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._total -= len(dropped)


def open_regular(path: str) -> tuple[int, os.stat_result]:
    """A read-only descriptor of the regular file at `path` and its
    status; OSError for anything else. Non-blocking: a FIFO put in a
    file's place since it was found must not hold the answer forever."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise OSError(errno.ENOENT, "not a regular file", path)
    return fd, st


def file_identity(st: os.stat_result) -> tuple[int, int, int, int]:
    """What says a file is still the same: its device, inode, size and
    modification time."""
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns
