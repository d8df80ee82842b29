"""What a file answer says about the file besides its bytes: its
Content-Type (from the extension), its validators (ETag, Last-Modified)
and whether a conditional request (If-None-Match, If-Modified-Since) is
answered with a 304. Shared by static files and `FileResponse`."""
from __future__ import annotations

import functools
import mimetypes
import os
from typing import NamedTuple

from .responses import http_date


class FileTarget(NamedTuple):
    """A file to send: its path and the stat its headers are made from."""
    path: str
    st: os.stat_result


_CTYPES: dict[str, str] = {}


def content_type(path: str) -> str:
    """Content-Type from the file extension (UTF-8 for text)."""
    ext = os.path.splitext(path)[1].lower()
    ctype = _CTYPES.get(ext)
    if ctype is None:
        ctype = mimetypes.guess_type("x" + ext)[0] or \
            "application/octet-stream"
        if ctype.startswith("text/") or ctype in (
                "application/javascript", "application/json"):
            ctype += "; charset=utf-8"
        _CTYPES[ext] = ctype
    return ctype


def etag(st: os.stat_result) -> str:
    """A strong validator from size and modification time (no read)."""
    return f'"{st.st_size:x}-{st.st_mtime_ns:x}"'


@functools.lru_cache(maxsize=1024)
def last_modified(mtime: float) -> str:
    """`Last-Modified` value of a modification time."""
    return http_date(mtime)


def not_modified(headers: object, st: os.stat_result,
                 tag: str | None = None) -> bool:
    """Whether If-None-Match / If-Modified-Since allow a 304; `tag` is
    the ETag of the form sent (default: the file's)."""
    get = getattr(headers, "get")
    inm = get("if-none-match")
    if inm is not None:
        tag = tag or etag(st)
        return any(t.strip().removeprefix("W/") in (tag, "*")
                   for t in inm.split(","))
    ims = get("if-modified-since")
    if ims is not None:
        from email.utils import parsedate_to_datetime  # loaded on first use
        try:
            since = parsedate_to_datetime(ims).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
        return int(st.st_mtime) <= since
    return False
