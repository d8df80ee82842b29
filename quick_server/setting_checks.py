"""The checks of one setting's value (`settings.py`): each takes the value
and the setting's label (`settings.http.idle_timeout`) and returns the
value to keep, or raises TypeError (a wrong type) or ValueError (out of
range) naming the setting, what it must be, and the value it got."""
from __future__ import annotations

import math
import os
import reprlib
from typing import Any, Callable, cast

from . import log
from .http.cors import CorsPolicy
from .http.extra_headers import check_extra_headers

Check = Callable[[Any, str], Any]  # (value, label) -> the value to keep


def refuse(label: str, what: str, value: Any,
           error: type[Exception] = ValueError) -> Exception:
    return error(f"{label} must be {what}, got {reprlib.repr(value)}")


def number(what: str, low: float, *, above: bool = False,
           whole: bool = False, optional: bool = False) -> Check:
    """A number (an int when `whole`; never a bool) of at least `low`
    (more than `low` when `above`), or None when `optional`."""
    kinds: tuple[type, ...] = (int,) if whole else (int, float)
    wording = f"{what} {'>' if above else '>='} {low:g}" + \
        (" or None" if optional else "")

    def check(value: Any, label: str) -> Any:
        if value is None and optional:
            return value
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise refuse(label, wording, value, TypeError)
        amount = cast(float, value)
        if (isinstance(amount, float) and not math.isfinite(amount)) or \
                amount < low or (above and amount == low):
            raise refuse(label, wording, value)
        return value
    return check


def seconds(above: bool = True) -> Check:
    return number("a number of seconds", 0, above=above)


def size(optional: bool = False) -> Check:
    return number("a whole number of bytes", 0, whole=True,
                  optional=optional)


def count(low: int) -> Check:
    return number("a whole number", low, whole=True)


def kind(kinds: tuple[type, ...], what: str,
         optional: bool = False) -> Check:
    """A value of one of `kinds` (or None when `optional`)."""
    wording = what + (" or None" if optional else "")

    def check(value: Any, label: str) -> Any:
        if not isinstance(value, kinds) and not (optional and value is None):
            raise refuse(label, wording, value, TypeError)
        return value
    return check


def flag(optional: bool = False) -> Check:
    if optional:
        return kind((bool, type(None)), "None, True or False")
    return kind((bool,), "True or False")


def path(optional: bool = False) -> Check:
    return kind((str, os.PathLike), "a path (str or os.PathLike)", optional)


text = kind((str,), "a string")


def log_format(value: Any, label: str) -> Any:
    """A request log template `log` can fill (its rule)."""
    text(value, label)
    try:
        return log.check_request_format(value)
    except ValueError as err:
        raise ValueError(f"{label}: {err}") from None


def cross_origin(value: Any, label: str) -> Any:
    """What `CorsPolicy` takes (it owns what an origin is)."""
    wording = "True, False or a list of origins ('http://localhost:3000')"
    if value is not None and \
            not isinstance(value, (bool, str, list, tuple, set, frozenset)):
        raise refuse(label, wording, value, TypeError)
    try:
        CorsPolicy(value)
    except ValueError as err:
        why = str(err).removeprefix("cross_origin: ")
        raise ValueError(f"{label} must be {wording}: {why}") from None
    return value


def extra_headers(value: Any, label: str) -> Any:
    """What `http.extra_headers` puts on every answer (it owns the rule)."""
    return check_extra_headers(value, label)


def url_path(optional: bool = False) -> Check:
    """A URL path on this server (`"/index.html"`): it starts with "/",
    and has no dot segment, backslash, NUL, query or fragment."""
    wording = "a URL path such as '/index.html'" + \
        (" or None" if optional else "")

    def check(value: Any, label: str) -> Any:
        if value is None and optional:
            return value
        if not isinstance(value, str):
            raise refuse(label, wording, value, TypeError)
        if not value.startswith("/") or any(
                char in value for char in "\\\0?#") or any(
                seg in (".", "..") for seg in value.split("/")):
            raise refuse(label, wording, value)
        return value
    return check


def executor(value: Any, label: str) -> Any:
    """"thread", "process", or an executor (anything with `submit`)."""
    wording = "'thread', 'process' or a concurrent.futures.Executor"
    if isinstance(value, str):
        if value not in ("thread", "process"):
            raise refuse(label, wording, value)
    elif not callable(getattr(value, "submit", None)):  # every Executor
        raise refuse(label, wording, value, TypeError)
    return value


def cache(value: Any, label: str) -> Any:
    """None, or a cache in the manner of `quick_cache.QuickCache`."""
    if value is not None and not callable(getattr(value, "get_hnd", None)):
        raise refuse(label, "None or a quick_cache.QuickCache (an object "
                     "with get_hnd)", value, TypeError)
    return value
