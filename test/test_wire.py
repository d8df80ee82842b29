"""HTTP/1.1 framing without sockets (issue 18.7): `split_head` on bytes
(request line and header limits, folding, Host, the head deadline),
`body_length` (Content-Length and Transfer-Encoding, strictly), and the
`Body` reader (lengths, chunks, extensions, trailers, limits, Expect's
hook, drain). A request that could be read two ways is refused and the
connection closed: no smuggling."""
from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import Any

import pytest

from quick_server.http.responses import HTTPError
from quick_server.http.wire import (Body, ClientDisconnected, Headers,
                                    RequestHead, body_length, split_head)


@dataclass
class Limits:
    max_line: int = 200
    max_header_bytes: int = 1000
    max_headers: int = 10
    head_timeout: float = 60.0


def stream(data: bytes) -> io.BufferedReader:
    return io.BufferedReader(io.BytesIO(data))  # type: ignore[arg-type]


def head(data: bytes, **limits: Any) -> RequestHead | None:
    """The head of `data`, all the client sent before ending its input."""
    found = split_head(data, Limits(**limits), ended=True)
    return None if found is None else found[0]


def refused(data: bytes, **limits: Any) -> HTTPError:
    with pytest.raises(HTTPError) as info:
        head(data, **limits)
    assert info.value.close, "a bad head must end the connection"
    return info.value


GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


# -- the request line -------------------------------------------------------

def test_a_plain_head():
    data = b"POST /a/b?c=d HTTP/1.1\r\nHost: example\r\n" \
        b"X-One: 1\r\nx-one: 2\r\nContent-Length: 3\r\n\r\nabc"
    found = split_head(data, Limits())
    assert found is not None
    parsed, length = found
    assert (parsed.method, parsed.target, parsed.version) == \
        ("POST", "/a/b?c=d", "HTTP/1.1")
    assert parsed.headers.get_all("X-ONE") == ["1", "2"]
    assert parsed.headers["x-one"] == "1"
    assert data[length:] == b"abc", "the head ends where the body begins"


def test_an_incomplete_head_waits_for_more_bytes():
    for part in (b"", b"GET / HT", b"GET / HTTP/1.1\r\nHost: x\r\n"):
        assert split_head(part, Limits()) is None
    with pytest.raises(HTTPError) as info:  # no need to wait for the rest
        split_head(b"GET /" + b"a" * 300, Limits())
    assert info.value.code == 414
    with pytest.raises(HTTPError) as info:
        split_head(b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 300, Limits())
    assert info.value.code == 431


def test_nothing_sent_is_none_and_one_stray_crlf_is_skipped():
    assert head(b"") is None
    assert head(b"\r\n" + GET).method == "GET"  # type: ignore[union-attr]
    assert head(b"\n" + GET).method == "GET"  # type: ignore[union-attr]
    assert refused(b"\r\n\r\n" + GET).code == 400


@pytest.mark.parametrize("line", [
    b"GET  / HTTP/1.1",  # two spaces
    b"GET / HTTP/1.1 ",  # a trailing space
    b"GET /a b HTTP/1.1",  # a space in the target
    b"GET /a\tb HTTP/1.1",
    b"GET /a\x00b HTTP/1.1",
    b"GET /a\x7fb HTTP/1.1",
    b"GET /a\rb HTTP/1.1",
    b"G(ET / HTTP/1.1",  # not a token
    b"GET\x00 / HTTP/1.1",
    b" GET / HTTP/1.1",
    b"GET /",  # HTTP/0.9
    b"GET",
    b"/ HTTP/1.1",
    b"GET / HTTP/1.10",
    b"GET / http/1.1",
    b"GET / HTTP/1",
    b"GET / HTTP/1.1.1",
    b"GET / HTTPS/1.1",
])
def test_a_malformed_request_line_is_a_400(line):
    err = refused(line + b"\r\nHost: x\r\n\r\n")
    assert err.code == 400
    assert err.request_line == line.decode("latin-1")


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/0.9", b"HTTP/3.0"])
def test_another_major_version_is_a_505(version):
    assert refused(b"GET / " + version + b"\r\nHost: x\r\n\r\n").code == 505


def test_http_1_0_needs_no_host():
    parsed = head(b"GET / HTTP/1.0\r\n\r\n")
    assert parsed is not None and parsed.version == "HTTP/1.0"


def test_request_line_length_limit_is_a_414():
    line = b"GET /" + b"a" * 20 + b" HTTP/1.1\r\n"
    assert head(line + b"Host: x\r\n\r\n", max_line=len(line)) is not None
    err = refused(line + b"Host: x\r\n\r\n", max_line=len(line) - 1)
    assert err.code == 414
    assert err.request_line == ""  # nothing of an endless line is kept


def test_the_request_line_kept_for_the_log_is_cut():
    err = refused(b"GET /" + b"x" * 500 + b" HTTP/9.9\r\n\r\n", max_line=1000)
    assert err.code == 505 and len(err.request_line) == 200


def test_a_request_line_cut_short_is_a_408():
    assert refused(b"GET / HTTP/1.1").code == 408
    assert refused(b"\r\nGET / HT").code == 408


# -- the headers ------------------------------------------------------------

def test_header_line_length_limit_is_a_431():
    line = b"X: " + b"v" * 40 + b"\r\n"
    req = b"GET / HTTP/1.1\r\nHost: x\r\n" + line + b"\r\n"
    assert head(req, max_line=len(line)) is not None
    assert refused(req, max_line=len(line) - 1).code == 431


def test_header_count_limit_is_a_431():
    def request(count: int) -> bytes:
        return b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(
            b"X-%d: v\r\n" % i for i in range(count - 1)) + b"\r\n"
    assert len(head(request(5), max_headers=5).headers) == 5  # type: ignore
    assert refused(request(6), max_headers=5).code == 431


def test_header_bytes_limit_is_a_431():
    lines = [b"Host: x\r\n"] + [b"X-%d: %s\r\n" % (i, b"v" * 30)
                                for i in range(5)]
    total = sum(map(len, lines))
    req = b"GET / HTTP/1.1\r\n" + b"".join(lines) + b"\r\n"
    assert head(req, max_header_bytes=total) is not None
    assert refused(req, max_header_bytes=total - 1).code == 431


@pytest.mark.parametrize("lines", [
    b"X-A: 1\r\n folded\r\n",  # obsolete line folding (RFC 9112 5.2)
    b"X-A: 1\r\n\tfolded\r\n",
    b" X-A: 1\r\n",
    b"X-A : 1\r\n",  # whitespace before the colon (RFC 9112 5.1)
    b"X-A\t: 1\r\n",
    b": no name\r\n",
    b"no colon\r\n",
    b"X(A): 1\r\n",
    b"X\x00A: 1\r\n",
    b"X-A: a\x00b\r\n",
    b"X-A: a\rb\r\n",  # a bare CR inside a value
])
def test_malformed_header_lines_are_a_400(lines):
    assert refused(b"GET / HTTP/1.1\r\nHost: x\r\n" + lines + b"\r\n"
                   ).code == 400


def test_header_values_are_trimmed_and_read_as_latin_1():
    parsed = head(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: \t a b \t\r\n"
                  b"X-Bytes: caf\xc3\xa9\r\n\r\n")
    assert parsed is not None
    assert parsed.headers["x-a"] == "a b"
    assert parsed.headers["x-bytes"] == "caf\xc3\xa9"  # bytes kept as they are


def test_bare_lf_line_ends_are_read():
    parsed = head(b"GET / HTTP/1.1\nHost: x\nX-A: 1\n\n")
    assert parsed is not None and parsed.headers["x-a"] == "1"


def test_headers_cut_short_are_a_408():
    assert refused(b"GET / HTTP/1.1\r\nHost: x\r\n").code == 408
    assert refused(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1").code == 408


@pytest.mark.parametrize("hosts", [b"", b"Host: a\r\nHost: a\r\n",
                                   b"Host: a\r\nhost: b\r\n"])
def test_http_1_1_needs_exactly_one_host(hosts):
    assert refused(b"GET / HTTP/1.1\r\n" + hosts + b"\r\n").code == 400
    if hosts:
        assert refused(b"GET / HTTP/1.0\r\n" + hosts + b"\r\n").code == 400


def test_a_head_past_its_deadline_is_a_408():
    """A head completed past its deadline (the time its first byte came
    plus `head_timeout`, which the connection layer keeps) is refused."""
    assert split_head(GET, Limits(), deadline=time.monotonic() + 60)
    with pytest.raises(HTTPError) as info:
        split_head(GET, Limits(), deadline=time.monotonic() - 1)
    assert info.value.code == 408 and info.value.close


@pytest.mark.parametrize("version, connection, keep", [
    ("HTTP/1.1", None, True),
    ("HTTP/1.1", "close", False),
    ("HTTP/1.1", "Keep-Alive, CLOSE", False),
    ("HTTP/1.0", None, False),
    ("HTTP/1.0", "keep-alive", True),
    ("HTTP/1.0", "Upgrade , Keep-Alive", True),
])
def test_keep_alive(version, connection, keep):
    pairs = [("Connection", connection)] if connection else []
    assert RequestHead("GET", "/", version, Headers(pairs)).keep_alive is keep


def test_headers_are_case_insensitive_and_keep_repeats_in_order():
    headers = Headers([("A", "1"), ("b", "2"), ("a", "3")])
    assert headers.get("a") == headers["A"] == "1"
    assert headers.get_all("A") == ["1", "3"]
    assert headers.get("missing") is None
    assert headers.get("missing", "d") == "d"
    assert headers["missing"] is None
    assert "B" in headers and "c" not in headers and 3 not in headers
    assert headers.items() == [("A", "1"), ("b", "2"), ("a", "3")]
    assert list(headers) == headers.keys() == ["A", "b", "a"]
    assert len(headers) == 3


# -- body framing -----------------------------------------------------------

def framed(*pairs: tuple[str, str], version: str = "HTTP/1.1") -> int | None:
    return body_length(RequestHead("POST", "/", version,
                                   Headers(list(pairs))))


def test_body_length():
    assert framed() == 0
    assert framed(("Content-Length", "0")) == 0
    assert framed(("Content-Length", "42")) == 42
    assert framed(("Content-Length", "007")) == 7
    assert framed(("Content-Length", "9" * 18)) == int("9" * 18)
    assert framed(("Transfer-Encoding", "chunked")) is None
    assert framed(("transfer-encoding", " Chunked ")) is None


@pytest.mark.parametrize("value", [
    "", "-1", "+1", " 1", "1 ", "1.0", "0x10", "1e3", "1_000", "１",  # wide
    "\u0661",  # ARABIC-INDIC DIGIT ONE
    "9" * 19, "5, 5", "5,5",
])
def test_an_odd_content_length_is_a_400(value):
    with pytest.raises(HTTPError) as info:
        framed(("Content-Length", value))
    assert info.value.code == 400 and info.value.close


def test_two_content_lengths_are_a_400_even_when_equal():
    for second in ("5", "6"):
        with pytest.raises(HTTPError) as info:
            framed(("Content-Length", "5"), ("Content-Length", second))
        assert info.value.code == 400 and info.value.close


@pytest.mark.parametrize("pairs", [
    [("Transfer-Encoding", "chunked"), ("Content-Length", "5")],
    [("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
    [("Transfer-Encoding", "gzip, chunked")],
    [("Transfer-Encoding", "chunked, gzip")],
    [("Transfer-Encoding", "chunked, chunked")],
    [("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")],
    [("Transfer-Encoding", "identity")],
    [("Transfer-Encoding", "")],
    [("Transfer-Encoding", "xchunked")],
    [("Transfer-Encoding", "chunked;q=1")],
])
def test_transfer_encodings_other_than_chunked_alone_are_a_400(pairs):
    with pytest.raises(HTTPError) as info:
        framed(*pairs)
    assert info.value.code == 400 and info.value.close


def test_chunked_needs_http_1_1():
    with pytest.raises(HTTPError) as info:
        framed(("Transfer-Encoding", "chunked"), version="HTTP/1.0")
    assert info.value.code == 400


# -- the body reader: Content-Length --------------------------------------

def test_a_body_is_read_to_its_length_and_never_past_it():
    rfile = stream(b"hello worldGET / HTTP/1.1\r\n")
    body = Body(rfile, 11)
    assert body.read(5) == b"hello"
    assert body.read(100) == b" world"
    assert body.finished and body.consumed == 11
    assert body.read() == b"" and body.read(10) == b""
    assert rfile.read() == b"GET / HTTP/1.1\r\n"


def test_an_empty_body_reads_nothing():
    rfile = stream(b"next")
    body = Body(rfile, 0)
    assert body.finished and body.read() == b"" and body.read(3) == b""
    assert rfile.read() == b"next"


def test_a_body_cut_short_is_a_400():
    body = Body(stream(b"abc"), 10)
    assert body.read(2) == b"ab"
    with pytest.raises(HTTPError) as info:
        body.read()
    assert info.value.code == 400 and info.value.close


def test_reading_zero_bytes_is_empty_not_an_error():
    """read(0) reads nothing, so it does not answer 100-continue either."""
    calls: list[str] = []
    for body in (Body(stream(b"hello"), 5, before_read=lambda: calls.append(
                     "100")),
                 Body(stream(b"5\r\nhello\r\n0\r\n\r\n"), None,
                      before_read=lambda: calls.append("100"))):
        assert body.read(0) == b"" and calls == [] and not body.started
        assert body.read() == b"hello" and calls == ["100"]
        assert body.read(0) == b"" and body.finished
        calls.clear()


def test_a_failing_connection_is_client_disconnected():
    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            raise ConnectionResetError("reset by peer")

    body = Body(io.BufferedReader(Broken()), 10)
    with pytest.raises(ClientDisconnected, match="reset by peer"):
        body.read()


def test_a_limit_refuses_a_body_growing_past_it():
    body = Body(stream(b"x" * 20), 20)
    body.limit = 10
    assert body.read(10) == b"x" * 10
    with pytest.raises(HTTPError) as info:
        body.read(1)
    assert info.value.code == 413 and info.value.close


# -- the body reader: chunked ---------------------------------------------

def chunked(data: bytes) -> tuple[Body, io.BufferedReader]:
    rfile = stream(data)
    return Body(rfile, None), rfile


@pytest.mark.parametrize("data, expected", [
    (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
    (b"0\r\n\r\n", b""),
    (b"a\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
    (b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
    (b"0005\r\nhello\r\n000\r\n\r\n", b"hello"),
    (b"5;name=value\r\nhello\r\n0;last\r\n\r\n", b"hello"),  # extensions
    (b'5 ; q="a;b"\r\nhello\r\n0\r\n\r\n', b"hello"),
    (b"5\nhello\r\n0\n\n", b"hello"),  # bare LF ends a chunk-size line
    (b"5\r\nhello\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n", b"hello"),
])
def test_chunked_bodies(data, expected):
    body, rfile = chunked(data + b"NEXT")
    assert body.read() == expected
    assert body.finished and body.consumed == len(expected)
    assert rfile.read() == b"NEXT", "a chunked body ends at its last chunk"


def test_chunks_read_in_small_pieces():
    body, _ = chunked(b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n")
    pieces = list(iter(lambda: body.read(2), b""))
    assert pieces == [b"ab", b"c", b"de", b"fg"]


@pytest.mark.parametrize("data", [
    b"",  # no chunk at all
    b"\r\n",  # an empty size
    b"x\r\n",
    b"-5\r\nhello\r\n0\r\n\r\n",
    b"+5\r\nhello\r\n0\r\n\r\n",
    b"0x5\r\nhello\r\n0\r\n\r\n",
    b"5 5\r\nhello\r\n0\r\n\r\n",
    b"1" * 16 + b"\r\n",  # more than 15 hex digits
    b"\xd9\xa1\r\nh\r\n0\r\n\r\n",  # a non-ASCII digit
    b";ext\r\n",
    b"5\r\nhelloXY0\r\n\r\n",  # no CRLF after the data
    b"5\r\nhello\n0\r\n\r\n",  # a bare LF after the data
    b"5\r\nhello",  # cut short after the data
    b"5\r\nhel",  # cut short in the data
    b"5",  # cut short in the size line
    b"5\r\nhello\r\n0\r\n",  # no end of the trailer section
    b"5\r\nhello\r\n0\r\nX: 1",
    b"1;" + b"e" * 5000 + b"\r\nx\r\n0\r\n\r\n",  # an endless extension
    b"0\r\n" + b"X: 1\r\n" * 150 + b"\r\n",  # endless trailers
])
def test_bad_chunks_are_a_400(data):
    body, _ = chunked(data)
    with pytest.raises(HTTPError) as info:
        body.read()
    assert info.value.code == 400 and info.value.close


def test_a_chunked_body_past_its_limit_is_a_413_before_it_is_all_read():
    body, rfile = chunked(b"8\r\n01234567\r\n8\r\n89abcdef\r\n"
                          b"ffffffffffffff\r\n" + b"z" * 100)
    body.limit = 12
    with pytest.raises(HTTPError) as info:
        body.read()
    assert info.value.code == 413 and info.value.close
    assert len(rfile.read()) > 0, "the huge chunk was not read"


# -- Expect: 100-continue and drain --------------------------------------

def test_before_read_runs_once_just_before_the_first_byte():
    calls: list[int] = []
    rfile = stream(b"hello")
    body = Body(rfile, 5, before_read=lambda: calls.append(rfile.tell()))
    assert not body.started and calls == []
    assert body.read(2) == b"he"
    assert body.started and calls == [0]
    assert body.read() == b"llo" and calls == [0]


def test_an_unread_body_never_says_continue():
    """A body the server refuses before reading it (e.g. a guard's 401):
    no `100 Continue`, and drain says the connection cannot go on, since
    the client may still send the body."""
    calls: list[str] = []
    body = Body(stream(b"hello"), 5, before_read=lambda: calls.append("100"))
    assert body.drain(1 << 20) is False
    assert calls == [] and not body.finished


def test_an_empty_body_needs_no_continue():
    calls: list[str] = []
    body = Body(stream(b""), 0, before_read=lambda: calls.append("100"))
    assert body.read() == b"" and body.drain(10) is True
    assert calls == []


def test_drain_reads_the_rest_within_its_budget():
    rfile = stream(b"x" * 100 + b"NEXT")
    body = Body(rfile, 100)
    body.read(10)
    assert body.drain(1000) is True
    assert rfile.read() == b"NEXT"

    body = Body(stream(b"x" * 100), 100)
    assert body.drain(30) is False and not body.finished
    assert body.consumed == 30

    body, rfile = chunked(b"3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\nNEXT")
    body.limit = 1  # a refused body is drained whatever its limit was
    assert body.drain(100) is True and rfile.read() == b"NEXT"
