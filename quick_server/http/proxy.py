"""Forwarding requests under a bound prefix to another server, streaming
the answer back.

Nothing crosses unchecked in either direction. Every field must fit the
HTTP grammar (a bare CR, LF or NUL never passes); fields that describe one
connection, and those a `Connection` header names, stay behind; repeated
request fields stay repeated. The target's response head is parsed here,
strictly: a head that could be read two ways is a 502. Its body is
re-framed for the client (Content-Length, chunked, or ended by close), so
a target can neither split nor desynchronise the client's connection."""
from __future__ import annotations

import contextlib
import re
import socket
import time
from io import BufferedIOBase
from typing import TYPE_CHECKING, Any, Iterable, Iterator
from urllib.parse import quote, urlsplit

from .responses import HTTPError, StreamResponse
from .wire import Body, Headers
from .static import decode_path

if TYPE_CHECKING:
    import ssl

# fields about one connection, not the message: never forwarded
HOP_BY_HOP = frozenset((
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
    "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"))
# fields the proxy writes itself (also every X-Forwarded-* of a request);
# the handler writes Date and Server of every response
REQUEST_OWN = frozenset(("host", "content-length"))
RESPONSE_OWN = frozenset(("content-length", "date", "server"))
BLOCK = 1 << 16
MAX_HEAD = 1 << 16  # bytes of the target's heads, interim ones included
MAX_FIELDS = 100
MAX_INTERIM = 10  # 1xx heads skipped before the final one
DEFAULT_PORTS = {"http": 80, "https": 443}

_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")  # RFC 9110 field-value
_TARGET = re.compile(r"[\x21-\x7e\x80-\xff]*")  # no space, no controls
_DIGITS = re.compile(r"[0-9]{1,18}")
_STATUS_LINE = re.compile(
    rb"HTTP/1\.[0-9] ([1-5][0-9][0-9])(?:[ \t][\t\x20-\x7e\x80-\xff]*)?")


class Proxy:
    """One bound prefix and its target (`http(s)://host:port/base`)."""

    def __init__(self, prefix: str, url: str) -> None:
        if not prefix.startswith("/") or not prefix.endswith("/"):
            raise ValueError(f"prefix must start and end with '/': {prefix}")
        target = urlsplit(url)
        if target.scheme not in ("http", "https") or not target.hostname \
                or not target.hostname.isascii():
            raise ValueError(f"proxy target must be an http(s) URL with an "
                             f"ASCII host name: {url}")
        self.prefix = prefix
        self.scheme = target.scheme
        self.host = target.hostname
        self.port = target.port or DEFAULT_PORTS[target.scheme]
        self.base = target.path.rstrip("/")
        self.authority = _authority(self.host, self.port, self.scheme)
        self._tls: ssl.SSLContext | None = None
        if self.scheme == "https":
            import ssl  # loaded on first use: only for an HTTPS target
            self._tls = ssl.create_default_context()
            self._tls.set_alpn_protocols(["http/1.1"])

    def target_path(self, raw_path: str) -> str | None:
        """The path on the target, or None when not under the prefix. The
        path is normalised first: it can never climb above `base`."""
        segments = decode_path(raw_path)  # 400 on dot segments, NUL, "\\"
        path = "/" + "/".join(segments)
        if not (path + "/").startswith(self.prefix):
            return None
        rest = segments[len(self.prefix.strip("/").split("/")) if
                        self.prefix != "/" else 0:]
        return self.base + "/" + "/".join(quote(s) for s in rest)

    def forward(self, req: Any, path: str, query: str, timeout: float
                ) -> StreamResponse:
        """Sends `req` on; the answer streams the target's back: 400 for
        a request that cannot be forwarded safely, 502 when the target is
        down or answers something invalid, 504 when it is too slow."""
        target = path + ("?" + query if query else "")
        if not _TARGET.fullmatch(target):
            raise HTTPError(400, "Invalid character in the request target")
        length, body = _request_body(req)
        head = request_head(req, self.authority, target, length)
        with _target_errors():
            sock = self._connect(timeout)
        try:
            rfile = sock.makefile("rb")
            with _target_errors():
                sock.sendall(head)
            for block in body:  # read from the client outside the mapping
                with _target_errors():
                    sock.sendall(block)
            with _target_errors():
                status, fields = read_response_head(
                    rfile, time.monotonic() + timeout)
            return _relay(req, sock, rfile, status, fields)
        except BaseException:
            sock.close()
            raise

    def _connect(self, timeout: float) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout)
        if self._tls is None:
            return sock
        try:
            return self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def _authority(host: str, port: int, scheme: str) -> str:
    """The `Host` value for the target: its port unless the default."""
    name = f"[{host}]" if ":" in host else host
    return name if port == DEFAULT_PORTS[scheme] else f"{name}:{port}"


@contextlib.contextmanager
def _target_errors() -> Iterator[None]:
    """Turns a failure talking to the target into 504 (timed out) or 502."""
    try:
        yield
    except TimeoutError:
        raise HTTPError(504, "Proxy target timed out") from None
    except OSError:
        raise HTTPError(502, "Proxy target unreachable") from None


def _bad_target(why: str) -> HTTPError:
    return HTTPError(502, f"Proxy target sent an invalid response: {why}")


# -- the request -------------------------------------------------------------

def _request_body(req: Any) -> tuple[int | None, Iterable[bytes]]:
    """The body to send on, and its length (None: the request has none).
    A chunked body is read whole, bounded by `max_body_size`, so that the
    target gets a Content-Length."""
    body: Body | None = req.body
    if body is None or (body.length == 0 and
                        "content-length" not in req.headers):
        return None, ()
    if body.length is None:
        body.limit = req.server.max_body_size
        data = body.read()
        return len(data), (data,)
    return body.length, iter(lambda: body.read(BLOCK), b"")


def request_head(req: Any, authority: str, target: str,
                 length: int | None) -> bytes:
    """The head sent to the target: the client's end-to-end fields, each
    repeated one as often as it came, then Host (the target's authority),
    Content-Length, X-Forwarded-For/-Host/-Proto and `Connection: close`.
    A field value the grammar does not allow is a 400."""
    headers: Headers = req.headers
    for name, value in headers.items():
        if not _VALUE.fullmatch(value):
            raise HTTPError(400, f"Invalid character in header {name}")
    fields = [(name, value) for name, value in _end_to_end(
                  headers, REQUEST_OWN)
              if not name.lower().startswith("x-forwarded-")]
    fields.append(("Host", authority))
    if length is not None:
        fields.append(("Content-Length", str(length)))
    client = req.client_address[0]
    fields.append(("X-Forwarded-For", ", ".join(
        headers.get_all("x-forwarded-for") + [client])))
    host = headers.get("host")
    if host:
        fields.append(("X-Forwarded-Host", host))
    fields.append(("X-Forwarded-Proto",
                   "https" if req.server.is_https else "http"))
    fields.append(("Connection", "close"))
    lines = [f"{req.command} {target} HTTP/1.1\r\n"]
    lines.extend(f"{name}: {value}\r\n" for name, value in fields)
    lines.append("\r\n")
    return "".join(lines).encode("latin-1")


def _end_to_end(headers: Headers, own: frozenset[str]
                ) -> list[tuple[str, str]]:
    """`headers` without hop-by-hop fields, those the `Connection` field
    names, and those in `own`."""
    named = {token.strip().lower() for value in headers.get_all("connection")
             for token in value.split(",")}
    return [(name, value) for name, value in headers.items()
            if name.lower() not in HOP_BY_HOP and name.lower() not in own
            and name.lower() not in named]


# -- the response ------------------------------------------------------------

def read_response_head(rfile: BufferedIOBase, deadline: float
                       ) -> tuple[int, Headers]:
    """The target's final status and fields, interim (1xx) heads skipped.
    Anything outside the HTTP/1.1 grammar -- a bare CR, a NUL, a folded
    or nameless line, more than `MAX_FIELDS` fields or `MAX_HEAD` bytes --
    is a 502; a head not complete by `deadline` is a 504."""
    lines = _HeadLines(rfile, deadline)
    for _ in range(MAX_INTERIM + 1):
        match = _STATUS_LINE.fullmatch(lines.next())
        if match is None:
            raise _bad_target("malformed status line")
        fields: list[tuple[str, str]] = []
        while line := lines.next():
            if len(fields) == MAX_FIELDS:
                raise _bad_target("too many header fields")
            fields.append(_field(line))
        status = int(match.group(1))
        if status >= 200:
            return status, Headers(fields)
    raise _bad_target("too many interim responses")


class _HeadLines:
    """The lines of the target's heads, without their ends, bounded in
    bytes (`MAX_HEAD`) and time (`deadline`)."""

    def __init__(self, rfile: BufferedIOBase, deadline: float) -> None:
        self._rfile = rfile
        self._deadline = deadline
        self._left = MAX_HEAD

    def next(self) -> bytes:
        line = self._rfile.readline(self._left + 1)
        self._left -= len(line)
        if time.monotonic() > self._deadline:
            raise TimeoutError
        if self._left < 0:
            raise _bad_target("head too large")
        if not line.endswith(b"\n"):
            raise _bad_target("head cut off")
        return line[:-2] if line.endswith(b"\r\n") else line[:-1]


def _field(line: bytes) -> tuple[str, str]:
    name, colon, value = line.partition(b":")
    text = value.strip(b" \t").decode("latin-1")
    if not colon or not _TOKEN.fullmatch(name) or not _VALUE.fullmatch(text):
        raise _bad_target("malformed header field")
    return name.decode("latin-1"), text


def body_framing(head: Headers) -> int | None:
    """The length of the target's body from its fields: a number for one
    valid Content-Length, None when the body is chunked or ends with the
    connection (RFC 9112 6.3). A Transfer-Encoding other than `chunked`,
    or a repeated or invalid Content-Length, is a 502; with chunked, any
    Content-Length is ignored (and never relayed)."""
    codings = head.get_all("transfer-encoding")
    if codings:
        names = [c.strip().lower() for value in codings
                 for c in value.split(",")]
        if names != ["chunked"]:
            raise _bad_target("unsupported Transfer-Encoding")
        return None
    lengths = head.get_all("content-length")
    if not lengths:
        return None
    if len(lengths) > 1 or not _DIGITS.fullmatch(lengths[0]):
        raise _bad_target("repeated or invalid Content-Length")
    return int(lengths[0])


def _relay(req: Any, sock: socket.socket, rfile: BufferedIOBase,
           status: int, head: Headers) -> StreamResponse:
    """The target's answer as ours: its Content-Length when it gave a
    valid one, else chunked to an HTTP/1.1 client and ended by closing
    the connection for an HTTP/1.0 one (the connection layer frames
    it). While `cross_origin` is on, our CORS policy replaces the
    target's `Access-Control-*` headers."""
    length = body_framing(head)
    chunked_in = bool(head.get_all("transfer-encoding"))
    fields = _end_to_end(head, RESPONSE_OWN)
    if req.server.settings.http.cross_origin:
        fields = [(name, value) for name, value in fields
                  if not name.lower().startswith("access-control-")]
    with_body = req.command != "HEAD" and status not in (204, 304)
    if status == 304 and length is not None:
        fields.append(("Content-Length", str(length)))
    if not with_body:
        return StreamResponse((), status, None, fields, length=length,
                              on_close=sock.close)
    return StreamResponse(_target_body(rfile, length, chunked_in), status,
                          None, fields, length=length, on_close=sock.close)


def _target_body(rfile: BufferedIOBase, length: int | None,
                 chunked: bool) -> Iterator[bytes]:
    """The target's body in blocks: `length` bytes, the chunks, or all
    until the target closes. A body cut short raises HTTPError or
    OSError."""
    if length is None and not chunked:
        yield from iter(lambda: rfile.read1(BLOCK), b"")
        return
    body = Body(rfile, length)
    yield from iter(lambda: body.read(BLOCK), b"")
