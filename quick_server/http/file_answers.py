"""How the request handler answers with a file: a static file from a
bound folder, or a `FileResponse` (a mixin of the handler)."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterable

from . import compress
from .file_headers import (FileTarget, content_type, etag, last_modified,
                           not_modified)
from .files import FileResponse
from .ranges import byte_ranges, multipart_ranges
from .responses import HTTPError
from .static import Listing, Redirect
from .wire import Body


class FileAnswers:
    """Validators, 304, ranges, compression and `sendfile` for files."""

    if TYPE_CHECKING:  # what the request handler provides
        server: Any
        headers: Any  # wire.Headers
        command: str
        body: Body | None
        route_name: str
        _http: Any
        _files: dict[str, Any]
        _extra_headers: list[tuple[str, str]]
        _responded: bool

        def send_payload(self, code: int, body: bytes = b"",
                         ctype: str | None = None,
                         headers: Iterable[tuple[str, str]] = (), *,
                         file: tuple[int, int, int] | None = None,
                         formed: bool = False) -> None: ...

    def _serve_static(self, target: FileTarget | Redirect | Listing) -> None:
        if isinstance(target, Redirect):
            self.send_payload(301, b"", "text/plain; charset=utf-8",
                              [("Location", target.location)])
            return
        if isinstance(target, Listing):
            page = self.server._static.listing_html(target)
            self.send_payload(200, page, "text/html; charset=utf-8",
                              [("Cache-Control", "no-cache")])
            return
        try:
            small = self.server._static.small_files.get(target)
            if small is not None:
                self._answer_file(target.path, small[0], small[1])
                return
            fd = os.open(target.path, os.O_RDONLY)
        except OSError:
            raise HTTPError(404) from None
        try:
            self._answer_file(target.path, os.fstat(fd), fd)
        finally:
            os.close(fd)

    def send_file(self, response: FileResponse) -> None:
        """Answers with a `FileResponse` the way static files are
        answered, with its Content-Type and Content-Disposition; a 404
        when its file is gone. Only GET and HEAD answer conditionally or
        with a range (RFC 9110)."""
        fd, st = response.open()
        try:
            self._answer_file(response.path, st, fd, response.content_type,
                              response.headers,
                              self.command in ("GET", "HEAD"))
        finally:
            os.close(fd)

    def _answer_file(self, path: str, st: os.stat_result,
                     content: bytes | int, ctype: str | None = None,
                     extra: list[tuple[str, str]] | None = None,
                     conditional: bool = True) -> None:
        """Answers with a file (its bytes, or an open descriptor for
        `sendfile`): validators, 304, a byte range, or all of it. `ctype`
        replaces the type of the extension; `extra` headers are added,
        each replacing a default of its name; without `conditional`, the
        request's validators and Range are not looked at. Every answer of
        a file that some clients get compressed says so in `Vary`."""
        max_age = self.server.settings.static.max_age
        ctype = ctype or content_type(path)
        form = compress.file_form(self, st, ctype) if self._http.compress \
            or self.server.settings.dev.live_reload else None
        tag = etag(st) if form is None else form.etag(etag(st))
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
        if compress.file_varies(self, st.st_size, ctype):
            headers.append(compress.VARY)
        if form is not None:  # gzip or live reload: any range ignored
            headers.extend(form.headers())
            if not (conditional and not_modified(self.headers, st, tag)):
                self.send_payload(200, form.body(
                    self.server._static.small_files, path, st, content),
                    ctype, headers, formed=True)
                return
        if conditional and not_modified(self.headers, st, tag):
            self.send_payload(304, headers=headers)
            return
        spans = byte_ranges(self.headers.get("range"),
                            self.headers.get("if-range"), st) \
            if conditional else None
        if spans is not None and len(spans) > 1:
            body = multipart_ranges(spans, content, st.st_size, ctype)
            if body is not None:
                self.send_payload(206, body[1], body[0], headers)
                return
            spans = None  # too much to assemble: the whole file is valid
        code = 200
        start, end = 0, st.st_size
        if spans is not None:
            code = 206
            start, end = spans[0]
            headers.append(("Content-Range",
                            f"bytes {start}-{end - 1}/{st.st_size}"))
        if isinstance(content, bytes):
            self.send_payload(code, content[start:end], ctype, headers,
                              formed=True)
        else:
            self.send_payload(code, ctype=ctype, headers=headers,
                              file=(content, start, end))
