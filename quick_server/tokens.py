"""Per-client token storage behind a small `TokenHandler` interface: in
memory by default, or in an sqlite3 file that survives restarts.

Tokens come from clients, so reading one costs no storage: a token is
stored only once something is set in its object."""
from __future__ import annotations

import functools
import json
import threading
import time
from typing import Any, Callable, Protocol

from .http.responses import HTTPError

LOCK_STRIPES = 256
MAX_TOKEN_LENGTH = 256
# `expire` meaning: the token keeps the expiry it has; one not stored yet
# (new, or expired) gets the store's default expiration
DEFAULT = "default"


class TokenError(HTTPError, ValueError):
    """A token that is not a non-empty string of at most `MAX_TOKEN_LENGTH`
    characters that UTF-8 can encode. A `ValueError`; escaping a route it
    answers 400, since tokens come from clients."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message)


def check_token(token: Any) -> None:
    """Raises `TokenError` unless `token` is a usable token."""
    if not isinstance(token, str) or not token:
        raise TokenError("a token must be a non-empty string")
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenError(
            f"token too long (at most {MAX_TOKEN_LENGTH} characters)")
    try:  # a lone surrogate (JSON's "\ud800") is no text a store can keep
        token.encode("utf-8")
    except UnicodeEncodeError:
        raise TokenError("a token must be valid text (it holds a lone "
                         "surrogate)") from None


class TokenHandler(Protocol):
    """What a token store must provide (e.g. a Redis store shared by
    several server processes). Objects are JSON-compatible dicts; `expire`
    is an absolute `time.time()` or `None` for never. Every read calls
    `load`; `store` is called only when an object changes."""

    def load(self, token: str) -> dict[str, Any] | None:
        """The stored object, or `None` when unknown or expired."""

    def store(self, token: str, obj: dict[str, Any],
              expire: float | None) -> None:
        """Saves `obj` with its expiry (replacing what was there)."""

    def delete(self, token: str) -> None:
        """Forgets the token."""

    def expiry(self, token: str) -> float | None:
        """The absolute expiry of a stored token (None: never); KeyError
        when unknown."""

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
        import sqlite3  # loaded on first use
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


def _stored_at_once(mutate: Callable[..., Any]) -> Callable[..., Any]:
    """The dict method `mutate`, followed by a save outside a `with`
    block."""

    @functools.wraps(mutate)
    def method(self: TokenObj, *args: Any, **kwargs: Any) -> Any:
        result = mutate(self, *args, **kwargs)
        if not self._entered:
            self.save()
        return result
    return method


class TokenObj(dict):  # type: ignore[type-arg]
    """A token's object: a plain dict whose every change is stored at
    once, and a `with` block that reloads it and writes it back once on
    exit (under the token's lock, so read-modify-write in the block is safe
    across concurrent requests). An unknown token is stored only once its
    object is not empty; a `readonly` object's data is never written back
    (an `expire` given with it still sets the token's expiry)."""

    def __init__(self, store: TokenStore, token: str,
                 data: dict[str, Any] | None,
                 expire: float | None | str = DEFAULT,
                 readonly: bool = False) -> None:
        super().__init__(data or {})
        self._store = store
        self._token = token
        self._stored = data is not None
        self._expire = expire
        self._readonly = readonly
        self._entered = 0

    def __enter__(self) -> TokenObj:
        self._store.lock(self._token).acquire()
        self._entered += 1
        if self._entered == 1:
            data = self._store.handler.load(self._token)
            dict.clear(self)
            dict.update(self, data or {})
            self._stored = data is not None
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._entered -= 1
            if self._entered == 0:
                self.save()
        finally:
            self._store.lock(self._token).release()

    def save(self) -> None:
        """Writes the object back (a `with` block, and every change outside
        one, do this themselves)."""
        if self._readonly or not (self or self._stored):
            return
        self._store.write(self._token, dict(self), self._expire)
        self._stored = True

    __setitem__ = _stored_at_once(dict.__setitem__)
    __delitem__ = _stored_at_once(dict.__delitem__)
    __ior__ = _stored_at_once(dict.__ior__)
    update = _stored_at_once(dict.update)
    setdefault = _stored_at_once(dict.setdefault)
    pop = _stored_at_once(dict.pop)
    popitem = _stored_at_once(dict.popitem)
    clear = _stored_at_once(dict.clear)


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
        import secrets  # loaded on first use
        return secrets.token_urlsafe(24)

    def get(self, token: str, expire: float | None | str = DEFAULT,
            readonly: bool = False) -> TokenObj:
        """`token`'s object, empty when unknown (nothing is stored until
        something is set in it). `expire` (seconds from now, `None` for
        never) sets the expiry of a stored token at once, `readonly` or
        not; by default the expiry is kept. A `readonly` object's data is
        never written back. Raises `TokenError` (a ValueError, a 400) for
        a bad token."""
        check_token(token)
        now = time.time()
        if now - self._last_flush > 10:
            self._last_flush = now
            self.handler.flush(now)
        if expire == DEFAULT:
            return TokenObj(self, token, self.handler.load(token),
                            readonly=readonly)
        absolute = None if expire is None else now + float(expire)
        with self.lock(token):
            data = self.handler.load(token)
            if data is not None:
                self.write(token, data, absolute)
        return TokenObj(self, token, data, absolute, readonly)

    def write(self, token: str, obj: dict[str, Any],
              expire: float | None | str = DEFAULT) -> None:
        """Stores `obj` until `expire` (absolute, `None` for never, or
        `DEFAULT`); a time already past deletes the token instead."""
        if isinstance(expire, str):
            expire = self._kept_expiry(token)
        if expire is not None and expire <= time.time():
            self.handler.delete(token)
        else:
            self.handler.store(token, obj, expire)

    def _kept_expiry(self, token: str) -> float | None:
        """The stored expiry of a live `token`, else the default one."""
        now = time.time()
        try:
            expire = self.handler.expiry(token)
            if expire is None or expire > now:
                return expire
        except KeyError:
            pass
        seconds = self.default_expiration
        return None if seconds is None else now + seconds

    def ttl(self, token: str) -> float | None:
        """Seconds until the token expires (None: never)."""
        expire = self.handler.expiry(token)
        return None if expire is None else max(0.0, expire - time.time())


class TokenApi:
    """The token methods of a server (a mixin of `QuickServer`)."""

    _tokens: TokenStore

    def create_token(self) -> str:
        """A new unguessable token id to send to a client."""
        return self._tokens.create_token()

    def get_token_obj(self, token: str,
                      expire: float | None | str = "default",
                      readonly: bool = False) -> TokenObj:
        """The dict stored with `token`; empty for an unknown token, which
        is stored only once something is set in it. Use it as a dict (every
        change is stored at once), or in a `with` block that writes changes
        back atomically. `expire` (seconds from now, `None` for never) sets
        the token's expiry, at once if it is stored; without it the expiry
        stays as it is (a new token's: the default, 1 h). `readonly=True`
        never writes the object's data back (an explicit `expire` still
        sets the expiry). A token that is not a string of 1 to
        256 characters raises `TokenError`: a ValueError that answers 400
        when a route lets it escape."""
        return self._tokens.get(token, expire, readonly)

    def get_tokens(self) -> list[str]:
        return self._tokens.handler.tokens()

    def get_token_ttl(self, token: str) -> float | None:
        """Seconds until `token` expires (`None`: never); KeyError when
        unknown."""
        return self._tokens.ttl(token)

    def set_default_token_expiration(self, seconds: float | None) -> None:
        self._tokens.default_expiration = seconds

    def get_default_token_expiration(self) -> float | None:
        return self._tokens.default_expiration
