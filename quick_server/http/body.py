"""Request arguments: the query string, the JSON / urlencoded body and a
streaming multipart/form-data parser (the `cgi` module is gone in 3.13).

Every parse error is an `HTTPError(400)`; sizes are enforced while
reading, so an oversized upload is refused without being buffered."""
from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol
from urllib.parse import unquote, unquote_plus

from .responses import HTTPError

if TYPE_CHECKING:
    from email.message import Message

MAX_JSON_DEPTH = 100
# RFC 2046 5.1.1: 1 to 70 of these characters, the last not a space
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,./:=? -]{0,69}[0-9A-Za-z'()+_,./:=?-]")


class Readable(Protocol):
    """What the parsers need of a request body."""

    def read(self, size: int = -1) -> bytes: ...


def parse_query(query: str) -> dict[str, Any]:
    """`a=1&flag&b=x+y` -> `{"a": "1", "flag": True, "b": "x y"}`; a field
    given several times keeps its last value."""
    res: dict[str, Any] = {}
    for section in query.split("&"):
        if not section:
            continue
        name, sep, value = section.partition("=")
        res[unquote_plus(name)] = unquote_plus(value) if sep else True
    return res


def split_target(target: str) -> tuple[str, str, str]:
    """Request target -> (raw path, query, unquoted fragment)."""
    rest, _, fragment = target.partition("#")
    path, _, query = rest.partition("?")
    return path, query, unquote(fragment)


def header_params(value: str) -> tuple[str, dict[str, str]]:
    """`multipart/form-data; boundary=x` -> ("multipart/form-data",
    {"boundary": "x"}), with RFC 2231 and quoted values handled."""
    from email.message import Message  # loaded on first use
    message = Message()
    message["content-type"] = value
    params = message.get_params() or []
    main = params[0][0].lower() if params else ""
    res: dict[str, str] = {}
    for key, val in params[1:]:
        res[key.lower()] = _param_text(val)
    return main, res


def _param_text(value: Any) -> str:
    if isinstance(value, tuple):  # RFC 2231: (charset, language, text)
        from email.utils import collapse_rfc2231_value  # loaded on first use
        return collapse_rfc2231_value(value)  # decoded with its charset
    return str(value)


# brackets as "(" and ")", and quotes: what the depth of JSON depends on
_SKELETON = bytes.maketrans(b"[{]}", b"(())")
_NOT_SKELETON = bytes(set(range(256)) - set(b'"[]{}'))
_RUNS = re.compile(rb"\(+|\)+")
MAX_PASSES = 8  # then at most one run of brackets per 8 containers is left


def json_depth(data: bytes) -> int:
    """How deeply the JSON text `data` nests (brackets in strings do not
    count), at C speed: escapes and strings are cut out with `replace`
    and `split`; each `replace(b"()", b"")` pass removes the innermost
    level; the few long runs of brackets left are summed in Python. For
    text that is not JSON, at least the depth a parser would reach."""
    # a backslash escapes one byte: escaped backslashes go first, then
    # escaped quotes (UTF-8 hides no ASCII byte in a multi-byte character)
    plain = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    # a string without brackets becomes "": gone (removing two adjacent
    # quotes leaves every other byte inside or outside a string as it was)
    skeleton = plain.translate(_SKELETON, _NOT_SKELETON).replace(b'""', b"")
    if b'"' in skeleton:  # strings holding brackets: keep what is outside
        skeleton = b"".join(skeleton.split(b'"')[::2])
    passes = 0
    while skeleton and passes < MAX_PASSES:
        inner = skeleton.replace(b"()", b"")
        removed = len(skeleton) - len(inner)
        if removed == 0:
            break
        skeleton, passes = inner, passes + 1
        if removed * 16 < len(skeleton):  # few leaves left: sum the runs
            break
    depth = deepest = 0
    for run in _RUNS.findall(skeleton):
        depth += len(run) if run[0] == 40 else -len(run)  # 40: "("
        deepest = max(deepest, depth)
    return passes + deepest


def decode_json(data: bytes) -> Any:
    """UTF-8 JSON text -> its value: the one JSON rule of request bodies
    and of the clients' answers. ValueError when it is not UTF-8
    (UnicodeDecodeError), malformed (JSONDecodeError) or nested more
    than `MAX_JSON_DEPTH` deep, so that no code that walks the value runs
    out of stack (RecursionError) on hostile input."""
    text = data.decode("utf-8")
    if data.count(b"[") + data.count(b"{") > MAX_JSON_DEPTH and \
            json_depth(data) > MAX_JSON_DEPTH:
        raise ValueError("JSON nested too deeply")
    try:
        return json.loads(text)
    except RecursionError:  # a parser with a smaller stack than ours
        raise ValueError("JSON nested too deeply") from None


def parse_json(data: bytes) -> Any:
    """Decodes a JSON body; malformed or absurdly deep input is a 400."""
    try:
        return decode_json(data)
    except UnicodeDecodeError as exc:
        raise HTTPError(400, "Body is not UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise HTTPError(400, f"Malformed JSON: {exc}") from None
    except ValueError as exc:
        raise HTTPError(400, str(exc)) from None


class UploadedFile:
    """One uploaded file: `filename`, `content_type`, `size`, and a
    binary `file` positioned at its start (on disk past a threshold)."""

    def __init__(self, field: str, filename: str, content_type: str,
                 spool_threshold: int) -> None:
        self.field = field
        self.filename = filename
        self.content_type = content_type
        self.size = 0
        import tempfile  # loaded on first use
        self.file: BinaryIO = tempfile.SpooledTemporaryFile(  # type: ignore
            max_size=spool_threshold)

    @property
    def name(self) -> str:
        return self.filename

    @property
    def content(self) -> bytes:
        """The whole file; prefer `file` for large uploads."""
        pos = self.file.tell()
        self.file.seek(0)
        data = self.file.read()
        self.file.seek(pos)
        return data

    def read(self, size: int = -1) -> bytes:
        return self.file.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.file.seek(offset, whence)

    def save(self, path: str) -> None:
        """Copies the upload to `path`."""
        self.file.seek(0)
        with open(path, "wb") as out:
            import shutil  # loaded on first use
            shutil.copyfileobj(self.file, out)
        self.file.seek(0)

    def close(self) -> None:
        self.file.close()

    def __repr__(self) -> str:
        return f"UploadedFile({self.field!r}, {self.filename!r}, {self.size})"


class MultipartParser:
    """Streams a multipart/form-data body into fields and `UploadedFile`s.

    Reads the body in blocks and never holds more than a block plus a
    boundary in memory, apart from plain fields (each at most
    `max_field_size`)."""

    BLOCK = 1 << 16
    MAX_PART_HEADER = 16384
    MAX_PARTS = 1000

    def __init__(self, body: Readable, boundary: str, *,
                 max_field_size: int = 1 << 20,
                 max_file_size: int | None = None,
                 spool_threshold: int = 1 << 20) -> None:
        if not _BOUNDARY.fullmatch(boundary):
            raise HTTPError(400, "Missing or invalid multipart boundary "
                                 "(RFC 2046: 1 to 70 characters)")
        self._body = body
        self._delim = b"\r\n--" + boundary.encode("ascii")
        self._buf = b""
        self._eof = False
        self._max_field = max_field_size
        self._max_file = max_file_size
        self._spool = spool_threshold

    def _fill(self) -> bool:
        if self._eof:
            return False
        data = self._body.read(self.BLOCK)
        if not data:
            self._eof = True
            return False
        self._buf += data
        return True

    def _truncated(self) -> HTTPError:
        return HTTPError(400, "Truncated multipart body")

    def parse(self) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        fields: dict[str, Any] = {}
        files: dict[str, UploadedFile] = {}
        try:
            self._skip_preamble()
            count = 0
            while not self._after_delimiter():  # the closing one ends it
                if count == self.MAX_PARTS:
                    raise HTTPError(400, "Too many multipart parts")
                self._read_part(fields, files)
                count += 1
            return fields, files
        except BaseException:
            for upload in files.values():
                upload.close()
            raise

    def _skip_preamble(self) -> None:
        # the first delimiter may come without its leading CRLF
        self._buf = b"\r\n"
        while True:
            pos = self._buf.find(self._delim)
            if pos >= 0:
                self._buf = self._buf[pos + len(self._delim):]
                return
            self._buf = self._buf[-len(self._delim):]
            if not self._fill():
                raise HTTPError(400, "Multipart boundary not found")

    def _after_delimiter(self) -> bool:
        """True at the closing delimiter; skips the line after a normal
        one."""
        while len(self._buf) < 2 and self._fill():
            pass
        if self._buf.startswith(b"--"):
            return True
        while b"\r\n" not in self._buf[:256]:
            if len(self._buf) > 256 or not self._fill():
                raise self._truncated()
        line, _, self._buf = self._buf.partition(b"\r\n")
        if line.strip(b" \t"):
            raise HTTPError(400, "Malformed multipart delimiter")
        return False

    def _part_headers(self) -> Message:
        """A part's headers, at most MAX_PART_HEADER bytes however the
        network split them."""
        while True:
            end = self._buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if self._buf.startswith(b"\r\n"):  # part without headers
                end = -2
                break
            if len(self._buf) >= self.MAX_PART_HEADER + 4:
                break  # an end within the limit would have been found
            if not self._fill():
                raise self._truncated()
        if end == -1 or end > self.MAX_PART_HEADER:
            raise HTTPError(400, f"Multipart part headers longer than "
                                 f"{self.MAX_PART_HEADER} bytes")
        raw = self._buf[:max(end, 0)]
        self._buf = self._buf[end + 4:]
        from email.message import Message  # loaded on first use
        message = Message()
        for line in raw.split(b"\r\n"):
            name, sep, value = line.decode("utf-8", "replace").partition(":")
            if not sep:
                raise HTTPError(400, "Malformed multipart part header")
            message[name.strip()] = value.strip()
        return message

    def _read_part(self, fields: dict[str, Any],
                   files: dict[str, UploadedFile]) -> None:
        headers = self._part_headers()
        disposition = headers.get("content-disposition", "")
        kind, params = header_params(disposition)
        if kind != "form-data" or "name" not in params:
            raise HTTPError(400, "Multipart part without a form-data name")
        name = params["name"]
        if "filename" in params:
            upload = UploadedFile(name, params["filename"],
                                  headers.get("content-type",
                                              "application/octet-stream"),
                                  self._spool)
            replaced = files.pop(name, None)
            if replaced is not None:
                replaced.close()  # a repeated field name: the last wins
            files[name] = upload
            for block in self._part_data():
                upload.size += len(block)
                if self._max_file is not None and upload.size > self._max_file:
                    raise HTTPError(413, f"Uploaded file {name!r} is larger "
                                         f"than {self._max_file} bytes",
                                    close=True)
                upload.file.write(block)
            upload.file.seek(0)
            return
        value = bytearray()
        for block in self._part_data():
            value += block
            if len(value) > self._max_field:
                raise HTTPError(413, f"Form field {name!r} too large")
        fields[name] = value.decode("utf-8", "replace")

    def _part_data(self) -> Any:
        """Yields the part's bytes up to the next delimiter."""
        keep = len(self._delim)
        while True:
            pos = self._buf.find(self._delim)
            if pos >= 0:
                data = self._buf[:pos]
                self._buf = self._buf[pos + keep:]
                if data:
                    yield data
                return
            if len(self._buf) > keep:
                data = self._buf[:-keep]
                self._buf = self._buf[-keep:]
                yield data
            if not self._fill():
                raise self._truncated()


def parse_body(body: Readable, ctype_header: str, *,
               max_field_size: int, spool_threshold: int,
               max_file_size: int | None = None
               ) -> tuple[Any, dict[str, UploadedFile]]:
    """The `post` and `files` arguments of a request from its body."""
    ctype, params = header_params(ctype_header) if ctype_header else ("", {})
    if ctype.startswith("multipart/"):
        if ctype != "multipart/form-data" or "boundary" not in params:
            raise HTTPError(400, "multipart/form-data without boundary=")
        return MultipartParser(body, params["boundary"],
                               max_field_size=max_field_size,
                               max_file_size=max_file_size,
                               spool_threshold=spool_threshold).parse()
    data = body.read()
    if ctype == "application/x-www-form-urlencoded":
        try:
            return parse_query(data.decode("utf-8")), {}
        except UnicodeDecodeError as exc:
            raise HTTPError(400, "Form body is not UTF-8") from exc
    if not data.strip():
        return {}, {}
    if ctype in ("application/json", "") or ctype.endswith("+json"):
        return parse_json(data), {}
    if ctype.startswith("text/"):
        return data.decode("utf-8", "replace"), {}
    return data, {}
