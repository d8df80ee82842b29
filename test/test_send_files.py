"""`send_files` (16.26): text and files in, a file out, against a real
server route that takes uploads and answers a `FileResponse`. Files are
streamed both ways; names from the caller cannot break the multipart head,
names from the server cannot leave the folder or replace a file; errors
and timeouts are `RpcError`s as for `rpc_call`."""
from __future__ import annotations

import hashlib
import io
import json
import os
import threading
from typing import Any

import pytest

from conftest import run_in_thread
from quick_server import FileResponse, Response, RpcError, send_files
from quick_server.multipart_client import header_quoted


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def app(make_server, tmp_path):
    """A server whose /convert takes form fields and files and answers a
    file; what it received is kept in `app.seen`."""
    server = make_server(start=False)
    server.seen = []
    server.release = threading.Event()
    server.unavailable = 0
    work = tmp_path / "work"
    work.mkdir()

    @server.json_post("/convert")
    def _convert(req, args):
        files = {name: (up.filename, up.content_type, digest(up.content),
                        up.size) for name, up in args["files"].items()}
        server.seen.append({"post": dict(args["post"]), "files": files})
        upload = args["files"]["doc"]
        out = work / f"out-{len(server.seen)}.txt"
        out.write_bytes(upload.content.upper())
        return FileResponse(out, filename=args["post"].get("name", "x.txt"),
                            delete=True)

    @server.json_post("/named")
    def _named(req, args):
        return Response(b"payload", 200, "application/octet-stream", [
            ("Content-Disposition", args["post"]["disposition"])])

    @server.json_post("/echo")
    def _echo(req, args):
        return {"post": args["post"],
                "files": {k: v.content.decode() for k, v in
                          args["files"].items()}}

    @server.json_post("/busy")
    def _busy(req, args):
        server.unavailable += 1
        if server.unavailable == 1:
            return Response("later", 503, "text/plain",
                            [("Retry-After", "0")])
        return {"tries": server.unavailable}

    @server.json_post("/slow")
    def _slow(req, args):
        server.release.wait(10)
        return {"late": True}

    @server.json_post("/missing")
    def _missing(req, args):
        return Response({"error": "no such report"}, 404)

    run_in_thread(server)
    server.url = f"http://127.0.0.1:{server.port}"
    yield server
    server.release.set()


def test_fields_and_files_in_a_file_out(app, tmp_path):
    big = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "scan.bin"
    path.write_bytes(big)
    notes = io.BytesIO(b"xx-skipped-" + b"some notes")
    notes.seek(len(b"xx-skipped-"))  # sent from where the object stands
    answer = send_files(app.url + "/convert",
                        {"name": "report.txt", "lang": "de", "n": 3},
                        {"doc": str(path),
                         "notes": ("notes.md", notes),
                         "raw": ("data", io.BytesIO(b"\x00\x01"),
                                 "application/x-custom")})
    assert answer.status == 200 and answer.path is None
    assert answer.content == big.upper()
    assert answer.headers["content-disposition"] == \
        'attachment; filename="report.txt"'
    seen = app.seen[-1]
    assert seen["post"] == {"name": "report.txt", "lang": "de", "n": "3"}
    assert seen["files"] == {
        "doc": ("scan.bin", "application/octet-stream", digest(big),
                len(big)),
        "notes": ("notes.md", "text/markdown", digest(b"some notes"), 10),
        "raw": ("data", "application/x-custom", digest(b"\x00\x01"), 2)}


def test_the_answer_streamed_into_a_folder_never_replacing(app, tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes(b"hello " * 50_000)
    folder = tmp_path / "downloads"
    folder.mkdir()
    (folder / "report.txt").write_text("mine, keep it")
    paths = []
    for _ in range(3):
        answer = send_files(app.url + "/convert", {"name": "report.txt"},
                            {"doc": src}, save_to=folder)
        assert answer.status == 200 and answer.content is None
        paths.append(answer.path)
    assert paths == [str(folder / f"report-{i}.txt") for i in (1, 2, 3)]
    assert (folder / "report.txt").read_text() == "mine, keep it"
    assert (folder / "report-3.txt").read_bytes() == b"HELLO " * 50_000
    with pytest.raises(NotADirectoryError):
        send_files(app.url + "/convert", {"name": "a"}, {"doc": src},
                   save_to=folder / "nothing")


@pytest.mark.parametrize("disposition, saved", [
    ('attachment; filename="../../evil.sh"', "evil.sh"),
    ('attachment; filename="/etc/passwd"', "passwd"),
    ('attachment; filename="..\\\\..\\\\win.ini"', "win.ini"),
    ('attachment; filename=".."', "download"),
    ("attachment; filename*=UTF-8''..%2F..%2F%C3%A4rger.txt", "ärger.txt"),
    ("attachment; filename=\"plain.txt\"; filename*=UTF-8''%E2%82%AC.txt",
     "€.txt"),
    ("attachment; filename*=UTF-8''a%7Fb%E2%80%AEtxt.exe", "abtxt.exe"),
    ("inline", "named"),
])
def test_a_server_name_cannot_leave_the_folder(app, tmp_path, disposition,
                                                saved):
    folder = tmp_path / "dl"
    folder.mkdir()
    answer = send_files(app.url + "/named", {"disposition": disposition},
                        save_to=folder)
    assert answer.path == str(folder / saved)
    assert os.listdir(folder) == [saved]
    assert (folder / saved).read_bytes() == b"payload"


def test_caller_names_cannot_break_the_multipart_head(app):
    hostile = 'x"\r\nContent-Type: text/evil\r\n\r\nInjected\\'
    answer = send_files(app.url + "/echo", {hostile: "v", "ä": "ü"},
                        {"f": (hostile, io.BytesIO(b"body"))})
    got = json.loads(answer.content)
    escaped = 'x%22%0D%0AContent-Type: text/evil%0D%0A%0D%0AInjected%5C'
    assert got == {"post": {escaped: "v", "ä": "ü"},
                   "files": {"f": "body"}}
    assert header_quoted('a"b\\c\x00\x1f\x7fé') == "a%22b%5Cc%00%1F%7Fé"
    for bad in ({"X-A": "1\r\nX-Injected: 1"}, {"X-A\r\nB": "1"},
                {"X-A": "a\nb"}, {"X-A": "\x00"}):
        with pytest.raises(ValueError):
            send_files(app.url + "/echo", {"a": "b"}, headers=bad)
    with pytest.raises(ValueError, match="content type"):
        send_files(app.url + "/echo",
                   files={"f": ("a", io.BytesIO(b""), "text/x\r\nX: y")})
    assert len(app.seen) == 0


def test_files_are_streamed_not_read_whole(app):
    class Recorder(io.BytesIO):
        """A file that records the size of every read."""
        sizes: list[int]

        def read(self, size: Any = -1) -> bytes:
            self.sizes.append(size)
            return super().read(size)

    data = os.urandom(1024 * 1024)
    recorder = Recorder(data)
    recorder.sizes = []
    answer = send_files(app.url + "/convert", {"name": "r"},
                        {"doc": ("big.bin", recorder)})
    assert answer.content == data.upper()
    reads = [n for n in recorder.sizes if n != 0]
    assert reads and all(0 < n <= 65536 for n in reads)
    # a pipe (not seekable): sent chunked, its length unknown beforehand
    rfd, wfd = os.pipe()

    def feed():
        with open(wfd, "wb") as pipe:
            for _ in range(40):
                pipe.write(b"piped " * 1000)

    writer = threading.Thread(target=feed)
    writer.start()
    with open(rfd, "rb") as pipe:
        answer = send_files(app.url + "/convert", {"name": "p"},
                            {"doc": ("p.txt", pipe)})
    writer.join(10)
    assert answer.content == b"PIPED " * 40_000


def test_errors_and_timeouts_are_rpc_errors(app, tmp_path, refused_port):
    with pytest.raises(RpcError) as err:
        send_files(app.url + "/missing", {"a": "b"})
    assert err.value.status == 404 and "no such report" in str(err.value)
    with pytest.raises(RpcError) as err:
        send_files(app.url + "/nothing-here", {"a": "b"})
    assert err.value.status == 404
    # a 503 with Retry-After is tried again, files sent anew
    src = tmp_path / "f.txt"
    src.write_bytes(b"again")
    answer = send_files(app.url + "/busy", files={"doc": src})
    assert answer.status == 200 and answer.content == b'{"tries":2}'
    with pytest.raises(RpcError) as err:
        send_files(app.url + "/slow", {"a": "b"}, timeout=0.3)
    app.release.set()
    assert err.value.status is None and "timed out" in str(err.value)
    with pytest.raises(RpcError) as err:
        send_files(f"http://127.0.0.1:{refused_port}/x", {"a": "b"})
    assert err.value.status is None and "cannot connect" in str(err.value)
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 4_000_000)
    app.max_upload_size = 1000
    with open(big, "rb") as handle:
        for files in ({"doc": big}, {"doc": ("big.bin", handle)}):
            with pytest.raises(RpcError) as err:
                send_files(app.url + "/convert", files=files)
            assert err.value.status == 413
    rfd, wfd = os.pipe()  # chunked: refused once it grows past the limit
    with open(wfd, "wb") as pipe:
        pipe.write(b"y" * 5000)
    with open(rfd, "rb") as pipe, pytest.raises(RpcError) as err:
        send_files(app.url + "/convert", files={"doc": ("p", pipe)})
    assert err.value.status == 413


def test_bad_arguments_fail_before_anything_is_sent(app, tmp_path):
    with pytest.raises(FileNotFoundError):
        send_files(app.url + "/echo", files={"f": tmp_path / "none"})
    with pytest.raises(TypeError, match="binary mode"):
        send_files(app.url + "/echo", files={"f": ("a", io.StringIO("x"))})
    with pytest.raises(TypeError, match="form field 'a'"):
        send_files(app.url + "/echo", {"a": None})
    assert app.seen == []


def test_rfc_2231_parameters_are_decoded_with_their_charset():
    """A part (or answer) named with `filename*=UTF-8''...` gets the name
    decoded as UTF-8, not as Latin-1 (`Ã¤` for `ä`)."""
    from quick_server.http.body import header_params
    assert header_params("form-data; name=\"f\"; "
                         "filename*=UTF-8''%C3%A4rger%20%E2%82%AC.txt") == (
        "form-data", {"name": "f", "filename": "ärger €.txt"})
