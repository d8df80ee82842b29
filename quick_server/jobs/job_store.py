"""The job store: what a restarted server must
know of its jobs, kept in SQLite (standard library), in WAL mode with
`synchronous=NORMAL` (a `kill -9` loses nothing committed; power loss is
out of scope). Each state change is committed before the caller goes on
(before it is acknowledged to a client); progress reports are batched
(`flush`, at most every `PROGRESS_EVERY` seconds, and with every state
change). The file is bounded (`max_bytes` of payloads and results: the
oldest finished jobs go first). A store of another schema version, or
one SQLite cannot read, is moved aside (said in the log) and the server
starts empty.

The job table records through it (`recording.py`) and a restarted server
reloads from it (`restoring.py`)."""
from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
import time
from typing import Callable, Iterator, NamedTuple

SCHEMA_VERSION = 2
PROGRESS_EVERY = 0.5  # seconds between commits of progress reports
ENDED = ("done", "error", "cancelled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS jobs (
    token TEXT PRIMARY KEY,
    route TEXT NOT NULL,
    state TEXT NOT NULL,
    payload TEXT NOT NULL,
    result TEXT,
    error TEXT,
    progress TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    handed_out REAL,
    size INTEGER NOT NULL DEFAULT 0,
    file TEXT,
    key TEXT NOT NULL DEFAULT '',
    service TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_key ON jobs (key);
CREATE TABLE IF NOT EXISTS drains (
    token TEXT PRIMARY KEY,
    pid INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS services (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL
);
"""


_SELECT = ("SELECT token, route, state, payload, result, error, progress, "
           "created, updated, handed_out, file, key, service FROM jobs")


class StoredJob(NamedTuple):
    """A job as the store holds it (JSON texts as they were given)."""
    token: str
    route: str
    state: str
    payload: str
    result: str | None
    error: str | None
    progress: str | None
    created: float
    updated: float
    handed_out: float | None
    file: str | None  # how to rebuild a file answer (JSON)
    key: str  # the job's key where it runs (a service's job id)
    service: str | None  # the id of the service that holds it


def store_path(script: str, port: int, folder: str) -> str:
    """The default store of a script serving on a port, in `folder` (the
    user's cache folder): one file per script and port, so that two
    copies of a script never take each other's jobs."""
    digest = hashlib.sha256(os.path.abspath(script).encode()).hexdigest()
    name = f"jobs-{os.path.basename(script)}-{digest[:12]}-{port}.sqlite3"
    return os.path.join(folder, name)


class JobStore:
    """The jobs of one server, in one SQLite file. Thread-safe."""

    def __init__(self, path: str, max_bytes: int,
                 log: Callable[[str], None] = lambda text: None) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._log = log
        self._lock = threading.Lock()
        self._progress: dict[str, str] = {}  # token -> JSON, not yet saved
        self._forgotten: list[str] = []  # tokens to delete with next commit
        self._total = 0  # bytes stored, at most (exact after `_bound`)
        self._flushed = time.monotonic()
        self._db = self._open()
        row = self._db.execute("SELECT coalesce(sum(size), 0) FROM jobs"
                               ).fetchone()
        self._total = row[0] if row else 0

    # -- opening -------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        folder = os.path.dirname(self.path)
        if folder:
            os.makedirs(folder, mode=0o700, exist_ok=True)
        try:
            return self._connect()
        except (sqlite3.DatabaseError, _OtherVersion) as err:
            aside = f"{self.path}.set-aside-{int(time.time())}"
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(self.path + suffix):
                    os.replace(self.path + suffix, aside + suffix)
            self._log(f"the job store {self.path} could not be used "
                      f"({err}); it was moved to {aside}, and the server "
                      f"starts with no stored jobs")
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)  # made with 0600 before SQLite opens it
        db = sqlite3.connect(self.path, check_same_thread=False,
                             isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            row = db.execute("SELECT value FROM meta WHERE key = "
                             "'version'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('version', ?)",
                           (str(SCHEMA_VERSION),))
            elif row[0] != str(SCHEMA_VERSION):
                raise _OtherVersion(f"schema version {row[0]}, this "
                                    f"quick_server writes {SCHEMA_VERSION}")
            db.execute(_SELECT + " LIMIT 1").fetchall()  # every column
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        """Writes what is pending and closes the file; what comes later
        (a job thread that ends as the process exits) is not written."""
        with self._lock:
            self._flush_locked()
            self._db.close()
            self._db = _Closed()  # type: ignore[assignment]

    # -- what changes --------------------------------------------------------

    def queued(self, token: str, route: str, payload: str,
               key: str = "") -> None:
        """A new job (committed before its `start` is answered)."""
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO jobs (token, route, state, payload,"
                " created, updated, size, key) VALUES (?, ?, 'queued', ?, ?,"
                " ?, ?, ?)", (token, route, payload, now, now, len(payload),
                              key))
            self._total += len(payload)

    def started(self, token: str) -> None:
        """A job began to run (committed: a restarted server must not
        take a job that ran for one still queued)."""
        with self._lock:
            self._db.execute("UPDATE jobs SET state = 'running', updated = ?"
                             " WHERE token = ? AND state = 'queued'",
                             (time.time(), token))

    def progress(self, token: str, progress: str) -> None:
        """A progress report (JSON): saved with the next flush."""
        with self._lock:
            self._progress[token] = progress
            if time.monotonic() - self._flushed >= PROGRESS_EVERY:
                self._flush_locked()

    def ended(self, token: str, state: str, result: str | None = None,
              error: str | None = None, file: str | None = None, *,
              route: str = "", payload: str | None = None) -> None:
        """A job that ended (`state` one of `ENDED`), with its result's
        JSON text or its error's JSON; a job not stored before (a cached
        result) is added when its `route` and `payload` are given. The
        oldest finished jobs are deleted while the store holds more than
        `max_bytes`. One commit, with what waited (progress, deletions)."""
        if state not in ENDED:
            raise ValueError(f"a job ends done, error or cancelled, not "
                             f"{state!r}")
        now = time.time()
        size = len(result or "") + len(error or "")
        with self._lock, self._transaction_locked():
            self._pending_locked()
            changed = self._db.execute(
                "UPDATE jobs SET state = ?, result = ?, error = ?, file = ?,"
                " updated = ?, size = length(payload) + ? WHERE token = ?",
                (state, result, error, file, now, size, token)).rowcount
            if not changed and payload is not None:
                self._db.execute(
                    "INSERT INTO jobs (token, route, state, payload, result,"
                    " error, file, created, updated, size) VALUES (?, ?, ?,"
                    " ?, ?, ?, ?, ?, ?, ?)", (token, route, state, payload,
                                              result, error, file, now, now,
                                              size + len(payload)))
            self._total += size + len(payload or "")
            self._db.execute("DELETE FROM drains WHERE token = ?", (token,))
            self._bound_locked()

    @contextlib.contextmanager
    def _transaction_locked(self) -> Iterator[None]:
        """BEGIN ... COMMIT (ROLLBACK when a statement fails)."""
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def handed_out(self, token: str) -> None:
        """The final reply went out (its redelivery time starts)."""
        with self._lock:
            self._db.execute("UPDATE jobs SET handed_out = ? WHERE token "
                             "= ? AND handed_out IS NULL",
                             (time.time(), token))

    def forget(self, token: str) -> None:
        """Deletes a job now (a client cancelled it)."""
        with self._lock:
            self._progress.pop(token, None)
            self._db.execute("DELETE FROM jobs WHERE token = ?", (token,))
            self._db.execute("DELETE FROM drains WHERE token = ?", (token,))

    def forget_later(self, token: str) -> None:
        """Deletes a job with the next commit (its result expired: a
        crash before then only keeps it a little longer)."""
        with self._lock:
            self._progress.pop(token, None)
            self._forgotten.append(token)

    def expire(self, finished_before: float) -> int:
        """Deletes the jobs that ended before `finished_before` (wall
        clock); how many."""
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM jobs WHERE state IN ('done', 'error', "
                "'cancelled') AND updated < ?", (finished_before,))
            return cursor.rowcount

    def clear(self) -> int:
        """Deletes every stored job and service (the `jobs clear`
        command); how many jobs."""
        with self._lock:
            self._progress.clear()
            self._db.execute("DELETE FROM services")
            self._db.execute("DELETE FROM drains")
            return self._db.execute("DELETE FROM jobs").rowcount

    def flush(self) -> None:
        """Saves the progress reports not saved yet."""
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        """Commits what waits: progress, deletions."""
        self._flushed = time.monotonic()
        if not self._progress and not self._forgotten:
            return
        with self._transaction_locked():
            self._pending_locked()

    def _pending_locked(self) -> None:
        """The statements of what waits (in the caller's transaction)."""
        self._flushed = time.monotonic()
        rows = [(progress, token) for token, progress in
                self._progress.items()]
        gone = [(token,) for token in self._forgotten]
        self._progress.clear()
        self._forgotten.clear()
        self._db.executemany("UPDATE jobs SET progress = ? WHERE token = ?",
                             rows)
        self._db.executemany("DELETE FROM jobs WHERE token = ?", gone)

    def _bound_locked(self) -> None:
        """Deletes the oldest finished jobs while the store holds more
        than `max_bytes` (counted exactly only when the running total,
        which deletes do not lower, says it may)."""
        if self._total <= self.max_bytes:
            return
        row = self._db.execute("SELECT coalesce(sum(size), 0) FROM jobs"
                               ).fetchone()
        total = self._total = 0 if row is None else row[0]
        while total > self.max_bytes:
            row = self._db.execute(
                "SELECT token, size FROM jobs WHERE state IN ('done', "
                "'error', 'cancelled') ORDER BY updated LIMIT 1").fetchone()
            if row is None:
                return  # only jobs still to run: they are kept
            self._db.execute("DELETE FROM jobs WHERE token = ?", (row[0],))
            total -= row[1]
            self._total = total

    # -- what a restarted server reads ----------------------------------------

    def load(self) -> list[StoredJob]:
        """Every stored job, oldest first."""
        with self._lock:
            self._flush_locked()
            rows = self._db.execute(_SELECT + " ORDER BY created").fetchall()
        return [StoredJob(*row) for row in rows]

    # -- jobs finishing in a process that restarted (`draining.py`) ----------

    def draining(self, tokens: list[str], pid: int) -> None:
        """The running jobs `tokens` go on in the process `pid` (which
        restarted): the next process follows them here."""
        with self._lock, self._transaction_locked():
            self._db.executemany("INSERT OR REPLACE INTO drains VALUES "
                                 "(?, ?)", [(token, pid) for token in tokens])

    def drained(self, tokens: list[str]) -> None:
        """The draining process gave `tokens` up (they run no more)."""
        with self._lock:
            self._flush_locked()
            self._db.executemany("DELETE FROM drains WHERE token = ?",
                                 [(token,) for token in tokens])

    def drain_owners(self) -> dict[str, int]:
        """The running jobs another process finishes: token -> its pid."""
        with self._lock:
            return dict(self._db.execute("SELECT token, pid FROM drains"
                                         ).fetchall())

    def followed(self, tokens: list[str]
                 ) -> dict[str, tuple[StoredJob, int | None]]:
        """The stored jobs among `tokens` (those deleted are missing),
        each with the pid of the process that finishes it (None: none),
        read at once (an end and its drain mark go together)."""
        found: dict[str, tuple[StoredJob, int | None]] = {}
        with self._lock:
            for token in tokens:
                row = self._db.execute(
                    _SELECT.replace(" FROM jobs", ", (SELECT pid FROM drains"
                                    " WHERE drains.token = jobs.token) FROM "
                                    "jobs") + " WHERE token = ?", (token,)
                ).fetchone()
                if row is not None:
                    found[token] = (StoredJob(*row[:-1]), row[-1])
        return found

    # -- services --------------------------------------------------------------

    def service_saved(self, service_id: str, name: str,
                      description: str) -> None:
        """A service registered (it goes on after a restart)."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO services VALUES (?, ?, "
                             "?)", (service_id, name, description))

    def service_gone(self, service_id: str) -> None:
        """A service died: a restarted server does not know it."""
        with self._lock:
            self._db.execute("DELETE FROM services WHERE id = ?",
                             (service_id,))

    def service_took(self, key: str, service_id: str | None) -> None:
        """The service `service_id` holds the job with `key` now (None:
        the job waits for a service again)."""
        with self._lock:
            self._db.execute("UPDATE jobs SET service = ? WHERE key = ? AND "
                             "key != ''", (service_id, key))

    def services(self) -> list[tuple[str, str, str]]:
        """The services registered: (id, name, description)."""
        with self._lock:
            return list(self._db.execute("SELECT id, name, description FROM "
                                         "services").fetchall())

    def kept(self, name: str, value: str) -> str:
        """The value kept under `name` (the services key a server made):
        the one stored, else `value`, stored now."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?",
                                   (name,)).fetchone()
            if row is not None:
                return str(row[0])
            self._db.execute("INSERT INTO meta VALUES (?, ?)", (name, value))
            return value

    def summary(self) -> dict[str, int]:
        """How many jobs the store holds, by state (the `jobs` command)."""
        with self._lock:
            rows = self._db.execute("SELECT state, count(*) FROM jobs GROUP "
                                    "BY state").fetchall()
        return {state: count for state, count in rows}


class _Closed:
    """Stands for the database once the store is closed: writes nothing,
    reads nothing."""
    rowcount = 0

    def execute(self, *args: object) -> _Closed:
        return self

    executemany = execute

    def fetchone(self) -> None:
        return None

    def fetchall(self) -> list[object]:
        return []

    def close(self) -> None:
        pass


class _OtherVersion(Exception):
    """A store written by another schema version."""

