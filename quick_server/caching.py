"""Results computed once per key with `quick_cache` (`server.cache`)."""
from __future__ import annotations

import threading
from typing import Any, Callable

from . import log
from .response import Response

# quick_cache's own bookkeeping (its table of handles) is not thread-safe:
# every call into it is serialised here. The computation itself runs
# outside this lock, under the handle of its own key only.
_CACHE_LOCK = threading.Lock()


def cached(cache: Any, key_of: Callable[[], Any] | None,
           compute: Callable[[], Any],
           section: str | None = None, method: str | None = None) -> Any:
    """`compute()`, read from `cache` (a `quick_cache.QuickCache`) when
    there is one and `key_of()` gives a key (JSON convertible, not None),
    and stored there otherwise. The key is only asked for with a cache. A
    cache entry that cannot be read is computed again, never an error. A
    `Response` (a status of the handler's choosing, e.g. a 401) and an
    exception are never stored."""
    key = key_of() if cache is not None and key_of is not None else None
    if key is None:
        return compute()
    if not isinstance(key, dict):
        key = {"key": key}  # quick_cache identifies entries by a dict
    with _CACHE_LOCK:
        handle = cache.get_hnd(key, section=section, method=method)
    with handle as hnd:  # waits while another thread computes this key
        with _CACHE_LOCK:
            found = hnd.has()
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
