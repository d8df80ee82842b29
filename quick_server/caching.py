"""Results computed once per key with `quick_cache` (`server.cache`)."""
from __future__ import annotations

from typing import Any, Callable

from . import log


def cached(cache: Any, key_of: Callable[[], Any] | None,
           compute: Callable[[], Any],
           section: str | None = None, method: str | None = None) -> Any:
    """`compute()`, read from `cache` (a `quick_cache.QuickCache`) when
    there is one and `key_of()` gives a key (JSON convertible, not None),
    and stored there otherwise. The key is only asked for with a cache. A
    cache entry that cannot be read is computed again, never an error."""
    key = key_of() if cache is not None and key_of is not None else None
    if key is None:
        return compute()
    if not isinstance(key, dict):
        key = {"key": key}  # quick_cache identifies entries by a dict
    with cache.get_hnd(key, section=section, method=method) as hnd:
        if hnd.has():
            try:
                return hnd.read()
            except Exception:  # pylint: disable=broad-except
                log.log_exception("cache read failed, computing again:")
        return hnd.write(compute())
