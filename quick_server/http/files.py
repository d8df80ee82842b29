"""File answers: a handler returns `FileResponse(path)` and the file goes
out the way static files do (zero-copy `sendfile`, ETag / 304, Range),
named for the browser by a `Content-Disposition` header that no file name
can break (RFC 6266, with the RFC 5987 UTF-8 form)."""
from __future__ import annotations

import os
import stat
import unicodedata
from typing import Any, Iterable
from urllib.parse import quote

from .responses import HTTPError, Response
from .file_headers import content_type as type_of_name

MAX_NAME_CHARS = 200
# RFC 5987 attr-char, besides letters and digits: what filename*= may
# carry unencoded
_ATTR_CHARS = "!#$&+-.^_`|~"
# Unicode categories never kept in a name: controls, format characters
# (e.g. U+202E, which shows "evil\u202etxt.exe" as "evilexe.txt"),
# separators of lines and paragraphs, surrogates, private use
_DROPPED = frozenset(("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"))


class FileResponse(Response):
    """Answers with the file at `path`, named `filename` (default: the
    path's base name) for the browser, as `content_type` (default: from
    the name's extension). `inline=True` lets the browser show it instead
    of downloading it. `headers` are added (one of a name the file answer
    sets, such as Cache-Control, replaces it). `delete=True` removes the
    file once it is opened for the answer (a file made for this one
    request).

    The file is opened when the answer is written: a missing file (or a
    folder) is a 404 then."""

    def __init__(self, path: str | os.PathLike[str],
                 filename: str | None = None,
                 content_type: str | None = None, inline: bool = False,
                 *, headers: Iterable[tuple[str, str]] = (),
                 delete: bool = False) -> None:
        self.path = os.fspath(path)
        self.filename = safe_filename(
            os.path.basename(self.path) if filename is None else filename)
        self.content_type = content_type or type_of_name(self.filename)
        self.inline = inline
        self.delete = delete
        super().__init__(b"", 200, self.content_type, [
            ("Content-Disposition",
             content_disposition(self.filename, inline)), *headers])

    def open(self) -> tuple[int, os.stat_result]:
        """A read-only descriptor of the file and its status (the caller
        closes it); HTTPError 404 when there is no regular file at `path`
        (it may have gone since the handler returned)."""
        try:
            # O_NONBLOCK: a FIFO at `path` must not block the answer
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            raise HTTPError(404) from None
        finally:
            if self.delete:
                self.release()
        try:
            st = os.fstat(fd)
        except OSError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise HTTPError(404)
        return fd, st

    def info(self, url: str) -> dict[str, Any]:
        """What a client learns of this answer when it comes from a job
        (the job's result is `{"file": this}`), downloaded at `url`.
        OSError when the file does not exist."""
        return {"url": url, "filename": self.filename,
                "content_type": self.content_type,
                "size": os.stat(self.path).st_size}

    def release(self) -> None:
        """Removes a `delete=True` file (also when it was never sent)."""
        if self.delete:
            try:
                os.unlink(self.path)
            except OSError:
                pass

    def __repr__(self) -> str:
        return f"FileResponse({self.path!r}, {self.filename!r})"


def download_path(route: str, token: str) -> str:
    """Where the file answer of the job `token` of the worker at `route`
    is downloaded."""
    return f"{route.rstrip('/')}/file/{token}"


def file_return(path: str | os.PathLike[str], filename: str | None = None,
                content_type: str | None = None,
                inline: bool = False) -> FileResponse:
    """`FileResponse(path, ...)`: the short name of izzati's API."""
    return FileResponse(path, filename, content_type, inline)


def safe_filename(name: str) -> str:
    """`name` as a file name a browser may offer: its last path segment,
    without control or invisible characters, without leading or trailing
    dots and spaces, at most 200 characters (the extension kept);
    `download` when nothing is left."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name
                   if unicodedata.category(ch) not in _DROPPED)
    name = name.strip(" .")
    if len(name) > MAX_NAME_CHARS:
        stem, ext = os.path.splitext(name)
        ext = ext[:20]
        name = stem[:MAX_NAME_CHARS - len(ext)] + ext
    return name or "download"


def ascii_fallback(name: str) -> str:
    """The `filename="..."` form of a safe name, for browsers without
    RFC 5987: accents dropped, every other non-ASCII character, quote,
    backslash and percent sign replaced by `_`."""
    plain = "".join(ch for ch in unicodedata.normalize("NFKD", name)
                    if unicodedata.category(ch) != "Mn")
    return "".join(ch if " " <= ch <= "~" and ch not in '"\\%' else "_"
                   for ch in plain)


def content_disposition(filename: str, inline: bool = False) -> str:
    """`attachment; filename="..."` (or `inline`), with
    `filename*=UTF-8''...` when the name is not plain ASCII. The value
    never holds a raw quote, CR, LF or path separator."""
    name = safe_filename(filename)
    fallback = ascii_fallback(name)
    value = f'{"inline" if inline else "attachment"}; filename="{fallback}"'
    if fallback != name:
        value += "; filename*=UTF-8''" + quote(name, safe=_ATTR_CHARS)
    return value
