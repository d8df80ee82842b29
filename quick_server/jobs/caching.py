"""Results computed once per key with `quick_cache` (`server.cache`)."""
from __future__ import annotations

import threading
import time
import weakref
from typing import Any, Callable

from .. import log
from ..http.responses import Response

# quick_cache's own bookkeeping (its table of handles) is not thread-safe:
# every call into it is serialised here. The computation itself runs
# outside this lock, under the handle of its own key only.
_CACHE_LOCK = threading.Lock()
# hits and misses per cache (for the dashboard), counted under the lock
_COUNTS: weakref.WeakKeyDictionary[Any, list[int]] = \
    weakref.WeakKeyDictionary()


def _count(cache: Any, hit: bool) -> None:
    try:
        _COUNTS.setdefault(cache, [0, 0])[0 if hit else 1] += 1
    except TypeError:  # a cache that cannot be referenced weakly
        pass


def counts(cache: Any) -> tuple[int, int] | None:
    """(hits, misses) of `cache` so far (None: never asked)."""
    with _CACHE_LOCK:
        try:
            found = _COUNTS.get(cache)
        except TypeError:
            return None
        return None if found is None else (found[0], found[1])


def cached(cache: Any, key_of: Callable[[], Any] | None,
           compute: Callable[[], Any],
           section: str | None = None, method: str | None = None) -> Any:
    """`compute()`, read from `cache` (a `quick_cache.QuickCache`) when
    there is one and `key_of()` gives a key (JSON convertible, not None),
    and stored there otherwise. The key is only asked for with a cache. A
    cache entry that cannot be read is computed again, never an error. A
    `Response` (a status of the handler's choosing, e.g. a 401) and an
    exception are never stored."""
    key = cache_key(cache, key_of)
    if key is None:
        return compute()
    with _CACHE_LOCK:
        handle = cache.get_hnd(key, section=section, method=method)
    with handle as hnd:  # waits while another thread computes this key
        with _CACHE_LOCK:
            found = hnd.has()
            _count(cache, found)
        if found:
            try:
                with _CACHE_LOCK:
                    return hnd.read()
            except Exception:  # pylint: disable=broad-except
                log.log_exception("cache read failed, computing again:")
        value = compute()
        if isinstance(value, Response):
            return value
        with _CACHE_LOCK:
            return hnd.write(value)


def cache_key(cache: Any, key_of: Callable[[], Any] | None) -> Any:
    """The quick_cache id of an entry (None: not cached)."""
    key = key_of() if cache is not None and key_of is not None else None
    if key is not None and not isinstance(key, dict):
        key = {"key": key}  # quick_cache identifies entries by a dict
    return key


def cache_lookup(cache: Any, key: Any, section: str | None = None,
                 method: str | None = None) -> tuple[bool, Any]:
    """(True, value) when `cache` holds `key`; (False, None) otherwise
    (also when the entry cannot be read). For results computed elsewhere
    (a job in another process), stored with `cache_store` afterwards."""
    with _CACHE_LOCK:
        handle = cache.get_hnd(key, section=section, method=method)
    with handle as hnd:
        with _CACHE_LOCK:
            found = hnd.has()
            _count(cache, found)
            if not found:
                return False, None
            try:
                return True, hnd.read()
            except Exception:  # pylint: disable=broad-except
                log.log_exception("cache read failed, computing again:")
                return False, None


def cache_store(cache: Any, key: Any, value: Any, seconds: float,
                section: str | None = None, method: str | None = None) -> Any:
    """Stores `value`, computed in `seconds`, for `key`; returns what a
    later read gives."""
    with _CACHE_LOCK:
        handle = cache.get_hnd(key, section=section, method=method)
    with handle as hnd:
        if getattr(hnd, "_start_time", None) is not None:
            # quick_cache times the computation from entering the handle;
            # here it ran elsewhere, before. (A read slower than the
            # recorded time makes quick_cache warn, and its warning code
            # fails on Python 3.10+.)
            hnd._start_time = time.monotonic() - seconds  # noqa: SLF001
        with _CACHE_LOCK:
            return hnd.write(value)
