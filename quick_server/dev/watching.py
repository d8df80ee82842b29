"""Watching files for changes: the program's own sources (every imported
module outside the standard library and site-packages), files and folders
named with `watch`, and the stamps (modification time and size) that tell
a file changed.

Files are watched by polling their stamps (a few microseconds per file,
nothing on the request path). A changed Python file is compiled first: a
syntax error is printed and the server goes on serving the old code until
the next save."""
from __future__ import annotations

import importlib.util
import os
import site
import sys
import time
from typing import Any, Iterable

from .. import log

POLL_INTERVAL = 0.1  # seconds between two looks at the watched files
SETTLE_TIME = 0.03  # a changed file must keep still this long (editors
SETTLE_ROUNDS = 10  # write in steps), checked at most this many times
MAX_WATCHED_FILES = 20_000  # per watched folder walk and for served files

Stamp = tuple[int, int] | None  # (mtime_ns, size); None: no such file
_IMPORTED_AT = time.time_ns()  # a source changed later is newer code


def stamp(path: str) -> Stamp:
    """What tells a file changed: its modification time and size."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_mtime_ns, st.st_size


# -- the program's sources --------------------------------------------------

def library_roots() -> tuple[str, ...]:
    """Folders whose modules are not the user's: the standard library and
    every site-packages (each ending with a separator)."""
    import sysconfig  # loaded on first use
    paths = sysconfig.get_paths()
    roots = {paths[name] for name in ("stdlib", "platstdlib", "purelib",
                                      "platlib") if name in paths}
    try:
        roots.update(site.getsitepackages())
    except AttributeError:  # an old virtualenv's site module
        pass
    roots.add(site.getusersitepackages())
    return tuple(os.path.join(os.path.realpath(root), "")
                 for root in roots if root)


class ModuleFiles:
    """The files of every imported module outside the standard library
    and site-packages (the `__main__` script included); looked up again
    only when `sys.modules` grew or shrank."""

    def __init__(self) -> None:
        self._roots = library_roots()
        self._known: dict[str, str | None] = {}  # module name -> its file
        self._count = -1

    def files(self) -> set[str]:
        modules = sys.modules
        if len(modules) != self._count:
            self._count = len(modules)
            for name, module in list(modules.items()):
                if name not in self._known:
                    self._known[name] = self._source(module)
        return {path for path in self._known.values() if path is not None}

    def _source(self, module: Any) -> str | None:
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or not os.path.isfile(path):
            return None
        real = os.path.realpath(path)
        return None if real.startswith(self._roots) else real


def folder_files(folder: str, limit: int = MAX_WATCHED_FILES) -> list[str]:
    """Files under `folder` (hidden entries and `__pycache__` left out),
    at most `limit` of them."""
    found: list[str] = []
    stack = [folder]
    while stack and len(found) < limit:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    if entry.name.startswith(".") or \
                            entry.name == "__pycache__":
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif len(found) < limit:
                        found.append(entry.path)
        except OSError:
            continue
    return found


def syntax_error(path: str) -> str | None:
    """The syntax error of the Python file at `path`, formatted as Python
    prints it; None when it compiles (or is not Python)."""
    if not path.endswith(".py"):
        return None
    try:
        with open(path, "rb") as handle:
            source = handle.read()
        compile(source, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as err:
        import traceback  # loaded on first use
        return "".join(traceback.format_exception_only(type(err), err))
    except OSError:
        return None  # gone meanwhile: the import will say so
    return None


def forget_bytecode(path: str) -> None:
    """Removes the cached bytecode of a changed Python file: a `.pyc` is
    trusted when the source's size and whole-second time match, which two
    quick edits can both have."""
    if not path.endswith(".py"):
        return
    try:
        os.remove(importlib.util.cache_from_source(path))
    except (OSError, ValueError, NotImplementedError):
        pass


class Snapshot:
    """The stamps of a set of files, compared on each `changes` call."""

    def __init__(self) -> None:
        self.stamps: dict[str, Stamp] = {}

    def changes(self, paths: Iterable[str], new_is_change: bool) -> set[str]:
        """Paths whose stamp differs from the last call. A path seen for
        the first time is recorded, and reported only with
        `new_is_change` (a file added to a watched folder, not a module
        imported late)."""
        changed = set()
        stamps = self.stamps
        for path in paths:
            now = stamp(path)
            before = stamps.get(path, False)
            if before is False:
                stamps[path] = now
                if new_is_change:
                    changed.add(path)
            elif before != now:
                stamps[path] = now
                changed.add(path)
        return changed

    def forget_missing(self, present: set[str]) -> set[str]:
        """Drops (and returns) the recorded paths not in `present`: files
        deleted from a watched folder."""
        gone = set(self.stamps) - present
        for path in gone:
            del self.stamps[path]
        return gone


def settle(paths: set[str]) -> None:
    """Waits (briefly, bounded) until the files stop changing: an editor
    may truncate a file and write it in steps."""
    before = {path: stamp(path) for path in paths}
    for _ in range(SETTLE_ROUNDS):
        time.sleep(SETTLE_TIME)
        now = {path: stamp(path) for path in paths}
        if now == before:
            return
        before = now


class SourceWatcher:
    """Decides when the program must restart: a module file or a watched
    path changed, and every changed Python file compiles."""

    def __init__(self, extra_paths: list[str]) -> None:
        self.modules = ModuleFiles()
        self.extra_paths = extra_paths
        self.modules_seen = Snapshot()
        self.extra_seen = Snapshot()
        self.pending: set[str] = set()  # changed, not yet restarted for
        self.reported: dict[str, str] = {}  # errors already printed
        self.fresh: set[str] = set()
        self.poll()  # the starting point
        # files changed since this process started (before watching did;
        # never a time in the future, which would restart for ever)
        now = time.time_ns()
        self.fresh = {path for snapshot in (self.modules_seen,
                                            self.extra_seen)
                      for path, seen in snapshot.stamps.items()
                      if seen is not None and _IMPORTED_AT < seen[0] <= now}

    def watched(self) -> set[str]:
        files = set()
        for path in self.extra_paths:
            if os.path.isdir(path):
                files.update(folder_files(path))
            else:
                files.add(path)
        return files

    def poll(self) -> list[str] | None:
        """The changed files when the program should restart now (all of
        them compile); None otherwise."""
        changed = self.modules_seen.changes(self.modules.files(), False)
        extra = self.watched()
        changed |= self.extra_seen.changes(extra, True)
        changed |= self.extra_seen.forget_missing(extra)
        changed |= self.fresh
        self.fresh = set()
        if not changed:
            return None
        settle(changed)
        self.modules_seen.changes(changed & set(self.modules_seen.stamps),
                                  False)
        self.extra_seen.changes(changed & set(self.extra_seen.stamps), True)
        self.pending |= changed
        errors = {path: err for path in sorted(self.pending)
                  if (err := syntax_error(path)) is not None}
        for path, err in errors.items():
            if self.reported.get(path) != err:
                log.msg("not restarting: {0} does not compile (the server "
                        "goes on with the code it has):\n{1}", path,
                        err.rstrip())
        self.reported = errors
        if errors:
            return None
        done, self.pending = sorted(self.pending), set()
        return done
