"""File answers: FileResponse from routes and rpc (sendfile, ETag/304,
Range, Content-Disposition), missing files, and the example's upload form
that sends text and files and gets a file back."""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from urllib.parse import unquote

import pytest

from conftest import get, start_process, stop_process, wait_for
from quick_server import FileResponse, file_return, rpc_call
from quick_server.http.files import ascii_fallback, content_disposition, \
    safe_filename

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class ReportRequest:
    name: str


@dataclass
class ReportResponse:
    missing: str


# -- Content-Disposition (pure) ----------------------------------------------

def disposition_names(value: str) -> dict[str, str]:
    """The filename= and filename*= parameters of a header value, decoded
    as a browser would."""
    names = {}
    for part in value.split(";")[1:]:
        key, _, raw = part.strip().partition("=")
        if key == "filename":
            assert raw.startswith('"') and raw.endswith('"')
            names[key] = raw[1:-1]
        elif key == "filename*":
            charset, _, encoded = raw.partition("''")
            assert charset == "UTF-8"
            names[key] = unquote(encoded, "utf-8", "strict")
    return names


def test_plain_ascii_names_need_no_utf8_form():
    assert content_disposition("report.csv") == \
        'attachment; filename="report.csv"'
    assert content_disposition("a b.txt", inline=True) == \
        'inline; filename="a b.txt"'


@pytest.mark.parametrize("name, fallback, full", [
    ("résumé.pdf", "resume.pdf", "résumé.pdf"),
    ("报告.txt", "__.txt", "报告.txt"),
    ('say "hi".txt', "say _hi_.txt", 'say "hi".txt'),
    ("100%.txt", "100_.txt", "100%.txt"),
    ("back\\slash.txt", "slash.txt", None),
    ("../../etc/passwd", "passwd", None),
    ("line\r\nSet-Cookie: x=1.txt", "lineSet-Cookie: x=1.txt", None),
    ("nul\0.txt", "nul.txt", None),
    ("invoice\u202etxt.exe", "invoicetxt.exe", None),  # no RTL override
    ("..", "download", None),
    ("", "download", None),
    (" .hidden ", "hidden", None),
])
def test_names_are_made_safe_in_both_forms(name, fallback, full):
    value = content_disposition(name)
    assert value.startswith("attachment; ")
    assert not any(ch in value for ch in "\r\n\0/\\\u202e")
    names = disposition_names(value)
    assert names["filename"] == fallback
    assert '"' not in names["filename"] and "%" not in names["filename"]
    if full is not None:
        assert names["filename*"] == full
    else:
        assert names.get("filename*", fallback) == safe_filename(name)


def test_long_names_keep_their_extension():
    name = safe_filename("x" * 500 + ".tar.gz")
    assert len(name) == 200 and name.endswith(".gz")
    assert ascii_fallback("Ærø.txt") == "_r_.txt"


# -- answering files ---------------------------------------------------------

@pytest.fixture
def files(make_server, tmp_path):
    data = os.urandom(256 * 1024)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    (tmp_path / "notes.txt").write_text("some notes")
    made = tmp_path / "made"
    made.mkdir()
    server = make_server(start=False)

    @server.json_get("/file")
    def _file(req, args):
        query = args["query"]
        return FileResponse(str(path), filename=query.get("name"),
                            content_type=query.get("type"),
                            inline="inline" in query)

    @server.text_get("/notes")
    def _notes(req, args):
        return file_return(tmp_path / "notes.txt")

    @server.json_get("/missing")
    def _missing(req, args):
        return FileResponse(str(tmp_path / "nothing.bin"))

    @server.json_get("/folder")
    def _folder(req, args):
        return FileResponse(str(tmp_path))

    @server.json_get("/vanishing")
    def _vanishing(req, args):
        gone = tmp_path / "gone.txt"
        gone.write_text("here a moment")
        answer = FileResponse(str(gone))
        gone.unlink()  # removed between the handler and the answer
        return answer

    @server.json_post("/make")
    def _make(req, args):
        target = made / f"{len(os.listdir(made))}.txt"
        target.write_text(args["post"]["text"])
        return FileResponse(str(target), "made.txt", delete=True)

    @server.json_get("/cached")
    def _cached(req, args):
        return FileResponse(str(path), headers=[
            ("Cache-Control", "max-age=60"), ("X-Report", "1")])

    @server.rpc("/api/report")
    def _report(request: ReportRequest) -> ReportResponse | FileResponse:
        if request.name == "data":
            return FileResponse(str(path), "report.bin")
        return ReportResponse(request.name)

    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.data = data
    server.made = made
    return server


def test_a_file_response_sends_the_file_with_its_name(files):
    status, headers, body = get(files.port, "/file?name=r%C3%A9sum%C3%A9.pdf")
    assert status == 200 and body == files.data
    assert headers["content-type"] == "application/pdf"
    assert headers["content-length"] == str(len(files.data))
    assert headers["content-disposition"] == (
        "attachment; filename=\"resume.pdf\"; "
        "filename*=UTF-8''r%C3%A9sum%C3%A9.pdf")
    assert headers["accept-ranges"] == "bytes"
    status, headers, _ = get(files.port, "/file?inline&type=text/csv")
    assert headers["content-disposition"] == 'inline; filename="data.bin"'
    assert headers["content-type"] == "text/csv"
    status, headers, body = get(files.port, "/notes")
    assert body == b"some notes"
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["content-disposition"] == \
        'attachment; filename="notes.txt"'


def test_a_file_response_answers_ranges_and_validators(files):
    status, headers, body = get(files.port, "/file",
                                headers={"Range": "bytes=10-19"})
    assert status == 206 and body == files.data[10:20]
    assert headers["content-range"] == f"bytes 10-19/{len(files.data)}"
    assert "attachment" in headers["content-disposition"]
    status, _, body = get(files.port, "/file",
                          headers={"Range": "bytes=-5"})
    assert status == 206 and body == files.data[-5:]
    status, headers, body = get(files.port, "/file",
                                headers={"Range": "bytes=0-1,5-6"})
    assert status == 206
    assert headers["content-type"].startswith("multipart/byteranges")
    tag = get(files.port, "/file")[1]["etag"]
    status, headers, body = get(files.port, "/file",
                                headers={"If-None-Match": tag})
    assert (status, body) == (304, b"") and headers["etag"] == tag
    status, _, body = get(files.port, "/file", headers={
        "Range": "bytes=0-3", "If-Range": '"stale"'})
    assert status == 200 and body == files.data
    status, headers, body = get(files.port, "/file", "HEAD")
    assert status == 200 and body == b""
    assert headers["content-length"] == str(len(files.data))


def test_a_missing_file_is_a_404(files):
    assert get(files.port, "/missing")[0] == 404
    assert get(files.port, "/folder")[0] == 404
    assert get(files.port, "/vanishing")[0] == 404
    assert get(files.port, "/file")[0] == 200  # and the server goes on


def test_a_file_made_for_one_answer_is_removed(files):
    status, headers, body = get(files.port, "/make", "POST",
                                json.dumps({"text": "hello"}).encode(),
                                {"Content-Type": "application/json"})
    assert (status, body) == (200, b"hello")
    assert headers["content-disposition"] == 'attachment; filename="made.txt"'
    assert wait_for(lambda: os.listdir(files.made) == [],
                    what="the made file removed")


def test_headers_of_a_file_response_replace_the_defaults(files):
    headers = get(files.port, "/cached")[1]
    assert headers["cache-control"] == "max-age=60"
    assert headers["x-report"] == "1"


def test_an_rpc_may_answer_a_file(files):
    url = f"http://127.0.0.1:{files.port}/api/report"
    assert rpc_call(url, ReportRequest("x"), ReportResponse) == \
        ReportResponse("x")
    assert rpc_call(url, ReportRequest("data"), bytes) == files.data
    # a POST answers the whole file, whatever Range asks for (RFC 9110)
    status, headers, body = get(files.port, "/api/report", "POST",
                                b'{"name": "data"}',
                                {"Content-Type": "application/json",
                                 "Range": "bytes=0-1"})
    assert status == 200 and body == files.data
    assert headers["content-disposition"] == \
        'attachment; filename="report.bin"'
    schema = json.loads(get(files.port, "/api/report")[2])["response"]
    assert schema["anyOf"][1]["title"] == "file"


# -- the example's upload form -------------------------------------------------

def multipart(fields: dict[str, str],
              files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = "qs-test-boundary"
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; '
                     f'name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; '
                     f'name="{name}"; filename="{filename}"\r\n'
                     f'Content-Type: application/octet-stream\r\n\r\n'
                     .encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def test_the_example_upload_form_gets_a_file_back(tmp_path):
    # under setup_restart() on port 0 (the supervisor would keep a
    # handed socket from its child): the port from the URL it prints
    proc = start_process([os.path.join(ROOT, "example", "example.py")],
                         cwd=tmp_path, env={**os.environ, "PORT": "0",
                                            "PYTHONPATH": ROOT})
    port = proc.port
    try:
        status, _, page = get(port, "/files.html")
        assert status == 200 and b'enctype="multipart/form-data"' in page
        assert b'href="files.html"' in get(port, "/")[2]
        body, ctype = multipart({"title": "Notes"},
                                {"first": ("a.txt", b"alpha\n"),
                                 "second": ("b.txt", b"beta\n")})
        status, headers, data = get(port, "/api/bundle", "POST", body,
                                    {"Content-Type": ctype})
        assert status == 200
        assert headers["content-disposition"] == \
            'attachment; filename="Notes.txt"'
        text = data.decode()
        assert text.startswith("Notes\n")
        assert "a.txt (6 bytes)\nalpha\n" in text
        assert "b.txt (5 bytes)\nbeta\n" in text
    finally:
        assert stop_process(proc)[0] == 0


def test_the_upload_form_downloads_a_file_in_chromium(tmp_path, chromium):
    """files.html in a real browser: two files and a title that is not
    ASCII are sent; the browser saves the answer under that title (the
    RFC 5987 form of Content-Disposition) with the files' content."""
    # under setup_restart() on port 0 (the supervisor would keep a
    # handed socket from its child): the port from the URL it prints
    proc = start_process([os.path.join(ROOT, "example", "example.py")],
                         cwd=tmp_path, env={**os.environ, "PORT": "0",
                                            "PYTHONPATH": ROOT})
    port = proc.port
    try:
        page = chromium.new_page(accept_downloads=True)
        try:
            page.goto(f"http://127.0.0.1:{port}/files.html")
            page.fill("input[name=title]", "Résumé 2024")
            page.set_input_files("input[name=first]", {
                "name": "a.txt", "mimeType": "text/plain",
                "buffer": b"alpha\n"})
            page.set_input_files("input[name=second]", {
                "name": "b.txt", "mimeType": "text/plain",
                "buffer": b"beta\n"})
            with page.expect_download(timeout=20000) as info:
                page.click("button[type=submit]")
            download = info.value
            assert download.suggested_filename == "Résumé 2024.txt"
            with open(download.path(), encoding="utf-8") as handle:
                text = handle.read()
        finally:
            page.close()
        assert text == ("Résumé 2024\n\na.txt (6 bytes)\nalpha\n"
                        "\nb.txt (5 bytes)\nbeta\n")
    finally:
        assert stop_process(proc)[0] == 0


# -- a worker's file answer ---------------------------------------------------

@pytest.fixture
def file_worker(make_server, tmp_path):
    server = make_server()
    server.bind_path("/", str(tmp_path))
    server.link_worker_js("/js/worker.js")
    server.workers.sweep_interval = 0

    @server.json_worker("/report")
    def _report(payload):
        path = tmp_path / f"report-{payload['n']}.txt"
        path.write_text("line\n" * payload["n"])
        return FileResponse(path, "Report.txt", delete=payload.get("once"))

    return server


def _start(port, payload):
    status, _, body = get(port, "/report", "POST", json.dumps(
        {"action": "start", "wait": 10, "payload": payload}).encode())
    assert status == 200, body
    return json.loads(body)


def test_a_worker_answers_with_a_download_url(file_worker, tmp_path):
    port = file_worker.port
    res = _start(port, {"n": 3})
    info = json.loads(res["result"])["file"]
    assert info == {"url": f"/report/file/{res['token']}",
                    "filename": "Report.txt",
                    "content_type": "text/plain; charset=utf-8", "size": 15}
    status, headers, data = get(port, info["url"])
    assert status == 200 and data == b"line\n" * 3
    assert headers["content-disposition"] == 'attachment; filename="Report.txt"'
    status, _, part = get(port, info["url"], headers={"Range": "bytes=5-9"})
    assert status == 206 and part == b"line\n"
    assert get(port, info["url"])[0] == 200  # again: kept for the client
    # released with the job: the URL is gone, a made-for-once file too
    res = _start(port, {"n": 2, "once": True})
    url = json.loads(res["result"])["file"]["url"]
    assert get(port, url)[0] == 200
    assert (tmp_path / "report-2.txt").exists()
    get(port, "/report", "POST", json.dumps(
        {"action": "stop", "token": res["token"]}).encode())
    assert get(port, url)[0] == 404
    assert not (tmp_path / "report-2.txt").exists()
    assert get(port, "/report/file/not-a-token")[0] == 404


def test_an_unfetched_file_answer_expires(file_worker, tmp_path):
    # (the server may be checking its settings as they change: each step
    # keeps redeliver_timeout <= result_timeout)
    file_worker.workers.redeliver_timeout = 0.1
    file_worker.workers.result_timeout = 0.3
    res = _start(file_worker.port, {"n": 1, "once": True})
    url = json.loads(res["result"])["file"]["url"]
    # a request about this job would keep it: others make the server
    # sweep, and the file goes with the job
    other = json.dumps({"action": "get", "token": "other"}).encode()
    wait_for(lambda: get(file_worker.port, "/report", "POST", other)[0] == 404
             and not (tmp_path / "report-1.txt").exists(),
             what="the file answer to expire")
    assert get(file_worker.port, url)[0] == 404


def test_a_worker_file_is_fetched_in_chromium(file_worker, tmp_path,
                                              chromium):
    (tmp_path / "index.html").write_text(
        '<!DOCTYPE html><script src="/js/worker.js"></script><script>'
        'new quick_server.Worker().post("r", "/report", {n: 4}, '
        'async (result) => { const answer = await fetch(result.file.url); '
        'window.got = [answer.status, await answer.text(), '
        'result.file.filename]; });</script>')
    page = chromium.new_page()
    try:
        page.goto(f"http://127.0.0.1:{file_worker.port}/index.html")
        page.wait_for_function("window.got !== undefined", timeout=20000)
        assert page.evaluate("window.got") == [200, "line\n" * 4,
                                               "Report.txt"]
    finally:
        page.close()
