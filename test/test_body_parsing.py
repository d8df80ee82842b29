"""Request arguments without sockets (issue 18.7): the query string, the
request target, `parse_body` for JSON, urlencoded, text and other bodies,
and the streaming multipart/form-data parser against hostile input
(boundaries split anywhere, odd filenames, missing parts, limits, many
parts), with uploads spooled to disk past their threshold."""
from __future__ import annotations

import io
import os
from typing import Any

import pytest

from quick_server.http import body as body_module
from quick_server.http.body import (MultipartParser, UploadedFile,
                                    header_params, parse_body, parse_query,
                                    split_target)
from quick_server.http.responses import HTTPError


class Trickle:
    """A body that hands out at most `step` bytes per read (as a socket
    may), so that every boundary and header falls across reads."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = data
        self._pos = 0
        self._step = step

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            size = len(self._data)
        size = min(size, self._step)
        chunk = self._data[self._pos:self._pos + size]
        self._pos += len(chunk)
        return chunk


def form(*parts: tuple[str, bytes] | tuple[str, bytes, str],
         boundary: bytes = b"XyZ", closing: bool = True) -> bytes:
    """A multipart/form-data body: (name, value) fields and
    (name, content, filename) files."""
    out = []
    for part in parts:
        name, value = part[0], part[1]
        disposition = f'form-data; name="{name}"'
        extra = ""
        if len(part) == 3:
            disposition += f'; filename="{part[2]}"'
            extra = "Content-Type: text/plain\r\n"
        out.append(b"--" + boundary + b"\r\n" +
                   f"Content-Disposition: {disposition}\r\n{extra}\r\n"
                   .encode() + value + b"\r\n")
    if closing:
        out.append(b"--" + boundary + b"--\r\n")
    return b"".join(out)


def parse(data: bytes, boundary: str = "XyZ", step: int | None = None,
          **limits: Any) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    source: Any = io.BytesIO(data) if step is None else Trickle(data, step)
    return MultipartParser(source, boundary, **limits).parse()


def refused(data: bytes, boundary: str = "XyZ", **limits: Any
            ) -> HTTPError:
    with pytest.raises(HTTPError) as info:
        parse(data, boundary, **limits)
    return info.value


def body_of(data: bytes, ctype: str, **limits: Any) -> tuple[Any, Any]:
    settings = {"max_field_size": 1 << 20, "spool_threshold": 1 << 20}
    settings.update(limits)
    return parse_body(io.BytesIO(data), ctype, **settings)


# -- query string and target ------------------------------------------------

def test_parse_query():
    assert parse_query("a=1&flag&b=x+y&c=%26%3D&a=2&&=v&e=") == {
        "a": "2", "flag": True, "b": "x y", "c": "&=", "": "v", "e": ""}
    assert parse_query("") == {}
    assert parse_query("x=%FF%00") == {"x": "\ufffd\x00"}


def test_split_target():
    assert split_target("/p/a%20b?q=1&r#frag%20x") == \
        ("/p/a%20b", "q=1&r", "frag x")
    assert split_target("/p#a?b") == ("/p", "", "a?b")
    assert split_target("/p?a#b#c") == ("/p", "a", "b#c")
    assert split_target("*") == ("*", "", "")


def test_header_params():
    assert header_params('Multipart/Form-Data; Boundary="a b;c"') == \
        ("multipart/form-data", {"boundary": "a b;c"})
    assert header_params("form-data; name=f; filename*=UTF-8''%E2%82%AC.txt"
                         ) == ("form-data", {"name": "f", "filename": "€.txt"})
    assert header_params("") == ("", {})


# -- parse_body: JSON, forms, text, bytes ---------------------------------

@pytest.mark.parametrize("ctype", [
    "", "application/json", "APPLICATION/JSON",
    "application/json; charset=utf-8", "application/ld+json",
    "application/vnd.api+json; x=1",
])
def test_json_bodies(ctype):
    assert body_of(b'{"a": [1, "\xc3\xa9"]}', ctype) == ({"a": [1, "é"]}, {})


@pytest.mark.parametrize("data", [
    b"{", b"{'a': 1}", b'{"a": 1} x', b"\xff\xfe{}", b"NaNx",
    b"[" * 200 + b"]" * 200,
])
def test_bad_json_is_a_400(data):
    with pytest.raises(HTTPError) as info:
        body_of(data, "application/json")
    assert info.value.code == 400


def test_an_empty_body_is_an_empty_dict_whatever_its_type():
    for ctype in ("", "application/json", "text/plain",
                  "application/octet-stream"):
        assert body_of(b"", ctype) == ({}, {})
        assert body_of(b" \r\n\t", ctype) == ({}, {})


def test_urlencoded_forms():
    assert body_of(b"a=1&b=%C3%A9+x&flag",
                   "application/x-www-form-urlencoded; charset=utf-8") == \
        ({"a": "1", "b": "é x", "flag": True}, {})
    assert body_of(b"", "application/x-www-form-urlencoded") == ({}, {})
    with pytest.raises(HTTPError) as info:
        body_of(b"a=\xff", "application/x-www-form-urlencoded")
    assert info.value.code == 400


def test_text_and_other_bodies():
    assert body_of(b"caf\xc3\xa9 \xff", "text/plain") == ("café \ufffd", {})
    assert body_of(b"\x00\x01", "application/octet-stream") == \
        (b"\x00\x01", {})
    assert body_of(b"<svg/>", "image/svg+xml") == (b"<svg/>", {})


@pytest.mark.parametrize("ctype", [
    "multipart/form-data", "multipart/form-data; boundary=",
    'multipart/form-data; boundary=""', "multipart/mixed; boundary=XyZ",
    "multipart/form-data; boundary=" + "b" * 201,
])
def test_multipart_without_a_usable_boundary_is_a_400(ctype):
    with pytest.raises(HTTPError) as info:
        body_of(form(("a", b"1")), ctype)
    assert info.value.code == 400


def test_a_boundary_latin_1_cannot_hold_is_a_400():
    with pytest.raises(HTTPError) as info:
        body_of(b"--\xe2\x82\xac\r\n",
                "multipart/form-data; boundary*=UTF-8''%E2%82%AC")
    assert info.value.code == 400


def test_multipart_through_parse_body():
    data = form(("a", b"1"), ("f", b"content", "f.txt"), boundary=b"b-1")
    fields, files = body_of(data, 'multipart/form-data; boundary="b-1"')
    assert fields == {"a": "1"}
    assert files["f"].content == b"content"


# -- multipart: the happy path, split anywhere -----------------------------

BODY = (b"preamble, ignored\r\n" +
        form(("text", "caf\xe9 \u2603".encode()),
             ("empty", b""),
             ("doc", b"line1\r\nline2\r\n", "doc.txt"),
             ("bin", bytes(range(256)) * 3, "bin.dat"),
             ("nofile", b"", "")) + b"epilogue, ignored")


@pytest.mark.parametrize("step", [None, 1, 2, 3, 5, 7, 64])
def test_multipart_parses_the_same_however_the_body_arrives(step):
    fields, files = parse(BODY, step=step)
    assert fields == {"text": "café ☃", "empty": ""}
    assert sorted(files) == ["bin", "doc", "nofile"]
    doc = files["doc"]
    assert (doc.field, doc.filename, doc.content_type, doc.size) == \
        ("doc", "doc.txt", "text/plain", 14)
    assert doc.content == b"line1\r\nline2\r\n"
    assert files["bin"].content == bytes(range(256)) * 3
    assert files["nofile"].filename == "" and files["nofile"].size == 0
    assert doc.read(5) == b"line1", "an upload is positioned at its start"
    doc.seek(0)


def test_content_that_nearly_matches_the_boundary_is_kept():
    """Only CRLF "--" boundary ends a part (RFC 2046): the boundary at the
    very start of the content, after a bare CR or LF, in another case or
    cut short is content."""
    tricky = (b"--XyZ at the start\r\n-XyZ\r\n--XY\r\n\r\n--xyz\r\n"
              b"\n--XyZ\r--XyZ end--XyZ")
    assert b"\r\n--XyZ" not in tricky
    for step in (None, 1, 3):
        _, files = parse(form(("f", tricky, "t.bin")), step=step)
        assert files["f"].content == tricky
        fields, _ = parse(form(("a", tricky)), step=step)
        assert fields["a"] == tricky.decode()


def test_the_boundary_inside_content_ends_the_part():
    """A client cannot hide "CRLF--boundary" in a part: it is a
    delimiter, and what follows it must be a delimiter's end."""
    err = refused(form(("a", b"x\r\n--XyZz")))
    assert err.code == 400 and "delimiter" in err.message


def test_the_first_delimiter_may_come_without_a_preamble_or_crlf():
    assert parse(b"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n"
                 b"1\r\n--XyZ--")[0] == {"a": "1"}


def test_transport_padding_after_a_delimiter_is_allowed():
    data = form(("a", b"1")).replace(b"--XyZ\r\n", b"--XyZ \t \r\n", 1)
    assert parse(data)[0] == {"a": "1"}


def test_a_part_without_a_closing_delimiter_is_truncated():
    err = refused(form(("a", b"1"), closing=False))
    assert err.code == 400 and "Truncated" in err.message
    err = refused(b"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n"
                  b"1\r\n--XyZ")
    assert err.code == 400


def test_a_part_header_section_without_end_is_truncated():
    assert refused(b"--XyZ\r\nContent-Disposition: form-data; name=a\r\n"
                   ).code == 400


def test_repeated_names_keep_the_last_and_close_the_replaced_upload():
    fields, files = parse(form(("a", b"1"), ("a", b"2"),
                               ("f", b"old", "1.txt"),
                               ("f", b"new", "2.txt")))
    assert fields == {"a": "2"}
    assert files["f"].content == b"new" and files["f"].filename == "2.txt"


def test_a_filename_is_passed_on_as_sent_never_interpreted():
    """The name is the client's: a path or control characters in it
    change nothing about where the upload goes (it is spooled to an
    anonymous temporary file); the handler decides what to do with it."""
    names = {
        "unix": "../../etc/passwd",
        "windows": "C:\\\\Users\\\\x\\\\evil.txt",
        "rfc2231": "UTF-8''a%0D%0AContent-Type%3A%20x.txt",
    }
    data = b"".join(
        b"--XyZ\r\nContent-Disposition: form-data; name=\"" +
        field.encode() + (b"\"; filename*=" + name.encode()
                          if field == "rfc2231" else
                          b"\"; filename=\"" + name.encode() + b"\"") +
        b"\r\n\r\n" + field.encode() + b"\r\n"
        for field, name in names.items()) + b"--XyZ--\r\n"
    _, files = parse(data)
    assert files["unix"].filename == "../../etc/passwd"
    assert files["windows"].filename == "C:\\Users\\x\\evil.txt"
    assert files["rfc2231"].filename == "a\r\nContent-Type: x.txt"
    for field, upload in files.items():
        assert upload.content == field.encode()
        assert upload.content_type == "application/octet-stream"
        assert "\r" not in repr(upload) and "\n" not in repr(upload)


@pytest.mark.parametrize("part", [
    b"\r\n\r\nvalue",  # no headers at all
    b"Content-Disposition: attachment; name=a\r\n\r\nv",
    b"Content-Disposition: form-data\r\n\r\nv",  # no name
    b"Content-Disposition: form-data; filename=a.txt\r\n\r\nv",
    b"Content-Type: text/plain\r\n\r\nv",
    b"Content-Disposition form-data; name=a\r\n\r\nv",  # no colon
])
def test_a_part_without_a_form_data_name_is_a_400(part):
    assert refused(b"--XyZ\r\n" + part + b"\r\n--XyZ--\r\n").code == 400


def test_garbage_after_a_delimiter_is_a_400():
    data = form(("a", b"1"), ("b", b"2")).replace(b"--XyZ\r\nContent",
                                                  b"--XyZjunk\r\nContent", 1)
    assert refused(data).code == 400


def test_no_boundary_in_the_body_is_a_400():
    err = refused(b"just some bytes\r\n" * 10000)
    assert err.code == 400 and "boundary not found" in err.message


PADDED = (b"--XyZ\r\nContent-Disposition: form-data; name=a\r\n" +
          b"X-Pad: " + b"p" * (MultipartParser.MAX_PART_HEADER + 5000) +
          b"\r\n\r\nv\r\n--XyZ--\r\n")


def test_part_headers_past_their_limit_are_a_400_when_trickled():
    assert refused_trickled(PADDED, 1000).code == 400


def test_part_headers_past_their_limit_are_a_400_in_one_read():
    assert refused(PADDED).code == 400


def refused_trickled(data: bytes, step: int) -> HTTPError:
    with pytest.raises(HTTPError) as info:
        parse(data, step=step)
    return info.value


@pytest.mark.parametrize("boundary", ["", "b" * 201, "b" * 71, "a b ",
                                      "a\"b", "a;b", "a\x00b", "caf\xe9"])
def test_an_empty_or_absurd_boundary_is_a_400(boundary):
    assert refused(b"--x\r\n", boundary).code == 400


@pytest.mark.parametrize("boundary", ["b" * 70, "a b", "'()+_,-./:=?09AZaz"])
def test_any_boundary_rfc_2046_allows_is_read(boundary):
    data = form(("a", b"1"), boundary=boundary.encode())
    assert parse(data, boundary)[0] == {"a": "1"}


def headed(size: int) -> bytes:
    """A part whose headers are `size` bytes long."""
    head = b"Content-Disposition: form-data; name=a\r\nX-Pad: "
    head += b"p" * (size - len(head))
    return b"--XyZ\r\n" + head + b"\r\n\r\nv\r\n--XyZ--\r\n"


@pytest.mark.parametrize("step", [None, 1000, 7])
def test_the_part_header_limit_is_the_same_however_the_body_is_split(step):
    limit = MultipartParser.MAX_PART_HEADER
    assert parse(headed(limit), step=step)[0] == {"a": "v"}
    with pytest.raises(HTTPError) as info:
        parse(headed(limit + 1), step=step)
    assert info.value.code == 400 and "longer than" in info.value.message


# -- limits and spooling ------------------------------------------------------

def test_a_field_past_its_limit_is_a_413():
    assert parse(form(("a", b"x" * 100)), max_field_size=100)[0]["a"] == \
        "x" * 100
    err = refused(form(("a", b"x" * 101)), max_field_size=100)
    assert err.code == 413


def test_a_file_past_its_limit_is_a_413_that_closes_the_connection():
    assert parse(form(("f", b"x" * 100, "f")), max_file_size=100
                 )[1]["f"].size == 100
    err = refused(form(("f", b"x" * 101, "f")), max_file_size=100)
    assert err.code == 413 and err.close


def test_an_oversized_upload_is_refused_while_streaming():
    """The parser stops at the limit: the rest of a huge body is never
    read."""
    source = Trickle(b"--XyZ\r\nContent-Disposition: form-data; name=f; "
                     b"filename=f\r\n\r\n" + b"x" * (1 << 22), 1 << 16)
    with pytest.raises(HTTPError) as info:
        MultipartParser(source, "XyZ", max_file_size=1000).parse()
    assert info.value.code == 413
    assert source._pos <= 3 * MultipartParser.BLOCK


def test_uploads_are_spooled_to_disk_past_the_threshold():
    _, files = parse(form(("small", b"s" * 10, "s"), ("big", b"b" * 5000,
                                                      "b")),
                     spool_threshold=1000)
    assert not files["small"].file._rolled  # type: ignore[attr-defined]
    assert files["big"].file._rolled  # type: ignore[attr-defined]
    assert files["big"].content == b"b" * 5000


def test_uploads_are_closed_when_parsing_fails(monkeypatch):
    made: list[UploadedFile] = []

    class Recorded(UploadedFile):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            made.append(self)

    monkeypatch.setattr(body_module, "UploadedFile", Recorded)
    refused(form(("f", b"data", "f.txt"), ("g", b"more", "g.txt"),
                 closing=False))
    assert len(made) == 2
    assert all(upload.file.closed for upload in made)


def test_save_copies_the_upload(tmp_path):
    _, files = parse(form(("f", b"saved bytes", "f.txt")))
    target = tmp_path / "out.bin"
    files["f"].save(str(target))
    assert target.read_bytes() == b"saved bytes"
    assert files["f"].read() == b"saved bytes", "save rewinds the upload"
    files["f"].close()
    assert files["f"].file.closed


def many_parts(count: int) -> bytes:
    return b"".join(b"--B\r\nContent-Disposition: form-data; name=\"f%d\"\r\n"
                    b"\r\nv\r\n" % i for i in range(count)) + b"--B--\r\n"


def test_too_many_parts_is_a_400():
    assert len(parse(many_parts(999), "B")[0]) == 999
    err = refused(many_parts(MultipartParser.MAX_PARTS + 1), "B")
    assert err.code == 400 and "Too many" in err.message


def test_exactly_max_parts_are_read():
    assert len(parse(many_parts(MultipartParser.MAX_PARTS), "B")[0]) == \
        MultipartParser.MAX_PARTS


def test_the_temporary_files_hold_no_client_chosen_path(tmp_path,
                                                        monkeypatch):
    """Spooled uploads land in the temporary folder under names of their
    own, whatever filename the client sent."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    _, files = parse(form(("f", b"x" * 100, "../../escape.txt")),
                     spool_threshold=10)
    files["f"].file.fileno()  # on disk
    assert not (tmp_path.parent / "escape.txt").exists()
    assert all(not name.endswith("escape.txt")
               for name in os.listdir(tmp_path))
    files["f"].close()
