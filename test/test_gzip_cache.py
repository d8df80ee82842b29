"""The disk cache of big files' gzip forms (`http.gzip_cache`), without a
server: forms made once per file version, the size cap (least recently
used go), a file that changes while compressed, a form no smaller than
its file, the folder (private, removed by `clear`, a dead process's
removed by the next)."""
from __future__ import annotations

import gzip
import os
import stat
import threading

import pytest

from conftest import wait_for
from quick_server.http import gzip_cache
from quick_server.http.gzip_cache import GzipCache, compress_file

MIB = 1 << 20


def text(size: int, seed: int = 0) -> bytes:
    """`size` bytes of compressible text, different for each seed."""
    line = b"".join(b"<td>%d</td>" % ((i * 7919 + seed) % 10007)
                    for i in range(40)) + b"\n"
    return (line * (size // len(line) + 1))[:size]


@pytest.fixture
def cache(tmp_path):
    made = GzipCache(lambda: str(tmp_path / "cache"))
    yield made
    made.clear()


def form_of(cache: GzipCache, path, cap: int = 64 * MIB) -> bytes | None:
    """The gzip form `cache` gives for the file at `path` (decompressed),
    or None."""
    fd = os.open(path, os.O_RDONLY)
    try:
        found = cache.open(str(path), fd, os.fstat(fd), cap)
    finally:
        os.close(fd)
    if found is None:
        return None
    out, size = found
    try:
        assert os.fstat(out).st_size == size
        return gzip.decompress(os.pread(out, size, 0))
    finally:
        os.close(out)


def forms(cache: GzipCache) -> dict[str, os.stat_result]:
    folder = cache.folder
    assert folder is not None
    return {name: os.stat(os.path.join(folder, name))
            for name in os.listdir(folder)}


def test_a_form_is_made_once_per_file_version(cache, tmp_path):
    page = tmp_path / "page.html"
    page.write_bytes(text(300_000))
    assert form_of(cache, page) == page.read_bytes()
    first = forms(cache)
    assert len(first) == 1 and cache.made == 1
    assert 0 < cache.total == next(iter(first.values())).st_size < 300_000
    assert form_of(cache, page) == page.read_bytes()
    again = forms(cache)
    assert cache.made == 1 and again.keys() == first.keys()
    name = next(iter(again))
    assert (again[name].st_ino, again[name].st_mtime_ns) == \
        (first[name].st_ino, first[name].st_mtime_ns)  # not written again
    page.write_bytes(text(300_001, seed=5))  # edited: a new version
    assert form_of(cache, page) == page.read_bytes()
    assert cache.made == 2 and len(forms(cache)) == 1
    assert forms(cache).keys() != first.keys()  # the stale one is gone


def test_the_cap_evicts_the_least_recently_used(cache, tmp_path):
    pages = []
    for seed in range(3):
        page = tmp_path / f"p{seed}.html"
        page.write_bytes(text(400_000, seed))
        pages.append(page)
    assert form_of(cache, pages[0]) is not None
    one = cache.total
    cap = 2 * one + one // 2  # room for two forms
    assert form_of(cache, pages[1], cap) is not None
    assert form_of(cache, pages[0], cap) is not None  # used: now the newest
    assert form_of(cache, pages[2], cap) is not None
    assert cache.made == 3 and cache.total <= cap
    assert len(forms(cache)) == 2
    assert form_of(cache, pages[0], cap) == pages[0].read_bytes()
    assert cache.made == 3  # kept: page 1 went instead
    assert form_of(cache, pages[1], cap) == pages[1].read_bytes()
    assert cache.made == 4 and cache.total <= cap


def test_a_form_bigger_than_the_cap_is_not_kept(cache, tmp_path):
    page = tmp_path / "page.html"
    page.write_bytes(text(400_000))
    other = tmp_path / "other.html"
    other.write_bytes(text(1000, seed=3))
    assert form_of(cache, other, cap=1000) is not None
    kept = forms(cache)
    assert form_of(cache, page, cap=1000) is None  # (evicts the other)
    assert cache.total == 0 and forms(cache) == {}  # the part is removed
    assert cache.made == 1
    assert form_of(cache, other, cap=1000) is not None  # made again
    # not tried again with that cap, so the other form stays this time
    assert form_of(cache, page, cap=1000) is None
    assert forms(cache).keys() != kept.keys() and len(forms(cache)) == 1
    assert cache.made == 2
    assert form_of(cache, page) == page.read_bytes()  # more room: made
    assert cache.made == 3


def test_a_form_no_smaller_is_remembered_not_kept(cache, tmp_path):
    noise = tmp_path / "noise.txt"
    noise.write_bytes(os.urandom(200_000))
    assert form_of(cache, noise) is None
    assert cache.made == 1 and cache.total == 0 and forms(cache) == {}
    assert form_of(cache, noise) is None
    assert cache.made == 1  # not compressed again


def test_a_file_changing_while_compressed_leaves_no_form(cache, tmp_path,
                                                         monkeypatch):
    page = tmp_path / "page.html"
    page.write_bytes(text(300_000))
    real = gzip_cache.compress_file

    def editing(fd, size, out, claim):
        done = real(fd, size, out, claim)
        with open(page, "ab") as handle:  # written to meanwhile
            handle.write(b"<p>more</p>")
        return done

    monkeypatch.setattr(gzip_cache, "compress_file", editing)
    assert form_of(cache, page) is None
    assert cache.made == 0 and cache.total == 0 and forms(cache) == {}
    monkeypatch.setattr(gzip_cache, "compress_file", real)
    assert form_of(cache, page) == page.read_bytes()


def test_a_shrunk_file_is_not_complete(tmp_path):
    page = tmp_path / "page.html"
    page.write_bytes(text(1000))
    out = tmp_path / "out.gz"
    fd = os.open(page, os.O_RDONLY)
    try:
        with open(out, "wb") as handle:
            assert not compress_file(fd, 2000, handle.fileno(),
                                     lambda size: True)
        with open(out, "wb") as handle:
            assert compress_file(fd, 1000, handle.fileno(),
                                 lambda size: True)
            assert not compress_file(fd, 1000, handle.fileno(),
                                     lambda size: False)  # no room
    finally:
        os.close(fd)
    assert gzip.decompress(out.read_bytes()) == page.read_bytes()


def test_concurrent_requests_share_one_compression(cache, tmp_path,
                                                   monkeypatch):
    page = tmp_path / "page.html"
    page.write_bytes(text(300_000))
    real = gzip_cache.compress_file
    started, go = threading.Event(), threading.Event()
    calls = []

    def slow(*args):
        calls.append(1)
        started.set()
        go.wait(10)
        return real(*args)

    monkeypatch.setattr(gzip_cache, "compress_file", slow)
    results: list[bytes | None] = []
    threads = [threading.Thread(target=lambda: results.append(
        form_of(cache, page))) for _ in range(4)]
    threads[0].start()
    assert started.wait(10)
    for thread in threads[1:]:
        thread.start()
    wait_for(lambda: cache._making[str(page)].waiters == 3, what="waiters")
    go.set()
    for thread in threads:
        thread.join(10)
    assert results == [page.read_bytes()] * 4
    assert len(calls) == 1 and cache.made == 1


def test_the_folder_is_private_and_cleared(cache, tmp_path):
    page = tmp_path / "page.html"
    page.write_bytes(text(300_000))
    assert form_of(cache, page) is not None
    folder = cache.folder
    assert folder is not None and os.path.dirname(folder) == \
        str(tmp_path / "cache")
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    for found in forms(cache).values():
        assert stat.S_IMODE(found.st_mode) == 0o600
    cache.clear()
    assert not os.path.exists(folder) and cache.total == 0
    assert form_of(cache, page) == page.read_bytes()  # a new folder
    assert cache.folder != folder


def test_folders_of_dead_processes_are_removed(tmp_path):
    base = tmp_path / "cache"
    dead = base / "gzip-999999999-abc"  # past any pid
    huge = base / f"gzip-{10**20}-abc"  # past a C long: OverflowError once
    alive = base / f"gzip-{os.getppid()}-abc"
    other = base / "jobs-x.sqlite3"
    for folder in (dead, huge, alive):
        folder.mkdir(parents=True)
        (folder / "1.gz").write_bytes(b"x")
    other.write_text("kept")
    made = gzip_cache.new_folder(str(base))
    assert os.path.isdir(made) and not dead.exists() and not huge.exists()
    assert alive.exists() and other.exists()


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX modes")
def test_a_folder_others_may_write_is_refused(tmp_path):
    base = tmp_path / "shared"
    base.mkdir()
    base.chmod(0o777)
    cache = GzipCache(lambda: str(base))
    page = tmp_path / "page.html"
    page.write_bytes(text(300_000))
    assert form_of(cache, page) is None and cache.folder is None
    assert os.listdir(base) == []
