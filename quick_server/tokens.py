"""Per-client token storage behind a small `TokenHandler` interface: in
memory by default, or in an sqlite3 file that survives restarts."""
from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from typing import Any, Protocol

LOCK_STRIPES = 256


class TokenHandler(Protocol):
    """What a token store must provide (e.g. a Redis store shared by
    several server processes). Objects are JSON-compatible dicts; `expire`
    is an absolute `time.time()` or `None` for never."""

    def load(self, token: str) -> dict[str, Any] | None:
        """The stored object, or `None` when unknown or expired."""

    def store(self, token: str, obj: dict[str, Any],
              expire: float | None) -> None:
        """Saves `obj` with its expiry (replacing what was there)."""

    def delete(self, token: str) -> None:
        """Forgets the token."""

    def expiry(self, token: str) -> float | None:
        """The absolute expiry of a live token (None: never)."""

    def tokens(self) -> list[str]:
        """All live tokens."""

    def flush(self, now: float) -> None:
        """Drops every token whose expiry is before `now`."""


class MemoryTokenHandler:
    """Tokens in a dict; lost when the process ends."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[str, float | None]] = {}
        self._lock = threading.Lock()

    def load(self, token: str) -> dict[str, Any] | None:
        with self._lock:
            item = self._data.get(token)
        if item is None or (item[1] is not None and item[1] < time.time()):
            return None
        return json.loads(item[0])

    def store(self, token: str, obj: dict[str, Any],
              expire: float | None) -> None:
        with self._lock:
            self._data[token] = (json.dumps(obj), expire)

    def delete(self, token: str) -> None:
        with self._lock:
            self._data.pop(token, None)

    def expiry(self, token: str) -> float | None:
        with self._lock:
            item = self._data.get(token)
        if item is None:
            raise KeyError(token)
        return item[1]

    def tokens(self) -> list[str]:
        now = time.time()
        with self._lock:
            return [t for t, (_, exp) in self._data.items()
                    if exp is None or exp >= now]

    def flush(self, now: float) -> None:
        with self._lock:
            for token in [t for t, (_, exp) in self._data.items()
                          if exp is not None and exp < now]:
                del self._data[token]


class SqliteTokenHandler:
    """Tokens in an sqlite3 file: they survive a restart or a crash
    (every write is committed). One connection, used under a lock; call
    `close()` (the server does in `server_close`) when done."""

    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        with self._lock, self._db:
            self._db.execute("CREATE TABLE IF NOT EXISTS tokens (token TEXT "
                             "PRIMARY KEY, obj TEXT NOT NULL, expire REAL)")

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        with self._lock, self._db:  # commits
            self._db.execute(sql, args)

    def load(self, token: str) -> dict[str, Any] | None:
        rows = self._query(
            "SELECT obj FROM tokens WHERE token = ? AND (expire IS NULL OR "
            "expire >= ?)", (token, time.time()))
        return json.loads(rows[0][0]) if rows else None

    def store(self, token: str, obj: dict[str, Any],
              expire: float | None) -> None:
        self._write("INSERT OR REPLACE INTO tokens VALUES (?, ?, ?)",
                    (token, json.dumps(obj), expire))

    def delete(self, token: str) -> None:
        self._write("DELETE FROM tokens WHERE token = ?", (token,))

    def expiry(self, token: str) -> float | None:
        rows = self._query("SELECT expire FROM tokens WHERE token = ?",
                           (token,))
        if not rows:
            raise KeyError(token)
        expire: float | None = rows[0][0]
        return expire

    def tokens(self) -> list[str]:
        return [r[0] for r in self._query(
            "SELECT token FROM tokens WHERE expire IS NULL OR expire >= ?",
            (time.time(),))]

    def flush(self, now: float) -> None:
        self._write("DELETE FROM tokens WHERE expire < ?", (now,))

    def close(self) -> None:
        with self._lock:
            self._db.close()


class TokenObj(dict):  # type: ignore[type-arg]
    """A token's object: a plain dict, and a `with` block that writes it
    back on exit (under the token's lock, so read-modify-write in the
    block is safe across concurrent requests)."""

    def __init__(self, store: TokenStore, token: str,
                 expire: float | None) -> None:
        super().__init__()
        self._store = store
        self._token = token
        self._expire = expire
        self._entered = 0

    def __enter__(self) -> TokenObj:
        self._store.lock(self._token).acquire()
        self._entered += 1
        if self._entered == 1:
            self.clear()
            self.update(self._store.handler.load(self._token) or {})
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._entered -= 1
            if self._entered == 0:
                self.save()
        finally:
            self._store.lock(self._token).release()

    def save(self) -> None:
        """Writes the object back (a `with` block does this itself)."""
        if self._expire is not None and self._expire <= time.time():
            self._store.handler.delete(self._token)
        else:
            self._store.handler.store(self._token, dict(self),
                                      self._expire)

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        if not self._entered:
            self.save()  # used as a plain dict: every change is stored

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)
        if not self._entered:
            self.save()


class TokenStore:
    """Creates tokens and hands out their objects."""

    def __init__(self, handler: TokenHandler | None = None) -> None:
        self.handler: TokenHandler = handler or MemoryTokenHandler()
        self.default_expiration: float | None = 3600.0
        # striped: a fixed set of locks, so that memory does not grow
        # with every token ever seen
        self._locks = [threading.RLock() for _ in range(LOCK_STRIPES)]
        self._last_flush = 0.0

    def lock(self, token: str) -> Any:
        """The lock that serialises read-modify-write of `token`."""
        return self._locks[hash(token) % LOCK_STRIPES]

    @staticmethod
    def create_token() -> str:
        return secrets.token_urlsafe(24)

    def get(self, token: str, expire: float | None | str = "default"
            ) -> TokenObj:
        now = time.time()
        if now - self._last_flush > 10:
            self._last_flush = now
            self.handler.flush(now)
        seconds = self.default_expiration if expire == "default" else expire
        absolute = None if seconds is None else now + float(seconds)
        obj = TokenObj(self, token, absolute)
        with self.lock(token):
            obj.update(self.handler.load(token) or {})
            self.handler.store(token, dict(obj), absolute)
        return obj

    def ttl(self, token: str) -> float | None:
        """Seconds until the token expires (None: never)."""
        expire = self.handler.expiry(token)
        return None if expire is None else max(0.0, expire - time.time())

