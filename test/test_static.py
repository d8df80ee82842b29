"""Static files: lists, traversal vectors, headers, conditional and range
requests, listings, favicon, sendfile."""
from __future__ import annotations

import os
import socket
import time

import pytest

from conftest import get, raw, run_in_thread
from quick_server.static import FileTarget, SmallFiles


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


def test_black_white_and_hidden(files):
    assert get(files.port, "/secret.key")[0] == 404  # not white-listed
    assert get(files.port, "/.hidden.html")[0] == 404
    files.add_file_patterns(["*.js"], blacklist=True)
    assert get(files.port, "/app.js")[0] == 404  # black wins
    assert get(files.port, "/data.json")[0] == 200


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
    sock = socket.create_connection(("127.0.0.1", files.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        sock.sendall(b"GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)
        assert not files.wait_idle(0.1)  # the download is stuck
        assert files.wait_idle(5)  # and given up after the idle timeout
        assert get(files.port, "/index.html")[0] == 200
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
