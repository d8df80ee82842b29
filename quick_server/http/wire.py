"""HTTP/1.1 request framing: the request line, the headers, and a body
reader for Content-Length and chunked bodies.

Everything that decides where one request ends and the next begins is
validated here, strictly, before any handler runs: an ambiguous request is
refused with a status and the connection is closed (no request smuggling).
"""
from __future__ import annotations

import re
import time
from io import BufferedIOBase
from typing import Callable, Iterator, NamedTuple, NoReturn, Protocol

from .responses import HTTPError

# a head is parsed as latin-1 text (every byte is one character)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_DIGITS = re.compile(r"[0-9]{1,18}")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_VERSION = re.compile(r"HTTP/([0-9])\.([0-9])")
_VERSIONS = ("HTTP/1.1", "HTTP/1.0")  # the usual ones, checked already
# a header line the slow checks below would accept, in one match: a token,
# ":", the value without CR or NUL, blanks (and CRs) around it stripped
_FIELD = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t\r]*"
                    r"([^\r\0]*?)[ \t\r]*")


class Limits(Protocol):
    """Size and time limits for reading a request head: the server's
    `settings.http` (this module reads them, the settings own them)."""

    @property
    def max_line(self) -> int: ...

    @property
    def max_header_bytes(self) -> int: ...

    @property
    def max_headers(self) -> int: ...

    @property
    def head_timeout(self) -> float: ...


class Headers:
    """Case-insensitive request headers that keep repeated fields."""

    def __init__(self, pairs: list[tuple[str, str]],
                 index: dict[str, list[str]] | None = None) -> None:
        """`index` (lower-case name -> values), when the caller built it
        already from `pairs`."""
        self._pairs = pairs
        if index is None:
            index = {}
            for name, value in pairs:
                index.setdefault(name.lower(), []).append(value)
        self._index = index

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self._index.get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        return list(self._index.get(name.lower(), ()))

    def __getitem__(self, name: str) -> str | None:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def keys(self) -> list[str]:
        return [name for name, _ in self._pairs]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._pairs)


class RequestHead(NamedTuple):
    """A parsed request line and its headers."""
    method: str
    target: str
    version: str
    headers: Headers

    @property
    def keep_alive(self) -> bool:
        values = self.headers._index.get("connection")
        if values is None:
            return self.version == "HTTP/1.1"
        tokens = {t.strip().lower() for v in values for t in v.split(",")}
        if "close" in tokens:
            return False
        return self.version == "HTTP/1.1" or "keep-alive" in tokens


class ClientDisconnected(ConnectionError):
    """The client's connection failed while we read from or wrote to it
    (reset, closed, or timed out): nothing can be answered, and it is not
    the server's fault. Errors raised by handler code are never this."""


def head_end(buf: bytes) -> int:
    """The length of the request head at the start of `buf`, through its
    blank line (one stray CRLF before it included); -1 while incomplete.
    Lines may end with CRLF or a bare LF."""
    start = 2 if buf[:2] == b"\r\n" else 1 if buf[:1] == b"\n" else 0
    crlf = buf.find(b"\n\r\n", start)  # found early in a usual head
    # a bare-LF end before it (searched only up to it: pipelined requests
    # behind a head are never scanned)
    lf = buf.find(b"\n\n", start, crlf if crlf >= 0 else len(buf))
    if lf >= 0:
        return lf + 2
    return crlf + 3 if crlf >= 0 else -1


def split_head(buf: bytes, limits: Limits, *, ended: bool = False,
               deadline: float | None = None
               ) -> tuple[RequestHead, int] | None:
    """The request head at the start of `buf` and its length in bytes;
    None while it is incomplete (or, once the client `ended` its input,
    when nothing but blank lines came). HTTPError (closing) for a head
    that is malformed, over a limit (414/431, decided as soon as the
    bytes arrived show it), cut short by the client's end (408) or
    completed past its `deadline` (408). The error carries the request
    line read so far in `request_line`."""
    end = head_end(buf)
    request_line = ""
    try:
        if end < 0:
            first = buf.find(b"\n", 0 if buf[:1] != b"\n" else 1)
            if (first < 0 and len(buf) > limits.max_line + 2) or \
                    first > limits.max_line + 1:
                raise HTTPError(414, close=True)
            if len(buf) > limits.max_line + limits.max_header_bytes + 4:
                raise HTTPError(431, close=True)
            if ended and buf.strip(b"\r\n"):
                request_line = buf.split(b"\n", 1)[0].rstrip(b"\r") \
                    .decode("latin-1")
                raise HTTPError(408, close=True)  # cut short
            return None
        if deadline is not None and time.monotonic() > deadline:
            raise HTTPError(408, close=True)
        skip = 2 if buf[:2] == b"\r\n" else 1 if buf[:1] == b"\n" else 0
        lines = buf[skip:end - 1].decode("latin-1").split("\n")
        line = lines[0]
        if len(line) >= limits.max_line:
            raise HTTPError(414, close=True)  # none of it kept for the log
        request_line = line.rstrip("\r")
        return _parse_head(lines, limits), end
    except HTTPError as err:
        err.request_line = request_line[:200]
        raise


def _parse_head(lines: list[str], limits: Limits) -> RequestHead:
    """The head of `lines` (split at LF: the request line, the header
    lines, then the blank line)."""
    parts = lines[0].rstrip("\r").split(" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1] \
            or _CONTROL.search(parts[1]):
        raise HTTPError(400, "Malformed request line", close=True)
    method, target, version = parts
    if version not in _VERSIONS:
        match = _VERSION.fullmatch(version)
        if match is None:
            raise HTTPError(400, "Malformed HTTP version", close=True)
        if match.group(1) != "1":
            raise HTTPError(505, close=True)
    pairs: list[tuple[str, str]] = []
    index: dict[str, list[str]] = {}
    fields = lines[1:-1]
    if fields:
        lengths = list(map(len, fields))
        if len(fields) > limits.max_headers or \
                max(lengths) >= limits.max_line or \
                sum(lengths) + len(fields) > limits.max_header_bytes:
            raise HTTPError(431, close=True)
    field = _FIELD.fullmatch
    for line in fields:
        found = field(line)
        if found is None:
            _refuse_field(line)
        name, value = found.groups()
        pairs.append((name, value))
        key = name.lower()
        if key in index:
            index[key].append(value)
        else:
            index[key] = [value]
    head = RequestHead(method, target, version, Headers(pairs, index))
    hosts = index.get("host")
    # RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one in 1.0
    if (hosts is not None and len(hosts) > 1) or \
            (hosts is None and version == "HTTP/1.1"):
        raise HTTPError(400, "Missing or repeated Host header", close=True)
    return head


def _refuse_field(line: str) -> NoReturn:
    """Raises the error of a header line the fast match refused."""
    name, sep, value = line.partition(":")
    if not sep or not _TOKEN.fullmatch(name):
        # also refuses obsolete line folding and "Name :" forms
        raise HTTPError(400, "Malformed header line", close=True)
    raise HTTPError(400, "Invalid character in header", close=True)


def body_length(head: RequestHead) -> int | None:
    """The declared body length; `None` for a chunked body."""
    index = head.headers._index
    codings = index.get("transfer-encoding")
    lengths = index.get("content-length")
    if codings:
        if lengths:
            raise HTTPError(
                400, "Both Content-Length and Transfer-Encoding", close=True)
        names = [c.strip().lower() for v in codings for c in v.split(",")]
        if names != ["chunked"] or head.version != "HTTP/1.1":
            raise HTTPError(400, "Unsupported Transfer-Encoding", close=True)
        return None
    if not lengths:
        return 0
    if len(lengths) > 1 or not _DIGITS.fullmatch(lengths[0]):
        raise HTTPError(400, "Invalid Content-Length", close=True)
    return int(lengths[0])


class Body:
    """Reads one request body, never past its end.

    `before_read` runs once before the first byte is read (used to answer
    `Expect: 100-continue` only for bodies that will be accepted). `limit`
    refuses a chunked body that grows past it with 413."""

    _CHUNK_LINE = 4096

    def __init__(self, rfile: BufferedIOBase, length: int | None, *,
                 before_read: Callable[[], None] | None = None) -> None:
        self._rfile = rfile
        self.length = length
        self._chunked = length is None
        self._left = 0 if length is None else length
        self._eof = length == 0
        self._before_read = before_read
        self.limit: int | None = None
        self.consumed = 0

    @property
    def started(self) -> bool:
        return self._before_read is None

    @property
    def finished(self) -> bool:
        return self._eof

    def _start(self) -> None:
        if self._before_read is not None:
            before, self._before_read = self._before_read, None
            before()

    def _next_chunk(self) -> None:
        line = self._rfile.readline(self._CHUNK_LINE + 1)
        size = line.rstrip(b"\r\n").split(b";", 1)[0].strip(b" \t")
        if not line.endswith(b"\n") or not _HEX.fullmatch(size):
            raise HTTPError(400, "Malformed chunk", close=True)
        self._left = int(size, 16)
        if self._left == 0:
            for _ in range(100):  # trailer fields, ignored
                trailer = self._rfile.readline(self._CHUNK_LINE + 1)
                if trailer in (b"\r\n", b"\n"):
                    self._eof = True
                    return
                if not trailer.endswith(b"\n"):
                    break
            raise HTTPError(400, "Malformed chunk trailer", close=True)

    def _count(self, n: int) -> None:
        self.consumed += n
        if self.limit is not None and self.consumed > self.limit:
            raise HTTPError(413, close=True)

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (all that is left when negative); b"" at the
        end of the body, and for `size` 0. A body cut short is a 400; a failed connection
        raises `ClientDisconnected`."""
        try:
            return self._read(size)
        except OSError as err:
            raise ClientDisconnected(f"reading the body: {err}") from err

    def _read(self, size: int) -> bytes:
        if self._eof or size == 0:  # 0 bytes: no read, no 100-continue
            return b""
        self._start()
        if size < 0:
            return b"".join(iter(lambda: self._read(1 << 16), b""))
        if self._left == 0:
            self._next_chunk()
            if self._eof:
                return b""
        data = self._rfile.read(min(size, self._left))
        if not data:
            raise HTTPError(400, "Request body ended early", close=True)
        self._left -= len(data)
        self._count(len(data))
        if self._left == 0:
            if self._chunked:
                if self._rfile.read(2) not in (b"\r\n",):
                    raise HTTPError(400, "Malformed chunk", close=True)
            else:
                self._eof = True
        return data

    def drain(self, max_bytes: int) -> bool:
        """Reads and drops the rest of the body, up to `max_bytes`; True
        when the body was consumed completely, so the connection can
        carry another request."""
        if self._eof:
            return True
        if not self.started:
            return False  # the client waits for 100-continue: never sent
        budget = max_bytes
        self.limit = None
        while budget > 0 and not self._eof:
            budget -= len(self.read(min(budget, 1 << 16)))
        return self._eof
