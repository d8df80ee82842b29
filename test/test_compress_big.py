"""gzip for static files over 4 MiB (issue 25): a compressible one goes
out compressed from a form made once per file version and kept on disk
(sent with `sendfile`), with Vary and its own ETag (304, HEAD); a Range
gets the file as it is; the forms' folder is bounded and goes when the
server stops."""
from __future__ import annotations

import gzip
import os
import threading

import pytest

from conftest import get, wait_for
from quick_server import FileResponse
from quick_server.http import gzip_cache
from quick_server.http.compress import MAX_FILE, gzip_etag

GZIP = {"Accept-Encoding": "gzip, deflate, br"}


def page(size: int = MAX_FILE + (1 << 19), seed: int = 0) -> bytes:
    """An HTML page of `size` bytes (past 4 MiB by default): a table."""
    row = b"<tr>" + b"".join(b"<td>%d</td>" % ((i * 7919 + seed) % 10007)
                             for i in range(30)) + b"</tr>\n"
    body = row * (size // len(row) + 1)
    return (b"<html><body><table>\n" + body)[:size - 22] + \
        b"</table></body></html>"


@pytest.fixture
def site(make_server, tmp_path):
    folder = tmp_path / "www"
    folder.mkdir()
    (folder / "plot.html").write_bytes(page())
    (folder / "pic.png").write_bytes(page(seed=1))  # text, but a PNG name
    server = make_server()
    server.bind_path("/", str(folder))
    server.add_default_white_list()

    @server.text_get("/download")
    def _download(req, args):
        return FileResponse(str(folder / "plot.html"))

    return server, folder


def cached(server) -> dict[str, tuple[int, int]]:
    """The forms on disk: name -> (inode, mtime)."""
    folder = server._static.gzip_cache.folder
    if folder is None:
        return {}
    return {name: (found.st_ino, found.st_mtime_ns) for name, found in (
        (name, os.stat(os.path.join(folder, name)))
        for name in os.listdir(folder))}


def test_a_big_page_goes_out_compressed_once(site):
    server, folder = site
    data = (folder / "plot.html").read_bytes()
    status, headers, body = get(server.port, "/plot.html", headers=GZIP)
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert headers["vary"] == "Accept-Encoding"
    assert int(headers["content-length"]) == len(body) < len(data) // 3
    assert gzip.decompress(body) == data
    _, plain, raw = get(server.port, "/plot.html")  # no Accept-Encoding
    assert "content-encoding" not in plain and raw == data
    assert plain["vary"] == "Accept-Encoding"
    assert headers["etag"] == gzip_etag(plain["etag"])
    first = cached(server)
    assert len(first) == 1 and server._static.gzip_cache.made == 1
    assert get(server.port, "/plot.html", headers=GZIP)[2] == body
    assert cached(server) == first  # sent from disk, not written again
    assert server._static.gzip_cache.made == 1


def test_an_edited_page_gets_a_new_form(site):
    server, folder = site
    get(server.port, "/plot.html", headers=GZIP)
    first = cached(server)
    edited = page(seed=9)
    (folder / "plot.html").write_bytes(edited)
    status, headers, body = get(server.port, "/plot.html", headers=GZIP)
    assert status == 200 and gzip.decompress(body) == edited
    now = cached(server)
    assert len(now) == 1 and now.keys() != first.keys()
    assert server._static.gzip_cache.made == 2


def test_head_304_and_range(site):
    server, folder = site
    data = (folder / "plot.html").read_bytes()
    status, headers, body = get(server.port, "/plot.html", "HEAD",
                                headers=GZIP)
    assert (status, body) == (200, b"")
    assert headers["content-encoding"] == "gzip"
    size = int(headers["content-length"])
    full = get(server.port, "/plot.html", headers=GZIP)[2]
    assert len(full) == size and gzip.decompress(full) == data
    status, again, body = get(server.port, "/plot.html", headers={
        **GZIP, "If-None-Match": headers["etag"]})
    assert (status, body) == (304, b"")
    assert again["etag"] == headers["etag"]
    assert again["vary"] == "Accept-Encoding"
    status, part, body = get(server.port, "/plot.html", headers={
        **GZIP, "Range": "bytes=100-199"})
    assert status == 206 and body == data[100:200]
    assert "content-encoding" not in part
    assert part["vary"] == "Accept-Encoding"
    assert server._static.gzip_cache.made == 1


def test_a_304_needs_no_compression(site):
    server, _ = site
    tag = get(server.port, "/plot.html")[1]["etag"]
    status, _, _ = get(server.port, "/plot.html", headers={
        **GZIP, "If-None-Match": gzip_etag(tag)})
    assert status == 304 and server._static.gzip_cache.made == 0


def test_what_stays_as_it_is(site):
    server, folder = site
    for path in ("/pic.png", "/download"):  # not text; not a static file
        status, headers, body = get(server.port, path, headers=GZIP)
        assert status == 200 and "content-encoding" not in headers, path
        assert len(body) == len(page()), path
    assert "vary" not in get(server.port, "/pic.png", headers=GZIP)[1]
    server.settings.http.compress_max_file = MAX_FILE
    headers = get(server.port, "/plot.html", headers=GZIP)[1]
    assert "content-encoding" not in headers and "vary" not in headers
    server.settings.http.compress_max_file = 64 << 20
    server.compress = False
    headers = get(server.port, "/plot.html", headers=GZIP)[1]
    assert "content-encoding" not in headers
    assert server._static.gzip_cache.made == 0 and cached(server) == {}


def test_the_disk_cap_evicts(site):
    server, folder = site
    pages = {}
    for seed in range(3):
        pages[f"/p{seed}.html"] = page(seed=seed)
        (folder / f"p{seed}.html").write_bytes(pages[f"/p{seed}.html"])
    get(server.port, "/p0.html", headers=GZIP)
    one = server._static.gzip_cache.total
    server.settings.http.compress_cache_bytes = 2 * one + one // 2
    for path in ("/p1.html", "/p2.html", "/p0.html"):
        status, headers, body = get(server.port, path, headers=GZIP)
        assert headers["content-encoding"] == "gzip", path
        assert gzip.decompress(body) == pages[path]
        assert len(cached(server)) <= 2
        assert server._static.gzip_cache.total <= 2 * one + one // 2
    assert server._static.gzip_cache.made == 4  # p0 was made again


def test_concurrent_first_requests_share_one_compression(site, monkeypatch):
    server, folder = site
    data = (folder / "plot.html").read_bytes()
    real = gzip_cache.compress_file
    started, go = threading.Event(), threading.Event()
    parts: list[str] = []

    def held(fd, size, out, claim):
        parts.append(os.readlink(f"/proc/self/fd/{out}")
                     if os.path.exists("/proc/self/fd") else str(out))
        started.set()
        go.wait(10)
        return real(fd, size, out, claim)

    monkeypatch.setattr(gzip_cache, "compress_file", held)
    bodies: list[bytes] = []

    def fetch() -> None:
        status, headers, body = get(server.port, "/plot.html", headers=GZIP)
        assert headers["content-encoding"] == "gzip"
        bodies.append(body)

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    threads[0].start()
    assert started.wait(10)
    for thread in threads[1:]:
        thread.start()
    making = server._static.gzip_cache._making
    wait_for(lambda: making[next(iter(making))].waiters == 3,
             what="3 requests waiting for the compression")
    go.set()
    for thread in threads:
        thread.join(15)
    assert len(bodies) == 4
    assert all(gzip.decompress(body) == data for body in bodies)
    assert len(parts) == 1 and server._static.gzip_cache.made == 1


def test_the_folder_goes_when_the_server_stops(make_server, tmp_path):
    (tmp_path / "plot.html").write_bytes(page())
    server = make_server()
    server.bind_path("/", str(tmp_path))
    server.add_default_white_list()
    get(server.port, "/plot.html", headers=GZIP)
    folder = server._static.gzip_cache.folder
    assert folder is not None and os.listdir(folder)
    assert os.path.basename(folder).startswith(f"gzip-{os.getpid()}-")
    server.shutdown()
    wait_for(lambda: not os.path.exists(folder), what="the folder removed")


def test_requests_waiting_for_a_compression_do_not_spend_the_pool(
        make_server, tmp_path, monkeypatch):
    """Threads that only wait for another request's compression do not
    count as working: with every thread of the pool out (one compressing,
    the others waiting for it), a small file still answers, not 503."""
    folder = tmp_path / "www"
    folder.mkdir()
    (folder / "plot.html").write_bytes(page())
    (folder / "tiny.txt").write_bytes(b"hi")
    server = make_server(start=False)
    server.bind_path("/", str(folder))
    server.add_default_white_list()
    server.settings.http.pool_size = 4
    threading.Thread(target=server.serve_forever, daemon=True).start()
    wait_for(lambda: server._loop.accepting, what="the server")
    gate = threading.Event()
    real = gzip_cache.compress_file

    def slow(*args):  # the compression goes on when the test says so
        gate.wait(30)
        return real(*args)
    monkeypatch.setattr(gzip_cache, "compress_file", slow)
    answers: list[tuple[int, str | None]] = []

    def fetch_big() -> None:
        status, headers, _ = get(server.port, "/plot.html", headers=GZIP)
        answers.append((status, headers.get("content-encoding")))
    threads = [threading.Thread(target=fetch_big) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        making = server._static.gzip_cache._making
        wait_for(lambda: sum(m.waiters for m in list(making.values())) == 3,
                 what="three requests waiting for the one compression")
        assert get(server.port, "/tiny.txt")[:1] == (200,)
    finally:
        gate.set()
        for thread in threads:
            thread.join(30)
    assert answers == [(200, "gzip")] * 4
