"""Byte ranges without sockets (issue 18.7): `byte_ranges` turns a
`Range: bytes=` header into sorted, merged spans (suffix, open and
closed ranges), sends the whole file for what it cannot use (malformed,
stale If-Range, too many ranges), answers 416 when nothing is
satisfiable, and `multipart_ranges` builds the several-span body."""
from __future__ import annotations

import os
import re
import sys
from types import SimpleNamespace
from typing import Any

import pytest

from quick_server.http.file_headers import etag
from quick_server.http.ranges import (MAX_MULTIPART_RANGES, MAX_RANGES,
                                      byte_ranges, multipart_ranges)
from quick_server.http.responses import HTTPError


def stat(size: int) -> Any:
    return SimpleNamespace(st_size=size, st_mtime_ns=1_700_000_000_000)


def spans(header: str | None, size: int = 1000,
          if_range: str | None = None) -> list[tuple[int, int]] | None:
    return byte_ranges(header, if_range, stat(size))


def unsatisfiable(header: str, size: int = 1000) -> HTTPError:
    with pytest.raises(HTTPError) as info:
        spans(header, size)
    assert info.value.code == 416
    return info.value


@pytest.mark.parametrize("header, expected", [
    ("bytes=0-499", [(0, 500)]),
    ("bytes=0-0", [(0, 1)]),
    ("bytes=999-999", [(999, 1000)]),
    ("bytes=500-", [(500, 1000)]),
    ("bytes=0-", [(0, 1000)]),
    ("bytes=-200", [(800, 1000)]),
    ("bytes=-1", [(999, 1000)]),
    ("bytes=-1000", [(0, 1000)]),
    ("bytes=-5000", [(0, 1000)]),  # a suffix longer than the file
    ("bytes=900-5000", [(900, 1000)]),  # an end past the file
    ("bytes=0-" + "9" * 40, [(0, 1000)]),
    ("bytes= 0 - 9 , 20 - 29 ", [(0, 10), (20, 30)]),
    ("bytes=0-1,5000-6000", [(0, 2)]),  # one of two satisfiable
])
def test_single_ranges(header, expected):
    assert spans(header) == expected


@pytest.mark.parametrize("header, expected", [
    ("bytes=500-599,0-99", [(0, 100), (500, 600)]),  # sorted
    ("bytes=0-10,5-20", [(0, 21)]),  # overlapping
    ("bytes=0-9,10-19", [(0, 20)]),  # adjacent
    ("bytes=0-,0-,0-", [(0, 1000)]),
    ("bytes=100-200,150-160,-900", [(100, 1000)]),
    ("bytes=0-0,2-2,4-4", [(0, 1), (2, 3), (4, 5)]),
    ("bytes=-100,0-99", [(0, 100), (900, 1000)]),
])
def test_several_ranges_are_sorted_and_merged(header, expected):
    assert spans(header) == expected


def test_merged_spans_never_add_up_to_more_than_the_file():
    """Overlapping ranges cannot make an answer bigger than the file."""
    header = "bytes=" + ",".join(["0-"] * MAX_RANGES)
    assert spans(header) == [(0, 1000)]


@pytest.mark.parametrize("header", [
    None, "", "bytes", "bytes=", "bytes=,", "bytes=0-1,", "bytes=,0-1",
    "items=0-1", "Bytes=0-1", "bytes =0-1", " bytes=0-1",
    "bytes=abc", "bytes=1", "bytes=-", "bytes=--1", "bytes=1-2-3",
    "bytes=0x10-20", "bytes=+1-2", "bytes=1-+2", "bytes=1.5-2",
    "bytes=5-1",  # last before first: the whole header is invalid
    "bytes=0-1,5-1",
    "bytes=0-1;2-3",
])
def test_a_header_that_is_not_a_byte_range_set_sends_the_whole_file(header):
    assert spans(header) is None


@pytest.mark.parametrize("header", [
    "bytes=\xb2-",  # "²": a latin-1 byte that str.isdigit() accepts
    "bytes=0-\xb3",
    "bytes=-\xb9",
])
def test_non_ascii_digits_are_malformed_not_a_crash(header):
    assert spans(header) is None


INT_DIGITS = getattr(sys, "get_int_max_str_digits", lambda: 0)()


@pytest.mark.skipif(not 0 < INT_DIGITS < 8000,
                    reason="this Python converts numbers of any length")
def test_absurdly_long_numbers_are_not_a_crash():
    """A start past any file is unsatisfiable (416); ignoring the header
    (the whole file) is safe too."""
    header = "bytes=" + "9" * (INT_DIGITS + 1) + "-"
    try:
        assert spans(header) is None
    except HTTPError as err:
        assert err.code == 416


def test_a_long_start_is_unsatisfiable_a_long_end_is_the_size():
    """However many digits (more than int() converts), a start past the
    file is a 416, an end past it is the last byte, and leading zeros are
    only zeros."""
    long = "9" * 5000
    assert unsatisfiable("bytes=" + long + "-").code == 416
    assert unsatisfiable(f"bytes={long}-{long}").code == 416
    assert spans(f"bytes=10-{long}") == [(10, 1000)]
    assert spans(f"bytes=-{long}") == [(0, 1000)]
    assert spans("bytes=" + "0" * 5000 + "5-" + "0" * 5000 + "9") == \
        [(5, 10)]
    assert spans(f"bytes={long}-5") is None  # last before first: ignored


def test_too_many_ranges_send_the_whole_file():
    allowed = "bytes=" + ",".join(f"{i * 10}-{i * 10}"
                                  for i in range(MAX_RANGES))
    assert len(spans(allowed)) == MAX_RANGES  # type: ignore[arg-type]
    too_many = "bytes=" + ",".join(f"{i * 10}-{i * 10}"
                                   for i in range(MAX_RANGES + 1))
    assert spans(too_many) is None
    assert spans("bytes=" + ",".join(["0-0"] * 10000)) is None


@pytest.mark.parametrize("header, size", [
    ("bytes=1000-", 1000), ("bytes=1000-2000", 1000),
    ("bytes=5000-6000,1000-", 1000), ("bytes=-0", 1000),
    ("bytes=0-", 0), ("bytes=-5", 0), ("bytes=0-0", 0),
])
def test_nothing_satisfiable_is_a_416_with_the_size(header, size):
    err = unsatisfiable(header, size)
    assert err.headers == [("Content-Range", f"bytes */{size}")]


def test_if_range_with_the_current_etag_keeps_the_ranges():
    tag = etag(stat(1000))
    assert spans("bytes=0-9", if_range=tag) == [(0, 10)]
    assert spans("bytes=0-9", if_range=f"  {tag} ") == [(0, 10)]


@pytest.mark.parametrize("if_range", [
    '"stale"', "W/" + etag(stat(1000)), "", "Thu, 01 Jan 1970 00:00:00 GMT",
])
def test_a_stale_or_weak_if_range_sends_the_whole_file(if_range):
    assert spans("bytes=0-9", if_range=if_range) is None
    # and is checked before the ranges: no 416 for a changed file
    assert spans("bytes=5000-", if_range=if_range) is None


# -- multipart/byteranges --------------------------------------------------

def parts_of(ctype: str, body: bytes) -> list[tuple[str, bytes]]:
    boundary = re.fullmatch(r"multipart/byteranges; boundary=(\w+)",
                            ctype).group(1)  # type: ignore[union-attr]
    assert body.endswith(f"--{boundary}--\r\n".encode())
    res = []
    for chunk in body.split(f"--{boundary}".encode())[1:-1]:
        head, _, data = chunk[2:].partition(b"\r\n\r\n")
        assert data.endswith(b"\r\n")
        res.append((head.decode(), data[:-2]))
    return res


def test_multipart_ranges_from_bytes():
    content = bytes(range(256)) * 4
    ctype, body = multipart_ranges([(0, 3), (1000, 1024)], content, 1024,
                                   "text/plain; charset=utf-8")
    assert parts_of(ctype, body) == [
        ("Content-Type: text/plain; charset=utf-8\r\n"
         "Content-Range: bytes 0-2/1024", content[:3]),
        ("Content-Type: text/plain; charset=utf-8\r\n"
         "Content-Range: bytes 1000-1023/1024", content[1000:]),
    ]


def test_multipart_ranges_from_a_file_descriptor(tmp_path):
    path = tmp_path / "data.bin"
    content = os.urandom(5000)
    path.write_bytes(content)
    fd = os.open(path, os.O_RDONLY)
    try:
        ctype, body = multipart_ranges([(10, 20), (4990, 5000)], fd, 5000,
                                       "application/octet-stream")
    finally:
        os.close(fd)
    assert [data for _, data in parts_of(ctype, body)] == \
        [content[10:20], content[4990:]]


def test_boundaries_differ_and_never_occur_in_the_data():
    content = b"x" * 100
    first = multipart_ranges([(0, 1), (5, 6)], content, 100, "a/b")
    second = multipart_ranges([(0, 1), (5, 6)], content, 100, "a/b")
    assert first is not None and second is not None
    assert first[0] != second[0]


def test_too_many_bytes_for_one_multipart_answer_is_none():
    size = MAX_MULTIPART_RANGES * 2
    assert multipart_ranges([(0, MAX_MULTIPART_RANGES // 2),
                             (MAX_MULTIPART_RANGES, size)], 0, size,
                            "a/b") is None
