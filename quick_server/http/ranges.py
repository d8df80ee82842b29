"""Range requests of a file answer: the byte spans a `Range: bytes=`
header asks for (206, or 416 when none can be served) and the
`multipart/byteranges` body of several spans."""
from __future__ import annotations

import os
import re

from .file_headers import etag
from .responses import HTTPError


MAX_RANGES = 16
# one range-spec: ASCII digits only (str.isdigit() accepts "²" and the like)
_SPEC = re.compile(r"[ \t]*([0-9]+)?[ \t]*-[ \t]*([0-9]+)?[ \t]*")
_MAX_DIGITS = 30  # past any file size; int() of a longer run is refused


def _offset(digits: str, size: int) -> int:
    """A byte position as asked, where a number too long to be an offset
    counts as just past `size` (never converted: int() refuses a string
    over sys.get_int_max_str_digits())."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= _MAX_DIGITS else size + 1


def byte_ranges(header: str | None, if_range: str | None,
                st: os.stat_result) -> list[tuple[int, int]] | None:
    """The (start, end exclusive) spans of a `Range: bytes=` request,
    sorted, overlapping or adjacent ones merged; `None` to send the whole
    file (no or malformed header, stale If-Range, too many ranges). None
    satisfiable is a 416."""
    size = st.st_size
    if header is None or not header.startswith("bytes="):
        return None
    if if_range is not None and if_range.strip() != etag(st):
        return None
    specs = header[6:].split(",")
    if len(specs) > MAX_RANGES:
        return None
    spans = []
    for spec in specs:
        match = _SPEC.fullmatch(spec)
        if match is None:
            return None
        first, last = match.groups()
        if first is None:  # the last N bytes
            if last is None:
                return None
            count = _offset(last, size)
            if count > 0 and size > 0:
                spans.append((max(0, size - count), size))
            continue
        start = _offset(first, size)
        if last is not None and _offset(last, size) < start:
            return None  # invalid: the whole header is ignored
        end = min(_offset(last, size) + 1, size) if last is not None \
            else size
        if start < size:
            spans.append((start, end))
    if not spans:
        raise _unsatisfiable(size)
    spans.sort()
    merged = [spans[0]]
    for start, end in spans[1:]:
        if start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


MAX_MULTIPART_RANGES = 1 << 20  # bytes assembled in memory for one answer


def multipart_ranges(spans: list[tuple[int, int]], content: bytes | int,
                     size: int, ctype: str) -> tuple[str, bytes] | None:
    """The Content-Type and body of a `multipart/byteranges` answer from
    a file's bytes or descriptor; None when the ranges add up to more than
    `MAX_MULTIPART_RANGES` bytes."""
    if sum(end - start for start, end in spans) > MAX_MULTIPART_RANGES:
        return None
    import secrets  # loaded on first use
    boundary = secrets.token_hex(12)
    parts = []
    for start, end in spans:
        data = content[start:end] if isinstance(content, bytes) \
            else os.pread(content, end - start, start)
        parts.append(f"--{boundary}\r\nContent-Type: {ctype}\r\n"
                     f"Content-Range: bytes {start}-{end - 1}/{size}\r\n"
                     f"\r\n".encode("latin-1") + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode("latin-1"))
    return f"multipart/byteranges; boundary={boundary}", b"".join(parts)


def _unsatisfiable(size: int) -> HTTPError:
    return HTTPError(416, headers=[("Content-Range", f"bytes */{size}")])
