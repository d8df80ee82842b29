"""gzip: text answers of 1 KiB or more for clients that accept it (coding
names in any case), with their own ETag, never for ranges; every form of
such an answer says Vary; static files keep their compressed form in the
small-file cache."""
from __future__ import annotations

import gzip
import json
import os

import pytest

from conftest import get
from quick_server import Response
from quick_server.http import compress
from quick_server.http.compress import accepts_gzip, compressible, gzip_etag
from quick_server.http.livescript import SCRIPT_TAG

GZIP = {"Accept-Encoding": "gzip, deflate, br"}
TEXT = "body { color: red; }\n" * 100  # 2.1 KiB


@pytest.fixture
def site(make_server, tmp_path):
    (tmp_path / "style.css").write_text(TEXT)
    (tmp_path / "tiny.css").write_text("a{}")
    (tmp_path / "big.js").write_text("console.log('x');\n" * 12000)  # 211 KiB
    (tmp_path / "pic.png").write_bytes(os.urandom(4096))
    (tmp_path / "index.html").write_text("<html><body>" + "<p>hi</p>" * 300
                                         + "</body></html>")
    server = make_server()
    server.bind_path("/", str(tmp_path))
    server.add_default_white_list()

    @server.json_get("/data")
    def _data(req, args):
        return {"rows": list(range(500))}

    @server.json_get("/small")
    def _small(req, args):
        return {"ok": True}

    @server.text_get("/tagged")
    def _tagged(req, args):
        return Response("t" * 2000, 200, "text/plain", [("ETag", '"v1"')])

    @server.text_get("/encoded")
    def _encoded(req, args):
        return Response(gzip.compress(b"z" * 2000), 200, "text/plain",
                        [("Content-Encoding", "gzip")])

    return server, tmp_path


def test_a_static_text_file_is_sent_compressed(site):
    server, _ = site
    status, headers, body = get(server.port, "/style.css", headers=GZIP)
    assert status == 200
    assert headers["content-encoding"] == "gzip"
    assert headers["vary"] == "Accept-Encoding"
    assert int(headers["content-length"]) == len(body) < len(TEXT)
    assert gzip.decompress(body).decode() == TEXT
    _, plain, raw = get(server.port, "/style.css")
    assert "content-encoding" not in plain and raw.decode() == TEXT
    assert headers["etag"] == gzip_etag(plain["etag"]) != plain["etag"]
    assert headers["etag"].endswith('-gzip"')


def test_what_is_not_compressed(site):
    server, _ = site
    for path in ("/tiny.css", "/pic.png", "/small"):
        headers = get(server.port, path, headers=GZIP)[1]
        assert "content-encoding" not in headers, path
    for refusal in ("gzip;q=0", "identity", "deflate, br", ""):
        headers = get(server.port, "/style.css",
                      headers={"Accept-Encoding": refusal})[1]
        assert "content-encoding" not in headers, refusal
    server.compress = False
    assert "content-encoding" not in get(server.port, "/style.css",
                                         headers=GZIP)[1]


def test_never_for_a_range(site):
    server, _ = site
    status, headers, body = get(server.port, "/style.css",
                                headers={**GZIP, "Range": "bytes=0-9"})
    assert status == 206 and body == TEXT[:10].encode()
    assert "content-encoding" not in headers


def test_every_answer_of_a_compressible_file_says_vary(site):
    """A cache must not hand the gzip form to a client that did not ask
    for it: the identity, 206 and 304 answers of a file that goes out
    compressed vary by Accept-Encoding too; other files do not."""
    server, _ = site
    plain = get(server.port, "/style.css")[1]
    assert "content-encoding" not in plain
    assert plain["vary"] == "Accept-Encoding"
    for headers in ({"Range": "bytes=0-9"}, {**GZIP, "Range": "bytes=0-9"},
                    {"Range": "bytes=0-1,4-5"}):
        status, got, _ = get(server.port, "/style.css", headers=headers)
        assert status == 206 and got["vary"] == "Accept-Encoding", headers
    status, got, _ = get(server.port, "/style.css",
                         headers={"If-None-Match": plain["etag"]})
    assert status == 304 and got["vary"] == "Accept-Encoding"
    status, got, _ = get(server.port, "/data")  # a route's answer too
    assert status == 200 and got["vary"] == "Accept-Encoding"
    for path in ("/tiny.css", "/pic.png", "/small"):
        assert "vary" not in get(server.port, path)[1], path
    server.compress = False
    assert "vary" not in get(server.port, "/style.css")[1]


def test_coding_names_are_case_insensitive(site):
    server, _ = site
    for value in ("GZIP", "Gzip;Q=1", "X-GZIP", "br, GZip;q=0.5"):
        status, headers, body = get(server.port, "/style.css",
                                    headers={"Accept-Encoding": value})
        assert headers.get("content-encoding") == "gzip", value
        assert gzip.decompress(body).decode() == TEXT
    headers = get(server.port, "/style.css",
                  headers={"Accept-Encoding": "GZIP;q=0"})[1]
    assert "content-encoding" not in headers


def test_the_compressed_form_revalidates_with_its_own_etag(site):
    server, _ = site
    headers = get(server.port, "/style.css", headers=GZIP)[1]
    status, again, body = get(server.port, "/style.css", headers={
        **GZIP, "If-None-Match": headers["etag"]})
    assert (status, body) == (304, b"")
    assert again["etag"] == headers["etag"]
    assert again["vary"] == "Accept-Encoding"
    # the plain form's tag is another representation: the whole answer
    plain_tag = get(server.port, "/style.css")[1]["etag"]
    status, _, body = get(server.port, "/style.css", headers={
        **GZIP, "If-None-Match": plain_tag})
    assert status == 200 and gzip.decompress(body).decode() == TEXT


def test_static_files_are_compressed_once_per_version(site, monkeypatch):
    server, folder = site
    calls = []
    real = compress.gzip_bytes
    monkeypatch.setattr(compress, "gzip_bytes",
                        lambda data: calls.append(1) or real(data))
    for _ in range(3):
        for path in ("/style.css", "/big.js"):  # small and large files
            status, headers, body = get(server.port, path, headers=GZIP)
            assert status == 200 and headers["content-encoding"] == "gzip"
    assert len(calls) == 2
    (folder / "style.css").write_text(TEXT + "/* edited */\n")
    body = get(server.port, "/style.css", headers=GZIP)[2]
    assert gzip.decompress(body).decode().endswith("/* edited */\n")
    assert len(calls) == 3
    assert gzip.decompress(get(server.port, "/big.js", headers=GZIP)[2]) \
        == (folder / "big.js").read_bytes()


def test_route_answers_are_compressed(site):
    server, _ = site
    status, headers, body = get(server.port, "/data", headers=GZIP)
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(body)) == {"rows": list(range(500))}
    headers = get(server.port, "/tagged", headers=GZIP)[1]
    assert headers["etag"] == '"v1-gzip"'
    status, headers, body = get(server.port, "/encoded", headers=GZIP)
    assert gzip.decompress(body) == b"z" * 2000  # not compressed twice
    status, headers, body = get(server.port, "/data", "HEAD", headers=GZIP)
    assert status == 200 and body == b"" and \
        headers["content-encoding"] == "gzip"


def test_live_reload_pages_are_compressed_with_their_script(site):
    server, _ = site
    server.live_reload = True
    status, headers, body = get(server.port, "/", headers=GZIP)
    assert status == 200 and headers["content-encoding"] == "gzip"
    page = gzip.decompress(body)
    assert page.count(SCRIPT_TAG) == 1
    assert page.endswith(SCRIPT_TAG + b"</body></html>")
    assert headers["etag"].endswith('-live-gzip"')
    _, plain, page = get(server.port, "/")
    assert page.count(SCRIPT_TAG) == 1 and plain["etag"].endswith('-live"')


def test_accept_encoding_values():
    assert accepts_gzip("gzip")
    assert accepts_gzip("deflate, gzip;q=0.5")
    assert accepts_gzip("*")
    assert accepts_gzip("x-gzip")
    assert not accepts_gzip("gzip;q=0")
    assert not accepts_gzip("gzip;q=0.0, *")
    assert not accepts_gzip("*;q=0")
    assert not accepts_gzip("br")
    assert not accepts_gzip(None)
    assert accepts_gzip("GZIP") and accepts_gzip("deflate, X-Gzip;Q=0.5")
    assert not accepts_gzip("GZIP;q=0")


def test_compressible_types():
    for ctype in ("text/html; charset=utf-8", "text/css", "text/plain",
                  "application/json", "application/javascript",
                  "image/svg+xml", "application/ld+json"):
        assert compressible(ctype), ctype
    for ctype in ("image/png", "application/octet-stream", "font/woff2",
                  "text/event-stream"):
        assert not compressible(ctype), ctype


def test_vary_is_said_once(site):
    """A compressible file's answer says `Vary: Accept-Encoding` once,
    compressed or not, in full or in part (the file answer and the
    compression each added it)."""
    server, _ = site
    from quick_server.testing import TestClient
    client = TestClient(server)
    for headers in ({}, GZIP, {"Range": "bytes=0-9"}):
        answer = client.get("/style.css", headers=headers)
        assert answer.headers.get_all("Vary") == ["Accept-Encoding"], \
            (headers, answer.headers.get_all("Vary"))
