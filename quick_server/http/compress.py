"""gzip for text answers, and the form a static file is sent in.

A text answer (HTML, CSS, JavaScript, JSON, SVG, XML, plain text) of at
least `settings.http.compress_min_size` bytes (1 KiB) goes out
gzip-compressed to a client whose `Accept-Encoding` allows gzip (coding
names in any case), with its own ETag (`"...-gzip"`); never for a Range
request. Every answer that another client could get compressed, in
whichever form this one gets it (identity, 206, 304), says `Vary:
Accept-Encoding`, so that a cache never hands the gzip form to a client
that did not ask for it. A static file's compressed form is made once
per file version: kept in the small-file cache next to its bytes up to
`MAX_FILE` (4 MiB), on disk past it (`gzip_cache`), up to
`settings.http.compress_max_file`. With live reload on, an HTML page (up
to 4 MiB) gets the live-reload script (`livescript.script_filter`)
first."""
from __future__ import annotations

import functools
import gzip
import os
from typing import TYPE_CHECKING, Any, NamedTuple

from .livescript import inject_script

from .responses import Response

Request = Any  # a `request.Request` (typed loosely: no import circle)

if TYPE_CHECKING:
    from .small_files import SmallFiles

LEVEL = 6  # zlib's default: most of level 9's gain at a third of its cost
MAX_FILE = 4 << 20  # files transformed in memory up to this size
_TEXT_TYPES = frozenset((
    "application/json", "application/javascript", "application/xml",
    "application/x-javascript", "application/manifest+json",
    "image/svg+xml"))
Header = tuple[str, str]
VARY: Header = ("Vary", "Accept-Encoding")


@functools.lru_cache(maxsize=256)  # a few types, asked on every answer
def compressible(ctype: str) -> bool:
    """Whether answers of Content-Type `ctype` are worth compressing."""
    base = ctype.split(";", 1)[0].strip().lower()
    if base.startswith("text/"):
        return base != "text/event-stream"
    return base in _TEXT_TYPES or base.endswith(("+json", "+xml"))


def accepts_gzip(header: str | None) -> bool:
    """Whether an `Accept-Encoding` value allows gzip: `gzip`, `x-gzip`
    or `*` with a quality above 0 (`gzip;q=0` refuses it); coding names
    are case-insensitive (RFC 9110)."""
    if not header:
        return False
    header = header.lower()
    if "gzip" not in header and "*" not in header:
        return False
    named: float | None = None
    star = 0.0
    for item in header.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip()
        quality = _quality(params)
        if coding in ("gzip", "x-gzip"):
            named = quality if named is None else max(named, quality)
        elif coding == "*":
            star = quality
    return (named if named is not None else star) > 0


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def gzip_etag(tag: str) -> str:
    """The ETag of the gzip form of an answer whose ETag is `tag`."""
    return f"{tag[:-1]}-gzip\"" if tag.endswith('"') else f"{tag}-gzip"


def gzip_bytes(data: bytes) -> bytes:
    """`data` gzip-compressed, the same bytes for the same input."""
    return gzip.compress(data, compresslevel=LEVEL, mtime=0)


def _wants_gzip(req: Request) -> bool:
    headers = req.headers
    return accepts_gzip(headers.get("accept-encoding")) and \
        headers.get("range") is None


def gzip_filter(req: Request, response: Response) -> Response:
    """The answer filter that compresses a text answer as the module
    says (a formed answer, a file's or a stream, is as it is already)."""
    if response.formed or response.code != 200 or response.ctype is None:
        return response
    http = req.server.settings.http
    body = response.response
    if not http.compress or len(body) < http.compress_min_size or \
            not compressible(response.ctype):
        return response
    headers = response.headers
    if any(name.lower() == "content-encoding" for name, _ in headers):
        return response  # in its final form already
    if VARY not in headers:
        headers.append(VARY)
    if not _wants_gzip(req):
        return response
    response.headers = [(name, gzip_etag(value) if name.lower() == "etag"
                         else value) for name, value in headers]
    response.headers.append(("Content-Encoding", "gzip"))
    response.response = gzip_bytes(body)
    return response


class FileForm(NamedTuple):
    """How a static file goes out when it is not as it is on disk: with
    the live-reload script, gzip-compressed, or both."""
    inject: bool
    gzip: bool

    @property
    def kind(self) -> str:
        return "+".join(name for name, on in (("script", self.inject),
                                              ("gzip", self.gzip)) if on)

    def etag(self, tag: str) -> str:
        if self.inject:
            tag = f"{tag[:-1]}-live\""
        return gzip_etag(tag) if self.gzip else tag

    def headers(self) -> list[Header]:
        """Its Content-Encoding (`Vary` is `file_varies`'s)."""
        return [("Content-Encoding", "gzip")] if self.gzip else []

    def body(self, cache: SmallFiles, path: str, st: os.stat_result,
             content: bytes | int) -> bytes:
        """The file's bytes in this form, made once per file version."""
        def make() -> bytes:
            data = content if isinstance(content, bytes) else \
                os.pread(content, st.st_size, 0)
            if self.inject:
                data = inject_script(data)
            return gzip_bytes(data) if self.gzip else data
        return cache.variant(path, st, self.kind, make)


def file_form(req: Request, st: os.stat_result, ctype: str,
              varies: bool) -> FileForm | None:
    """The form a static file of type `ctype` goes out in for this
    request (`varies`: as `file_varies` says); None: as it is (any range,
    `sendfile` for a large file). Past `MAX_FILE` only gzip, made on disk
    (`on_disk`)."""
    inject = req.server.settings.dev.live_reload and \
        st.st_size <= MAX_FILE and ctype.startswith("text/html")
    zipped = varies and _wants_gzip(req)
    return FileForm(inject, zipped) if inject or zipped else None


def on_disk(st: os.stat_result) -> bool:
    """Whether a file's gzip form is made on disk (`gzip_cache`), not in
    memory."""
    return st.st_size > MAX_FILE


def file_varies(http: Any, size: int, ctype: str,
                big: bool = False) -> bool:
    """Whether a file of `size` bytes and type `ctype` goes out
    compressed to the clients that accept gzip (`http`: the server's
    `settings.http`): then every answer of it varies by
    `Accept-Encoding`. Past `MAX_FILE` only when `big` (a static file,
    whose form is kept on disk)."""
    most = http.compress_max_file
    if most > MAX_FILE and not big:  # (no call: it runs for every file)
        most = MAX_FILE
    return http.compress and \
        http.compress_min_size <= size <= most and compressible(ctype)
