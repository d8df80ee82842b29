"""The gzip forms of big static files (over `compress.MAX_FILE`, 4 MiB,
too big for the small-file cache), made once and kept on disk, so that a
5 MB page (Plotly with plotly.js inline) goes out compressed, with
`sendfile`, for the CPU of one compression per file version.

A form is made by the first request that wants it: the file is read a
chunk at a time through `zlib.compressobj` (memory: one chunk, never the
file) into a temporary file, renamed into place once complete. Requests
for the same file meanwhile wait for that one compression (at most
`MAX_WAIT` seconds; then, or if it fails, they get the file as it is).
A file that changes while it is read (its size, modification time, or
the bytes read) leaves no form. Forms are keyed by the file's path and
identity (device, inode, size, modification time): a changed file's form
is replaced. A form no smaller than its file is not kept (the file goes
out as it is; that is remembered).

The forms live in a folder of this server (`gzip-<pid>-<random>` in the
user's cache folder, mode 0700; forms 0600), which holds at most
`settings.http.compress_cache_bytes`, compressions under way included
(room is claimed before each write; the least recently used forms go
first). `clear` removes the folder (when the server stops); a folder
left by a process that died is removed when the next server makes its
own (POSIX: its pid is gone)."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
import threading
import zlib
from collections import OrderedDict
from typing import Callable, ContextManager, NamedTuple

from .. import log
from ..cache_dir import cache_folder
from .compress import LEVEL
from .small_files import file_identity

CHUNK = 1 << 18  # bytes read and compressed at a time
MAX_WAIT = 30.0  # seconds a request waits for another's compression
MAX_ENTRIES = 4096  # file versions remembered (with a form or without)
_FOLDER = re.compile(r"gzip-([0-9]+)-")

Identity = tuple[int, int, int, int]


class Form(NamedTuple):
    """What is known of a file version: its form's name in the folder
    and size (`name` None: sent as it is, for its form is no smaller than
    the file, or did not fit in a cache of `cap` bytes)."""
    ident: Identity
    name: str | None
    size: int
    cap: int = 0


class _Making:
    """A compression under way, and how many requests wait for it."""

    def __init__(self, ident: Identity) -> None:
        self.ident = ident
        self.done = threading.Event()
        self.waiters = 0


class GzipCache:
    """The gzip forms of big files, on disk (see the module). Thread-safe;
    `base()` is where the folder is made (default: the user's cache
    folder), on first use."""

    def __init__(self, base: Callable[[], str] = cache_folder) -> None:
        self._base = base
        self.folder: str | None = None
        self.made = 0  # forms made (kept, or found no smaller)
        self._lock = threading.Lock()
        self._forms: OrderedDict[str, Form] = OrderedDict()  # LRU first
        self._making: dict[str, _Making] = {}
        self._total = 0  # bytes in the folder: forms and parts being made
        self._generation = 0  # a `clear` voids compressions under way
        self._refused = False  # no folder could be made (said once)

    @property
    def total(self) -> int:
        """Bytes the folder holds (or will once written), at most the
        cap given to `open`."""
        return self._total

    def open(self, path: str, fd: int, st: os.stat_result, cap: int,
             held: Callable[[], ContextManager[None]] = contextlib.nullcontext
             ) -> tuple[int, int] | None:
        """A descriptor of the gzip form of the file at `path` (open as
        `fd`, whose status is `st`) and the form's size; the caller closes
        it. Made now, or by another request now, if not kept yet. None:
        send the file as it is (no smaller compressed, bigger than `cap`
        bytes of forms can hold, changed, too long in the making, no
        folder). `held()` surrounds a wait for another request's
        compression (the event loop's: the thread does not count as
        working meanwhile)."""
        ident = file_identity(st)
        waited = False
        while True:
            with self._lock:
                found = self._open_kept(path, ident, cap)
                if found is not None:
                    return found if found[0] >= 0 else None
                making = self._making.get(path)
                if making is None and not waited:
                    making = self._making[path] = _Making(ident)
                    break
                if making is None or waited or making.ident != ident:
                    return None  # failed, too slow, or another version
                making.waiters += 1
            with held():
                making.done.wait(MAX_WAIT)
            waited = True
        try:
            return self._make(path, fd, st, cap)
        finally:
            with self._lock:
                del self._making[path]
            making.done.set()

    def clear(self) -> None:
        """Forgets every form and removes the folder (made again on next
        use); compressions under way keep nothing."""
        with self._lock:
            folder, self.folder = self.folder, None
            self._forms.clear()
            self._total = 0
            self._generation += 1
            self._refused = False
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    # -- under the lock ----------------------------------------------------

    def _open_kept(self, path: str, ident: Identity, cap: int
                   ) -> tuple[int, int] | None:
        """The kept form of this version of `path`, opened; (-1, 0) when
        it goes out as it is; None when there is none (a stale one is
        dropped, and one that did not fit a smaller cap)."""
        form = self._forms.get(path)
        if form is None:
            return None
        if form.ident != ident or self.folder is None or 0 < form.cap < cap:
            self._drop(path)
            return None
        self._forms.move_to_end(path)
        if form.name is None:
            return -1, 0
        try:
            return os.open(os.path.join(self.folder, form.name),
                           os.O_RDONLY), form.size
        except OSError:  # removed behind our back
            self._drop(path)
            return None

    def _drop(self, path: str) -> None:
        form = self._forms.pop(path)
        self._total -= form.size
        if form.name is not None and self.folder is not None:
            _unlink(os.path.join(self.folder, form.name))

    def _claim(self, size: int, cap: int, generation: int) -> bool:
        """Room for `size` more bytes, made by dropping the least recently
        used forms; False when even an empty cache has none."""
        with self._lock:
            if generation != self._generation:
                return False
            while self._total + size > cap and self._forms:
                self._drop(next(iter(self._forms)))
            if self._total + size > cap:
                return False
            self._total += size
            return True

    def _release(self, size: int, generation: int) -> None:
        with self._lock:
            if generation == self._generation:
                self._total -= size

    def _the_folder(self) -> str | None:
        if self.folder is None and not self._refused:
            try:
                self.folder = new_folder(self._base())
            except OSError as err:
                self._refused = True
                log.msg("static files over 4 MiB go out uncompressed: no "
                        "folder for their gzip forms: {0}", err)
        return self.folder

    # -- making a form -------------------------------------------------------

    def _make(self, path: str, fd: int, st: os.stat_result,
              cap: int) -> tuple[int, int] | None:
        """Compresses the file into a temporary file, renamed into place
        when it is complete, smaller than the file and the file did not
        change meanwhile; its descriptor and size (None: not kept)."""
        with self._lock:
            folder, generation = self._the_folder(), self._generation
        if folder is None:
            return None
        try:
            out, temp = tempfile.mkstemp(".part", dir=folder)
        except OSError:
            return None  # the folder went (the server stops)
        claimed, refused = 0, False

        def claim(size: int) -> bool:
            nonlocal claimed, refused
            if not self._claim(size, cap, generation):
                refused = True
                return False
            claimed += size
            return True

        kept = False
        try:
            complete = compress_file(fd, st.st_size, out, claim)
            if complete and file_identity(os.fstat(fd)) == file_identity(st):
                kept = self._keep(path, st, temp, claimed, generation)
            elif refused:  # bigger than the cap: not tried again with
                self._too_big(path, st, cap, generation)  # it (each try
                # evicts every other form)
        except OSError as err:
            log.msg("gzip form of {0} not made: {1}", path, err)
        finally:
            if not kept:
                os.close(out)
                _unlink(temp)
                self._release(claimed, generation)
        return (out, claimed) if kept else None

    def _too_big(self, path: str, st: os.stat_result, cap: int,
                 generation: int) -> None:
        """Remembers that this version of the file goes out as it is while
        the cap is `cap` bytes or less."""
        with self._lock:
            if generation != self._generation:
                return
            if path in self._forms:
                self._drop(path)
            self._forms[path] = Form(file_identity(st), None, 0, cap)

    def _keep(self, path: str, st: os.stat_result, temp: str, size: int,
              generation: int) -> bool:
        """Puts a complete form in its place (True), or remembers that
        the file goes out as it is (False: the caller removes `temp`)."""
        with self._lock:
            if generation != self._generation or self.folder is None:
                return False
            self.made += 1
            if path in self._forms:
                self._drop(path)
            if size >= st.st_size:
                self._forms[path] = Form(file_identity(st), None, 0)
                kept = False
            else:
                name = f"{self.made}.gz"
                os.replace(temp, os.path.join(self.folder, name))
                self._forms[path] = Form(file_identity(st), name, size)
                kept = True
            while len(self._forms) > MAX_ENTRIES:
                self._drop(next(iter(self._forms)))
            return kept


def compress_file(fd: int, size: int, out: int,
                  claim: Callable[[int], bool]) -> bool:
    """Writes the gzip form of the first `size` bytes of `fd` to `out`,
    a chunk at a time, each write only once `claim(its size)` allows it;
    False when a claim is refused or the file is shorter than `size`."""
    packer = zlib.compressobj(LEVEL, zlib.DEFLATED, 31)  # 31: gzip framing
    offset = 0
    while True:
        block = os.pread(fd, min(CHUNK, size - offset), offset) \
            if offset < size else b""
        offset += len(block)
        data = packer.compress(block) if block else packer.flush()
        if data:
            if not claim(len(data)):
                return False
            view = memoryview(data)
            while view:
                view = view[os.write(out, view):]
        if not block:
            return offset == size


def new_folder(base: str) -> str:
    """A new private folder in `base` (made 0700 if missing; refused,
    PermissionError, when another user owns it or others may write in
    it), after removing the folders of dead processes."""
    os.makedirs(base, 0o700, exist_ok=True)
    if hasattr(os, "geteuid"):
        found = os.stat(base)
        if found.st_uid != os.geteuid() or found.st_mode & 0o022:
            raise PermissionError(
                f"{base} is not private to this user (owner uid "
                f"{found.st_uid}, mode {found.st_mode & 0o777:o})")
    for name in os.listdir(base):
        match = _FOLDER.match(name)
        if match is not None and not _alive(int(match.group(1))):
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"gzip-{os.getpid()}-", dir=base)


def _alive(pid: int) -> bool:
    """Whether process `pid` may still run (always, on Windows, where
    `os.kill` would end it)."""
    if pid <= 0 or pid == os.getpid() or sys.platform == "win32":
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # (too big for a pid)
        return False
    except OSError:  # another user's
        return True
    return True


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
