"""How a request is answered with a file: a static file from a bound
folder, or a `FileResponse`: validators, 304, ranges, compression, and
`FileSpan` for the bytes `sendfile` sends."""
from __future__ import annotations

import os
from typing import Any

from . import compress
from .file_headers import (FileTarget, content_type, etag, last_modified,
                           not_modified)
from .files import FileResponse
from .ranges import byte_ranges, multipart_ranges
from .responses import HTTPError, Response
from .small_files import open_regular
from .static import Listing, Redirect

Request = Any  # a `request.Request` (which imports this module's users)


class FileSpan(Response):
    """Bytes `start` to `end` of the open descriptor `fd`, which the
    answer owns (closed by `release`), sent with zero-copy `sendfile`."""

    formed = True

    def __init__(self, fd: int, start: int, end: int, code: int,
                 ctype: str, headers: list[tuple[str, str]]) -> None:
        super().__init__(b"", code, ctype, headers)
        self.fd, self.start, self.end = fd, start, end

    def length(self) -> int | None:
        return self.end - self.start

    def release(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)


def _formed(code: int, body: bytes, ctype: str | None,
            headers: list[tuple[str, str]]) -> Response:
    response = Response(body, code, ctype, headers)
    response.formed = True
    return response


def static_answer(request: Request,
                  target: FileTarget | Redirect | Listing) -> Response:
    """The answer of a static file, a folder's redirect or its listing."""
    static = request.server._static
    if isinstance(target, Redirect):
        return Response(b"", 301, "text/plain; charset=utf-8",
                        [("Location", target.location)])
    if isinstance(target, Listing):
        return Response(static.listing_html(target), 200,
                        "text/html; charset=utf-8",
                        [("Cache-Control", "no-cache")])
    try:
        small = static.small_files.get(target)
        if small is not None:
            return _answer_file(request, target.path, small[0], small[1])
        fd, st = open_regular(target.path)
    except OSError:
        raise HTTPError(404) from None
    return _owning(fd, lambda: _answer_file(request, target.path, st, fd,
                                            big=True))


def _owning(fd: int, answer: Any) -> Response:
    """`answer()`, which keeps `fd` when it sends it: else it is closed
    (also when it sends another: the file's gzip form)."""
    try:
        response = answer()
    except BaseException:
        os.close(fd)
        raise
    if not (isinstance(response, FileSpan) and response.fd == fd):
        os.close(fd)
    return response


def file_answer(request: Request, response: FileResponse) -> Response:
    """A `FileResponse` answered the way static files are, with its
    Content-Type and Content-Disposition; a 404 when its file is gone.
    Only GET and HEAD answer conditionally or with a range (RFC 9110)."""
    fd, st = response.open()
    return _owning(fd, lambda: _answer_file(
        request, response.path, st, fd, response.content_type,
        response.headers, request.command in ("GET", "HEAD")))


def _answer_file(request: Request, path: str, st: os.stat_result,
                 content: bytes | int, ctype: str | None = None,
                 extra: list[tuple[str, str]] | None = None,
                 conditional: bool = True, big: bool = False) -> Response:
    """Answers with a file (its bytes, or an open descriptor for
    `sendfile`): validators, 304, a byte range, or all of it. `ctype`
    replaces the type of the extension; `extra` headers are added,
    each replacing a default of its name; without `conditional`, the
    request's validators and Range are not looked at. Every answer of
    a file that some clients get compressed says so in `Vary`. `big`:
    a file past 4 MiB may go out gzip-compressed too (a static file:
    its form is kept on disk)."""
    settings = request.server.settings
    max_age = settings.static.max_age
    ctype = ctype or content_type(path)
    varies = compress.file_varies(settings.http, st.st_size, ctype, big)
    form = compress.file_form(request, st, ctype, varies) \
        if varies or settings.dev.live_reload else None
    tag = etag(st) if form is None else form.etag(etag(st))
    zipped = None  # the descriptor and size of a form kept on disk
    if form is not None and compress.on_disk(st) and isinstance(
            content, int) and not (conditional and not_modified(
                request.headers, st, tag)):
        zipped = request.server._static.gzip_cache.open(
            path, content, st, settings.http.compress_cache_bytes,
            request.server._loop.held)
        if zipped is None:  # not to be had now: as it is
            form, tag = None, etag(st)
    headers = [
        ("Last-Modified", last_modified(st.st_mtime)),
        ("ETag", tag),
        ("Cache-Control", f"max-age={max_age}" if max_age else "no-cache"),
        ("Accept-Ranges", "bytes"),
    ]
    if extra:
        names = {name.lower() for name, _ in extra}
        headers = [h for h in headers if h[0].lower() not in names]
        headers.extend(extra)
    if varies:
        headers.append(compress.VARY)
    if form is not None:  # gzip or live reload: any range ignored
        headers.extend(form.headers())
        if zipped is not None:
            return FileSpan(zipped[0], 0, zipped[1], 200, ctype, headers)
        if not (conditional and not_modified(request.headers, st, tag)):
            return _formed(200, form.body(
                request.server._static.small_files, path, st, content),
                ctype, headers)
    if conditional and not_modified(request.headers, st, tag):
        return Response(b"", 304, None, headers)
    spans = byte_ranges(request.headers.get("range"),
                        request.headers.get("if-range"), st) \
        if conditional else None
    if spans is not None and len(spans) > 1:
        body = multipart_ranges(spans, content, st.st_size, ctype)
        if body is not None:
            return Response(body[1], 206, body[0], headers)
        spans = None  # too much to assemble: the whole file is valid
    code = 200
    start, end = 0, st.st_size
    if spans is not None:
        code = 206
        start, end = spans[0]
        headers.append(("Content-Range",
                        f"bytes {start}-{end - 1}/{st.st_size}"))
    if isinstance(content, bytes):
        return _formed(code, content[start:end], ctype, headers)
    return FileSpan(content, start, end, code, ctype, headers)
