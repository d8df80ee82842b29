"""Static files: lists, traversal vectors, headers, conditional and range
requests, listings, favicon, sendfile."""
from __future__ import annotations

import http.client
import os
import re
import socket
import time

import pytest

from conftest import get, raw, run_in_thread
from quick_server.http.file_headers import FileTarget
from quick_server.http.small_files import SmallFiles
from quick_server.http.static import PatternList, escape_query, match_forms


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


@pytest.fixture
def files(make_server, www):
    server = make_server(start=False)
    server.bind_path("/", www)
    server.add_default_white_list()
    server.add_file_patterns(["*.bin"], blacklist=False)
    run_in_thread(server)
    return server


def test_index_and_content_type(files):
    status, headers, body = get(files.port, "/")
    assert (status, body) == (200, b"<h1>index</h1>")
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["content-length"] == str(len(body))
    status, headers, body = get(files.port, "/app.js")
    assert status == 200 and "javascript" in headers["content-type"]
    assert get(files.port, "/sub/page.html")[2] == b"sub page"


@pytest.mark.parametrize("path", [
    "/../outside.txt", "/%2e%2e/outside.txt", "/%2E%2E/outside.txt",
    "/sub/../../outside.txt", "/sub/%2e%2e/%2e%2e/outside.txt",
    "/..%2foutside.txt", "/..%5coutside.txt", "/..\\outside.txt",
    "/%252e%252e/outside.txt", "/index.html%00.js", "/%00",
    "/./index.html", "/%c0%ae%c0%ae/outside.txt", "/%ff",
])
def test_traversal_is_refused(files, path):
    reply = raw(files.port, f"GET {path} HTTP/1.1\r\nHost: x\r\n"
                "Connection: close\r\n\r\n".encode())
    status = int(reply.split(b" ")[1])
    assert status in (400, 403, 404), reply[:200]
    assert b"OUTSIDE" not in reply
    # and the server keeps serving
    assert get(files.port, "/")[0] == 200


def test_symlink_outside_is_not_served(files, www):
    os.symlink(os.path.join(os.path.dirname(www), "outside.txt"),
               os.path.join(www, "link.txt"))
    os.symlink(os.path.dirname(www), os.path.join(www, "up"))
    assert get(files.port, "/link.txt")[0] == 404
    assert get(files.port, "/up/outside.txt")[0] == 404
    # an index file that is a symlink to the outside is not served either
    os.makedirs(os.path.join(www, "box"))
    with open(os.path.join(os.path.dirname(www), "outside.html"), "w") as f:
        f.write("OUTSIDE")
    os.symlink(os.path.join(os.path.dirname(www), "outside.html"),
               os.path.join(www, "box", "index.html"))
    status, _, body = get(files.port, "/box/")
    assert b"OUTSIDE" not in body and status in (403, 404)
    # symlinks that stay inside work
    os.symlink(os.path.join(www, "index.html"), os.path.join(www, "in.html"))
    os.symlink(os.path.join(www, "box"), os.path.join(www, "alias"))
    assert get(files.port, "/in.html")[0] == 200
    assert get(files.port, "/alias/")[0] in (403, 404)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
@pytest.mark.parametrize("size", [100, 5 << 20])  # cached small; not
def test_a_fifo_put_in_a_found_files_place_is_a_404(files, www, size,
                                                     monkeypatch):
    """A file replaced by a FIFO between being found and being opened
    (by someone writing in the folder) is a 404 at once: the answer
    never blocks in open() waiting for a writer."""
    path = os.path.join(www, "swapped.txt")
    with open(path, "wb") as handle:
        handle.write(b"x" * size)
    found = files._static.resolve

    def resolve(*args, **kwargs):
        target = found(*args, **kwargs)
        os.unlink(path)
        os.mkfifo(path)
        return target
    monkeypatch.setattr(files._static, "resolve", resolve)
    started = time.monotonic()
    assert get(files.port, "/swapped.txt")[0] == 404
    assert time.monotonic() - started < 5


def test_black_white_and_hidden(files):
    assert get(files.port, "/secret.key")[0] == 404  # not white-listed
    assert get(files.port, "/.hidden.html")[0] == 404
    files.add_file_patterns(["*.js"], blacklist=True)
    assert get(files.port, "/app.js")[0] == 404  # black wins
    assert get(files.port, "/data.json")[0] == 200


def private_folder(www: str) -> None:
    os.makedirs(os.path.join(www, "private", "deeper"))
    for name in ("data.json", "index.html", "deeper/more.json"):
        with open(os.path.join(www, "private", name), "w") as handle:
            handle.write("PRIVATE")


@pytest.mark.parametrize("path", [
    "/private/data.json", "//private/data.json", "/%70rivate/data.json",
    "/private//data.json", "/private/deeper/more.json", "/private/",
    "/private/index.html", "/private", "/private/deeper/",
])
def test_black_list_matches_the_path_under_the_folder(files, www, path):
    """`*/private/*` refuses everything in the folder, however the path
    is spelled; the folder itself is neither listed, indexed nor
    redirected to."""
    private_folder(www)
    files.directory_listing = True
    files.add_file_patterns(["*/private/*"], blacklist=True)
    status, _, body = get(files.port, path)
    assert status == 404 and b"PRIVATE" not in body
    assert get(files.port, "/data.json")[0] == 200


def test_pattern_forms(make_server, www):
    """Patterns match the path under the bound folder (not the URL),
    the real absolute path and the base name, case-insensitively; a
    symlink does not dodge a pattern anchored in the folder."""
    private_folder(www)
    os.symlink(os.path.join(www, "private"), os.path.join(www, "pub"))
    server = make_server(start=False)
    server.bind_path("/static/", www)
    server.add_file_patterns(
        ["/PRIVATE/*", os.path.join(www, "app.js"), "SECRET.KEY"],
        blacklist=True)
    server.add_file_patterns(["/sub/*", "/private/*", "*.JS", "/app.js",
                              "/static/data.json", "secret.key"],
                             blacklist=False)
    run_in_thread(server)
    assert get(server.port, "/static/sub/page.html")[0] == 200  # white
    assert get(server.port, "/static/index.html")[0] == 404  # not white
    assert get(server.port, "/static/data.json")[0] == 404  # URL no matter
    assert get(server.port, "/static/app.js")[0] == 404  # absolute, black
    assert get(server.port, "/static/secret.key")[0] == 404  # base name
    assert get(server.port, "/static/private/data.json")[0] == 404
    assert get(server.port, "/static/pub/data.json")[0] == 404  # real path
    assert get(server.port, "/static/pub/")[0] == 404


def test_pattern_forms_unit():
    forms = match_forms("/Sub/A.js", "/www/Sub/A.js", "/www")
    assert forms == ("/sub/a.js", "/www/sub/a.js", "a.js")
    assert match_forms("/sub/", "/www/sub/", "/www")[2] == "sub/"
    assert match_forms("/a.js", "/a.js", "/") == ("/a.js", "/a.js", "a.js")
    # through a symlink: the real path under the folder too
    assert match_forms("/pub/a.js", "/www/private/a.js", "/www") == (
        "/pub/a.js", "/www/private/a.js", "/private/a.js", "a.js", "a.js")
    patterns = PatternList()
    assert not patterns.matches(forms)
    patterns.add(["*/private/*"])
    assert patterns.matches(match_forms("/private/x", "/w/private/x", "/w"))
    assert patterns.matches(match_forms("/private/", "/w/private/", "/w"))
    assert not patterns.matches(match_forms("/x/a", "/w/x/a", "/w"))


def test_listing_hides_hidden_black_and_not_white(files, www):
    private_folder(www)
    folder = os.path.join(www, "noindex")
    for name in (".git", "private", "ok", "secret-stuff"):
        os.makedirs(os.path.join(folder, name))
    for name in (".env", "x.key", "my-secret.txt", "b.json"):
        with open(os.path.join(folder, name), "w") as handle:
            handle.write("x")
    files.add_file_patterns(["*/private/*", "*secret*"], blacklist=True)
    files.directory_listing = True
    status, _, body = get(files.port, "/noindex/")
    assert status == 200
    assert re.findall(rb'href="\./([^"]*)"', body) == [
        b"a.txt", b"b.json", b"ok/"]
    status, _, body = get(files.port, "/")  # has an index: not listed
    assert body == b"<h1>index</h1>"
    assert get(files.port, "/noindex/.git/")[0] == 404
    assert get(files.port, "/noindex/secret-stuff/")[0] == 404
    assert get(files.port, "/noindex/ok/")[0] == 200


def test_no_open_redirect(files):
    for path in ("//sub", "/\\sub", "//evil.example/sub", "/sub"):
        reply = raw(files.port, f"GET {path} HTTP/1.1\r\nHost: x\r\n"
                    "Connection: close\r\n\r\n".encode())
        for line in reply.split(b"\r\n"):
            if line.lower().startswith(b"location:"):
                location = line.split(b":", 1)[1].strip()
                assert location.startswith(b"./"), location
    status, headers, _ = get(files.port, "/sub?x=1")
    assert status == 301 and headers["location"] == "./sub/?x=1"


def location_lines(reply: bytes) -> list[bytes]:
    """The Location lines of a raw reply's head, which must be printable
    ASCII lines ended by CRLF, with no Set-Cookie smuggled in."""
    head = reply.partition(b"\r\n\r\n")[0]
    assert re.fullmatch(rb"(?:[\x20-\x7e]*\r\n)*[\x20-\x7e]*", head), head
    lines = head.split(b"\r\n")
    assert not [line for line in lines
                if line.lower().startswith(b"set-cookie")]
    return [line for line in lines if line.lower().startswith(b"location:")]


@pytest.mark.parametrize("query, location", [
    (b"x=%0d%0aSet-Cookie:pwn=1", b"./sub/?x=%0d%0aSet-Cookie:pwn=1"),
    (b"x=\x85Set-Cookie:pwn=1", b"./sub/?x=%85Set-Cookie:pwn=1"),
    (b'x="<a>\\^`{|}\xff', b"./sub/?x=%22%3Ca%3E%5C%5E%60%7B%7C%7D%FF"),
    (b"a=1&b=%20&c=/?:@!$'()*+,;~", b"./sub/?a=1&b=%20&c=/?:@!$'()*+,;~"),
    (b"x=%zz%", b"./sub/?x=%25zz%25"),
])
def test_redirect_query_is_escaped(files, query, location):
    reply = raw(files.port, b"GET /sub?" + query + b" HTTP/1.1\r\n"
                b"Host: x\r\nConnection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 301 ")
    assert location_lines(reply) == [b"Location: " + location]


def test_escape_query_unit():
    assert escape_query("a=1&b=%20") == "a=1&b=%20"
    assert escape_query("x=\r\nA: b") == "x=%0D%0AA:%20b"
    assert escape_query("x=\u20ac") == "x=%E2%82%AC"


def test_etag_last_modified_304(files):
    status, headers, _ = get(files.port, "/data.json")
    etag, modified = headers["etag"], headers["last-modified"]
    assert get(files.port, "/data.json",
               headers={"If-None-Match": etag})[0] == 304
    assert get(files.port, "/data.json",
               headers={"If-None-Match": '"other"'})[0] == 200
    assert get(files.port, "/data.json",
               headers={"If-Modified-Since": modified})[0] == 304
    assert get(files.port, "/data.json", headers={
        "If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})[0] == 200


def test_range(files, www):
    data = read_bytes(os.path.join(www, "big.bin"))
    status, headers, body = get(files.port, "/big.bin",
                                headers={"Range": "bytes=10-19"})
    assert status == 206 and body == data[10:20]
    assert headers["content-range"] == f"bytes 10-19/{len(data)}"
    assert get(files.port, "/big.bin",
               headers={"Range": "bytes=-5"})[2] == data[-5:]
    assert get(files.port, "/big.bin",
               headers={"Range": "bytes=100-"})[2] == data[100:]
    status, headers, _ = get(files.port, "/big.bin", headers={
        "Range": f"bytes={len(data)}-"})
    assert status == 416 and headers["content-range"] == f"bytes */{len(data)}"
    assert get(files.port, "/big.bin", headers={
        "Range": "bytes=0-1", "If-Range": '"stale"'})[0] == 200
    # a small (cached) file too
    status, _, body = get(files.port, "/index.html",
                          headers={"Range": "bytes=4-8"})
    assert status == 206 and body == b"index"


def test_head_and_large_file(files, www):
    status, headers, body = get(files.port, "/big.bin", method="HEAD")
    assert status == 200 and body == b""
    assert headers["content-length"] == str(3 * 1024 * 1024)
    assert get(files.port, "/big.bin")[2] == \
        read_bytes(os.path.join(www, "big.bin"))


def test_stalled_download_is_dropped(files, www):
    """A client that stops reading a large file does not hold its thread
    for longer than the idle timeout."""
    files.idle_timeout = 0.5
    with open(os.path.join(www, "huge.bin"), "wb") as handle:
        handle.truncate(256 << 20)  # more than any socket buffer holds
    sock = socket.create_connection(("127.0.0.1", files.port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        sock.sendall(b"GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        received = len(sock.recv(4096))  # the download has started
        assert received > 0
        assert files._wait_idle(10)  # and is given up while we stall
        assert get(files.port, "/index.html")[0] == 200
        end = time.monotonic() + 10
        while time.monotonic() < end:  # what was sent before the drop
            try:
                chunk = sock.recv(1 << 20)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            received += len(chunk)
        assert received < 256 << 20  # not the whole file
    finally:
        sock.close()


def test_listing_and_max_age(files):
    assert get(files.port, "/noindex/")[0] == 404
    files.directory_listing = True
    status, headers, body = get(files.port, "/noindex/")
    assert status == 200 and b'href="./a.txt"' in body
    files.max_age = 60
    assert get(files.port, "/data.json")[1]["cache-control"] == "max-age=60"


def test_favicon_fallback(files):
    assert get(files.port, "/favicon.ico")[0] == 404
    files.link_empty_favicon_fallback()
    assert get(files.port, "/favicon.ico")[0] == 200
    assert get(files.port, "/sub/favicon.ico")[0] == 200


def test_favicon_fallback_from_a_file(files, tmp_path):
    icon = os.urandom(1500)
    (tmp_path / "icons").mkdir()
    (tmp_path / "icons" / "site.ico").write_bytes(icon)
    files.base_path = str(tmp_path)
    files.favicon_fallback = "icons/site.ico"  # relative to base_path
    status, headers, body = get(files.port, "/favicon.ico")
    assert (status, body) == (200, icon)
    assert headers["content-type"] in ("image/vnd.microsoft.icon",
                                       "image/x-icon")


def test_keep_alive_after_304_and_head(files, www):
    """A 304 and a HEAD answer carry no body: the next request on the
    same connection is read and answered correctly."""
    tag = get(files.port, "/data.json")[1]["etag"]
    conn = http.client.HTTPConnection("127.0.0.1", files.port, timeout=10)
    try:
        conn.request("GET", "/data.json", headers={"If-None-Match": tag})
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (304, b"")
        sock = conn.sock
        assert sock is not None and not resp.will_close
        for path in ("/data.json", "/big.bin"):
            conn.request("HEAD", path)
            resp = conn.getresponse()
            assert (resp.status, resp.read()) == (200, b"")
            assert conn.sock is sock and not resp.will_close
        conn.request("GET", "/data.json")
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (200, b'{"a": 1}')
        assert conn.sock is sock
    finally:
        conn.close()


def test_bind_path_fallback_and_prefix(make_server, www, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "index.html").write_text("other index")
    (other / "only.html").write_text("only in other")
    server = make_server(start=False)
    server.bind_path("/", www)
    server.bind_path_fallback("/", str(other))
    server.bind_path("/o/", str(other))
    run_in_thread(server)
    assert get(server.port, "/")[2] == b"<h1>index</h1>"
    assert get(server.port, "/only.html")[2] == b"only in other"
    assert get(server.port, "/o/")[2] == b"other index"
    status, headers, _ = get(server.port, "/o")
    assert status == 301 and headers["location"] == "./o/"
    with pytest.raises(ValueError):
        server.bind_path("no-slash", www)


def test_ipv6(make_server, www):
    if not socket.has_ipv6:
        pytest.fail("IPv6 is expected on the test machines")
    server = make_server(start=False, addr="::1")
    server.bind_path("/", www)
    run_in_thread(server)
    assert get(server.port, "/", host="::1")[2] == b"<h1>index</h1>"


def test_small_file_cache_follows_changes(files, www):
    path = os.path.join(www, "data.json")
    assert get(files.port, "/data.json")[2] == b'{"a": 1}'
    with open(path, "w") as handle:
        handle.write('{"a": 2}')  # same size
    os.utime(path, ns=(1, 1))  # and a different modification time
    status, headers, body = get(files.port, "/data.json")
    assert body == b'{"a": 2}' and headers["etag"] == '"8-1"'
    with open(path, "w") as handle:
        handle.write('{"a": 333}')
    assert get(files.port, "/data.json")[2] == b'{"a": 333}'
    # a cached file replaced by a symlink to the outside is not served
    os.remove(path)
    os.symlink(os.path.join(os.path.dirname(www), "outside.txt"), path)
    assert get(files.port, "/data.json")[0] == 404


def test_small_file_cache_is_bounded(tmp_path):
    cache = SmallFiles(max_file=100, max_total=250)
    targets = []
    for n in range(5):
        path = tmp_path / f"f{n}.txt"
        path.write_bytes(bytes([65 + n]) * 100)
        targets.append(FileTarget(str(path), os.stat(path)))
    for target in targets:
        assert cache.get(target)[1] == read_bytes(target.path)
    assert cache._total <= 250 and len(cache._entries) == 2
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 101)
    assert cache.get(FileTarget(str(big), os.stat(big))) is None


def parse_byteranges(ctype: str, body: bytes) -> list[tuple[str, bytes]]:
    boundary = ctype.split("boundary=")[1].encode()
    parts = body.split(b"--" + boundary)
    assert parts[0] == b"" and parts[-1] == b"--\r\n"
    out = []
    for part in parts[1:-1]:
        head, _, data = part.partition(b"\r\n\r\n")
        assert data.endswith(b"\r\n")
        crange = [line for line in head.split(b"\r\n")
                  if line.startswith(b"Content-Range: ")][0]
        out.append((crange[15:].decode(), data[:-2]))
    return out


@pytest.mark.parametrize("name", ["index.html", "big.bin"])
def test_multiple_ranges(files, www, name):
    data = read_bytes(os.path.join(www, name))
    size = len(data)
    status, headers, body = get(files.port, f"/{name}",
                                headers={"Range": "bytes=0-1,-2,5-6,6-8"})
    assert status == 206
    assert headers["content-type"].startswith("multipart/byteranges; ")
    assert parse_byteranges(headers["content-type"], body) == [
        ("bytes 0-1/%d" % size, data[0:2]),
        ("bytes 5-8/%d" % size, data[5:9]),  # 5-6 and 6-8 merged
        ("bytes %d-%d/%d" % (size - 2, size - 1, size), data[-2:])]
    # what cannot be answered in parts gets the whole file
    many = ",".join(f"{n}-{n}" for n in range(0, 40, 2))
    assert get(files.port, f"/{name}", headers={"Range": f"bytes={many}"}
               )[:3:2] == (200, data)
    assert get(files.port, f"/{name}", headers={"Range": "bytes=3-1,0-1"}
               )[:3:2] == (200, data)
    if name == "big.bin":  # more than 1 MiB in parts: the whole file
        assert get(files.port, "/big.bin", headers={
            "Range": "bytes=0-699999,1000000-1999999"})[:3:2] == (200, data)


def test_bundled_favicon_and_legacy_worker_js_names(make_server, tmp_path):
    server = make_server()
    server.link_empty_favicon_fallback()
    server.link_legacy_worker_js("/js/worker.js")
    server.mirror_legacy_worker_js(str(tmp_path / "legacy" / "worker.js"))
    server.mirror_worker_js(str(tmp_path / "src" / "worker.js"))
    status, headers, icon = get(server.port, "/favicon.ico")
    assert status == 200 and headers["content-type"] == "image/vnd.microsoft.icon"
    assert icon[:4] == b"\0\0\1\0" and len(icon) > 100  # a real icon
    status, _, script = get(server.port, "/js/worker.js")
    assert status == 200 and b"quick_server" in script
    # the mirror is the ES module served beside the classic script, with
    # its declarations; module=False mirrors the classic script
    status, _, module = get(server.port, "/js/worker.mjs")
    assert status == 200 and b"export { Worker, WorkerError" in module
    assert (tmp_path / "src" / "worker.js").read_bytes() == module
    status, _, dts = get(server.port, "/js/worker.d.ts")
    assert status == 200 and b"export declare class Worker" in dts
    assert (tmp_path / "src" / "worker.d.ts").read_bytes() == dts
    server.mirror_worker_js(str(tmp_path / "old" / "worker.js"), module=False)
    for old in ("old", "legacy"):  # the original's name: the classic one
        assert (tmp_path / old / "worker.js").read_bytes() == script
        assert not (tmp_path / old / "worker.d.ts").exists()
