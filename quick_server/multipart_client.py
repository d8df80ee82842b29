"""`send_files`: text and files in, a file out, from Python. A
multipart/form-data POST whose files are streamed from disk (never read
whole into memory), and whose answer may be streamed into a folder under
the name the server gives it. Errors, timeouts and retries follow
`client.post`, the rule of `rpc_call`."""
from __future__ import annotations

import http.client
import mimetypes
import os
import secrets
import ssl
from dataclasses import dataclass
from email.message import Message
from email.utils import collapse_rfc2231_value
from typing import IO, Any, Iterator, Mapping, Union
from urllib.parse import unquote, urlsplit

from .client import post, transport_error
from .http.files import safe_filename

BLOCK = 1 << 16  # bytes read from a file (or the answer) at a time
MAX_SUFFIX = 1000  # name-1.ext ... name-1000.ext, then FileExistsError

FileSpec = Union[str, "os.PathLike[str]", tuple[str, IO[bytes]],
                 tuple[str, IO[bytes], str]]


@dataclass
class FilesAnswer:
    """What `send_files` got back: the `status`, the `headers` (looked up
    without regard to case), and the body: `content` (bytes) or, with
    `save_to`, `path` (where it was saved; `content` is then None)."""
    status: int
    headers: http.client.HTTPMessage
    content: bytes | None
    path: str | None = None


def send_files(url: str, data: Mapping[str, Any] | None = None,
               files: Mapping[str, FileSpec] | None = None, *,
               save_to: str | os.PathLike[str] | None = None,
               timeout: float = 10.0,
               headers: Mapping[str, str] | None = None,
               context: ssl.SSLContext | None = None) -> FilesAnswer:
    """POSTs form fields `data` (str, bytes or numbers) and `files` (a
    field -> a path, or a `(filename, binary file object)`, optionally
    with a content type as a third item) to `url` as multipart/form-data,
    as a browser's form would. Files are streamed from where they are.

    With `save_to` (an existing folder) the answer's body is streamed
    into a new file there, named by its `Content-Disposition` (else by
    the URL's last segment), any folder part stripped, never replacing a
    file (`name-1.ext`, ...). `timeout`, `headers` and `context` (for
    HTTPS) mean what they mean for `rpc_call`; so do the errors: an error
    status, no answer or a timeout is an `RpcError`. A bad argument is a
    ValueError or TypeError, a missing file an OSError, before anything
    is sent."""
    folder = None if save_to is None else os.fspath(save_to)
    if folder is not None and not os.path.isdir(folder):
        raise NotADirectoryError(f"save_to is not a folder: {folder!r}")
    content_type, body = multipart_body(data, files)
    sent = {key: value for key, value in (headers or {}).items()
            if key.lower() not in ("content-type", "content-length",
                                   "transfer-encoding")}
    sent["Content-Type"] = content_type
    if body.size is not None:
        sent["Content-Length"] = str(body.size)
    answer = post(url, body.chunks, sent, timeout=timeout,
                  retries=2 if body.repeatable else 0, context=context)
    with answer:
        if folder is None:
            try:
                content = answer.read()
            except (OSError, http.client.HTTPException) as err:
                raise transport_error(url, err, timeout) from None
            return FilesAnswer(answer.status, answer.headers, content)
        path = _save(answer, folder, url, timeout)
        return FilesAnswer(answer.status, answer.headers, None, path)


# -- the request body --------------------------------------------------------

def multipart_body(data: Mapping[str, Any] | None,
                   files: Mapping[str, FileSpec] | None
                   ) -> tuple[str, _Body]:
    """The Content-Type and the body of a multipart/form-data request
    with fields `data` and `files` (as `send_files` takes them)."""
    boundary = "quick-server-" + secrets.token_hex(16)
    parts: list[tuple[bytes, bytes] | _FilePart] = [
        _field_part(name, value) for name, value in (data or {}).items()]
    parts += [_FilePart(name, spec) for name, spec in (files or {}).items()]
    return f"multipart/form-data; boundary={boundary}", _Body(boundary, parts)


def header_quoted(value: str) -> str:
    """`value` for a quoted parameter of a part's head (`name="..."`):
    as browsers send it (WHATWG), `"` CR LF as %22 %0D %0A; every other
    control character and the backslash percent-encoded as well, so that
    no value ends the parameter, the line or the head."""
    return "".join(f"%{ord(ch):02X}" if ch in '"\\\x7f' or ch < " " else ch
                   for ch in value)


def _disposition(name: str, filename: str | None = None) -> str:
    value = f'Content-Disposition: form-data; name="{header_quoted(name)}"'
    if filename is not None:
        value += f'; filename="{header_quoted(filename)}"'
    return value


def _field_part(name: str, value: Any) -> tuple[bytes, bytes]:
    """The head and the value of a form field."""
    if isinstance(value, bytes):
        raw = value
    elif isinstance(value, (str, int, float)):
        raw = str(value).encode("utf-8", "surrogatepass")
    else:
        raise TypeError(f"form field {name!r}: a str, bytes or number was "
                        f"expected, got {type(value).__name__}")
    head = f"{_disposition(_text(name, 'field name'))}\r\n\r\n"
    return head.encode("utf-8"), raw


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}")
    return value.encode("utf-8", "replace").decode("utf-8")


class _FilePart:
    """A file to send: its head, and its bytes read block by block from
    its path (opened when sent) or from its file object (from where it
    stood when given)."""

    def __init__(self, field: str, spec: FileSpec) -> None:
        self.path: str | None = None
        self.file: IO[bytes] | None = None
        self.start = 0
        self.size: int | None = None
        if isinstance(spec, tuple):
            if len(spec) not in (2, 3):
                raise TypeError(f"file {field!r}: (filename, file object) "
                                f"or (filename, file object, content type) "
                                f"was expected")
            filename, self.file = _text(spec[0], "filename"), spec[1]
            if not isinstance(self.file.read(0), bytes):
                raise TypeError(f"file {field!r}: open it in binary mode "
                                f"('rb')")
            self.size = self._measure(self.file)
        else:
            self.path = os.fspath(spec)
            filename = os.path.basename(self.path)
            with open(self.path, "rb") as handle:  # an OSError now, if any
                self.size = os.fstat(handle.fileno()).st_size
        ctype = spec[2] if isinstance(spec, tuple) and len(spec) == 3 \
            else mimetypes.guess_type(filename)[0]
        ctype = _text(ctype or "application/octet-stream", "content type")
        if any(ch < " " or ch == "\x7f" for ch in ctype):
            raise ValueError(f"file {field!r}: control character in the "
                             f"content type {ctype!r}")
        self.head = (f"{_disposition(_text(field, 'field name'), filename)}"
                     f"\r\nContent-Type: {ctype}\r\n\r\n").encode("utf-8")

    def _measure(self, file: IO[bytes]) -> int | None:
        """The bytes left in a seekable file object (None otherwise)."""
        try:
            if not file.seekable():
                return None
            self.start = file.tell()
            size = file.seek(0, os.SEEK_END) - self.start
            file.seek(self.start)
            return size
        except (AttributeError, OSError, ValueError):
            return None

    def blocks(self) -> Iterator[bytes]:
        if self.file is not None:
            if self.size is not None:
                self.file.seek(self.start)
            yield from _read(self.file, self.size)
            return
        assert self.path is not None
        with open(self.path, "rb") as handle:
            yield from _read(handle, self.size)


def _read(file: IO[bytes], size: int | None) -> Iterator[bytes]:
    """`size` bytes of `file` (all of it when None) in blocks; a file that
    shrank meanwhile is a ValueError (the declared length would lie)."""
    left = -1 if size is None else size
    while left:
        block = file.read(BLOCK if left < 0 else min(BLOCK, left))
        if not block:
            if left > 0:
                raise ValueError(f"{getattr(file, 'name', 'a file')} "
                                 f"shrank while it was sent")
            return
        if left > 0:
            left -= len(block)
        yield block


class _Body:
    """The multipart body: its length when every file's is known, and
    its bytes anew for each try."""

    def __init__(self, boundary: str,
                 parts: list[tuple[bytes, bytes] | _FilePart]) -> None:
        self.delimiter = f"--{boundary}\r\n".encode("ascii")
        self.end = f"--{boundary}--\r\n".encode("ascii")
        self.parts = parts
        files = [p for p in parts if isinstance(p, _FilePart)]
        self.repeatable = all(f.file is None or f.size is not None
                              for f in files)
        sizes = [f.size for f in files]
        self.size: int | None = None
        if None not in sizes:
            self.size = len(self.end) + sum(
                len(self.delimiter) + len(p[0]) + len(p[1]) + 2
                if isinstance(p, tuple) else
                len(self.delimiter) + len(p.head) + 2
                for p in parts) + sum(s or 0 for s in sizes)

    def chunks(self) -> Iterator[bytes]:
        for part in self.parts:
            if isinstance(part, tuple):
                yield self.delimiter + part[0] + part[1] + b"\r\n"
                continue
            yield self.delimiter + part.head
            yield from part.blocks()
            yield b"\r\n"
        yield self.end


# -- the answer --------------------------------------------------------------

def answer_filename(message: Message, url: str) -> str:
    """The name to save an answer under: its Content-Disposition's
    `filename*` (RFC 5987) or `filename`, else the URL's last segment,
    made safe (no folder part, no control characters, never `..`)."""
    params = message.get_params(header="content-disposition") or []
    names = [value for key, value in params[1:] if key.lower() == "filename"]
    extended = [value for value in names if isinstance(value, tuple)]
    chosen = extended[0] if extended else names[0] if names else None
    if chosen is None:
        name = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    elif isinstance(chosen, tuple):  # RFC 2231: (charset, language, text)
        name = collapse_rfc2231_value(chosen)
    else:
        name = chosen
    return safe_filename(name)


def _save(answer: http.client.HTTPResponse, folder: str, url: str,
          timeout: float) -> str:
    """Streams the answer's body into a new file in `folder`; a partial
    file is removed."""
    path, out = _new_file(folder, answer_filename(answer.headers, url))
    try:
        with out:
            while True:
                try:
                    block = answer.read(BLOCK)
                except (OSError, http.client.HTTPException) as err:
                    raise transport_error(url, err, timeout) from None
                if not block:
                    return path
                out.write(block)
    except BaseException:
        os.remove(path)
        raise


def _new_file(folder: str, name: str) -> tuple[str, IO[bytes]]:
    """`folder/name`, or `name-1`, `name-2`, ... before the extension:
    the first that does not exist, created (never a file replaced, never
    a link followed)."""
    stem, ext = os.path.splitext(name)
    for count in range(MAX_SUFFIX + 1):
        candidate = name if count == 0 else f"{stem}-{count}{ext}"
        path = os.path.join(folder, candidate)
        try:  # "x": created here, or FileExistsError (a link included)
            return path, open(path, "xb")  # pylint: disable=R1732
        except FileExistsError:
            continue
    raise FileExistsError(f"{os.path.join(folder, name)} and "
                          f"{MAX_SUFFIX} numbered names exist")
