"""Dynamic routes: decorators, arguments, bodies, uploads, errors,
middleware, cookies, logging."""
from __future__ import annotations

import io
import json
import os
import threading

import pytest

from quick_server import PreventDefaultResponse, Response, log
from conftest import get, raw, statuses, wait_for


@pytest.fixture
def api(make_server):
    server = make_server()

    @server.json_post("/json", 0)
    def _json(req, args):
        return {"post": args["post"], "query": args["query"]}

    @server.text_get("/text")
    def _text(req, args):
        return f"paths={args['paths']} fragment={args['fragment']}"

    @server.json_get("/api/user/:id/")
    def _user(req, args):
        return {"id": args["segments"]["id"], "paths": args["paths"]}

    @server.json_put("/put")
    def _put(req, args):
        return {"method": "PUT", "post": args["post"]}

    @server.text_delete("/del", 1)
    def _delete(req, args):
        return "deleted " + args["paths"][0]

    @server.json_post("/upload")
    def _upload(req, args):
        return {"post": args["post"], "files": {
            name: {"filename": f.filename, "size": f.size,
                   "head": f.content[:10].decode("latin-1")}
            for name, f in args["files"].items()}}

    @server.json_get("/custom")
    def _custom(req, args):
        return Response({"made": True}, 201)

    @server.text_get("/prevent")
    def _prevent(req, args):
        raise PreventDefaultResponse(418, "I refuse")

    @server.json_get("/boom")
    def _boom(req, args):
        raise RuntimeError("secret detail")

    @server.json_get("/cookie")
    def _cookie(req, args):
        from http.cookies import SimpleCookie
        out = SimpleCookie()
        out["seen"] = "yes"
        req.send_cookie(out)
        cookie = args["cookie"]
        return {"got": cookie["a"].value if cookie else None}

    return server


def test_json_post_and_query(api):
    status, headers, body = get(api.port, "/json?x=1&flag&s=a+b", "POST",
                                b'{"a": [1, 2]}',
                                {"Content-Type": "application/json"})
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"post": {"a": [1, 2]},
                                "query": {"x": "1", "flag": True, "s": "a b"}}
    # argc=0: extra segments do not match
    assert get(api.port, "/json/extra", "POST", b"{}")[0] == 404


def test_form_and_text(api):
    status, _, body = get(api.port, "/json", "POST", b"a=1&b=%C3%A4", {
        "Content-Type": "application/x-www-form-urlencoded"})
    assert json.loads(body)["post"] == {"a": "1", "b": "ä"}
    status, headers, body = get(api.port, "/text/x/y%20z#frag")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    assert body == b"paths=['x', 'y z'] fragment=frag"


def test_segments_put_delete(api):
    assert json.loads(get(api.port, "/api/user/42/more")[2]) == {
        "id": "42", "paths": ["more"]}
    assert json.loads(get(api.port, "/put", "PUT", b'{"v": 1}')[2]) == {
        "method": "PUT", "post": {"v": 1}}
    assert get(api.port, "/del/7", "DELETE")[2] == b"deleted 7"
    assert get(api.port, "/del", "DELETE")[0] == 404  # argc=1


def test_response_prevent_and_500(api, capsys):
    status, _, body = get(api.port, "/custom")
    assert status == 201 and json.loads(body) == {"made": True}
    status, _, body = get(api.port, "/prevent")
    assert status == 418 and b"I refuse" in body
    # a client that is not on this machine gets the plain 500
    status, _, body = get(api.port, "/boom",
                          headers={"X-Forwarded-For": "203.0.113.9"})
    assert status == 500 and b"secret" not in body
    assert "RuntimeError: secret detail" in capsys.readouterr().err
    assert get(api.port, "/custom")[0] == 201  # still serving


@pytest.mark.parametrize("body", [
    b"{", b'{"a": }', b"\xff\xfe", b"[" * 100000 + b"]" * 100000,
    b'{"a":' * 5000 + b"1" + b"}" * 5000,
])
def test_malformed_json_is_400(api, body):
    status, _, text = get(api.port, "/json", "POST", body,
                          {"Content-Type": "application/json"})
    assert status == 400, text


def multipart(boundary: str, parts: list[tuple[str, str | None, bytes]]
              ) -> bytes:
    out = io.BytesIO()
    for name, filename, content in parts:
        out.write(f"--{boundary}\r\n".encode())
        disp = f'form-data; name="{name}"'
        if filename is not None:
            disp += f'; filename="{filename}"'
        out.write(f"Content-Disposition: {disp}\r\n\r\n".encode())
        out.write(content + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue()


def test_multipart_upload(api):
    big = os.urandom(3 * 1024 * 1024)
    data = multipart("XyZ", [("field", None, b"value"),
                             ("up", "a.bin", big),
                             ("small", "s.txt", b"hello")])
    status, _, body = get(api.port, "/upload", "POST", data, {
        "Content-Type": "multipart/form-data; boundary=XyZ"})
    assert status == 200, body
    res = json.loads(body)
    assert res["post"] == {"field": "value"}
    assert res["files"]["up"]["size"] == len(big)
    assert res["files"]["up"]["head"] == big[:10].decode("latin-1")
    assert res["files"]["small"] == {"filename": "s.txt", "size": 5,
                                     "head": "hello"}
    # a repeated file field: the last one wins
    data = multipart("b", [("f", "1.txt", b"one"), ("f", "2.txt", b"two")])
    res = json.loads(get(api.port, "/upload", "POST", data, {
        "Content-Type": "multipart/form-data; boundary=b"})[2])
    assert res["files"]["f"] == {"filename": "2.txt", "size": 3,
                                 "head": "two"}


@pytest.mark.parametrize("ctype,data", [
    ("multipart/form-data", b"--x\r\n\r\n--x--"),
    ("multipart/form-data; boundary=", b"--\r\n"),
    ("multipart/form-data boundary=x", b"--x--"),
    ("multipart/form-data; boundary=x",
     b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\ntrunc'),
    ("multipart/form-data; boundary=x", b"no boundary here"),
    ("multipart/form-data; boundary=x",
     b"--x\r\nContent-Disposition: attachment\r\n\r\nv\r\n--x--"),
])
def test_malformed_multipart_is_400(api, ctype, data):
    status, _, body = get(api.port, "/upload", "POST", data,
                          {"Content-Type": ctype})
    assert status == 400, body


def test_upload_limit_enforced_while_reading(api):
    api.max_file_size = 1024 * 1024
    data = multipart("b", [("up", "big.bin", b"x" * (8 * 1024 * 1024))])
    head = ("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
            "\r\nContent-Type: multipart/form-data; boundary=b\r\n\r\n")
    body = b"".join(f"{len(data[i:i + 65536]):x}\r\n".encode() +
                    data[i:i + 65536] + b"\r\n"
                    for i in range(0, len(data), 65536)) + b"0\r\n\r\n"
    assert statuses(raw(api.port, head.encode() + body)) == [413]
    status = get(api.port, "/upload", "POST", data, {
        "Content-Type": "multipart/form-data; boundary=b"})[0]
    assert status == 413
    # refused from its declared length: the client can still send it all
    # and read the answer (lingering close), not get a reset
    assert get(api.port, "/upload", "POST", b"x" * (11 << 20))[0] == 413


def test_middleware(make_server):
    server = make_server()

    def login(req, args, okay):
        if args["query"].get("token") == "good":
            args["meta"]["user"] = "ann"
            return okay
        return Response("Authentication Required", 401)

    @server.json_get("/me")
    @server.middleware(login)
    def _me(req, args):
        return {"user": args["meta"]["user"]}

    with server.middlewares(login):
        @server.text_get("/other")
        def _other(req, args):
            return args["meta"]["user"]

    assert get(server.port, "/me?token=good")[2] == b'{"user":"ann"}'
    assert get(server.port, "/me")[0] == 401
    assert get(server.port, "/other?token=good")[2] == b"ann"
    assert get(server.port, "/other")[0] == 401


def test_specific_mask_wins_and_add_mask(make_server):
    server = make_server()
    server.add_json_get_mask("/a", lambda req, args: {"r": "a"})
    server.add_text_get_mask("/a/b", lambda req, args: "ab")
    assert get(server.port, "/a/b")[2] == b"ab"
    assert get(server.port, "/a/c")[2] == b'{"r":"a"}'


def test_cookies(api):
    status, headers, body = get(api.port, "/cookie",
                                headers={"Cookie": "a=1; b=2"})
    assert json.loads(body) == {"got": "1"}
    assert headers["set-cookie"] == "seen=yes"


def test_request_log(make_server, capsys):
    server = make_server()
    server.suppress_noise = False

    @server.json_get("/x")
    def _x(req, args):
        return {}

    def logged(*paths):
        for path in paths:
            get(server.port, path)
        # the line is written just after the response: wait for the last
        seen = []
        wait_for(lambda: seen.append(capsys.readouterr().err) or
                 paths[-1] in "".join(seen), what="the log line")
        return "".join(seen)

    err = logged("/x", "/nothing")
    assert '"GET /x HTTP/1.1" 200 2 B' in err and " 404 " in err
    server.suppress_noise = True
    err = logged("/x", "/nothing")
    assert "GET /x" not in err and "GET /nothing" in err


def test_msg_format(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(log, "TIME_FORMAT", None)  # (lines start with it)
    log.msg("{0} and {1}", 1, "two")
    assert capsys.readouterr().err == "[SERVER] 1 and two\n"
    path = tmp_path / "log.txt"
    with open(path, "w") as handle:
        log.set_log_file(handle)
        try:
            log.msg("to the file")
        finally:
            log.set_log_file(None)
    assert path.read_text() == "[SERVER] to the file\n"
    assert log.size_string(1536) == "1.5 KiB"
    assert log.elapsed_string(0.0123) == "12.3ms"


# -- one request, one response; handler errors are the server's ----------

def test_send_error_is_the_one_response(make_server):
    server = make_server()

    @server.json_get("/forbid")
    def _forbid(req, args):
        req.send_error(403, "Not yours")
        return {"ignored": True}

    reply = raw(server.port, b"GET /forbid HTTP/1.1\r\nHost: x\r\n\r\n"
                b"GET /forbid HTTP/1.1\r\nHost: x\r\nConnection: close"
                b"\r\n\r\n")
    assert statuses(reply) == [403, 403]  # keep-alive framing intact
    assert b"ignored" not in reply and b"Not yours" in reply


@pytest.mark.parametrize("error", [ConnectionRefusedError, TimeoutError,
                                   BrokenPipeError, OSError])
def test_handler_socket_errors_are_500s(make_server, capsys, error):
    """A database that went away is the server's problem, not a client
    that hung up: a 500 with the traceback in the log."""
    server = make_server()

    @server.json_get("/db")
    def _db(req, args):
        raise error("database went away")

    status, _, body = get(server.port, "/db",
                          headers={"X-Forwarded-For": "203.0.113.9"})
    assert status == 500 and b"database" not in body
    wait_for(lambda: "database went away" in capsys.readouterr().err,
             what="the traceback in the log")


def test_nan_and_infinity_are_null(make_server):
    server = make_server()

    @server.json_get("/nums")
    def _nums(req, args):
        return {"nan": float("nan"), "inf": [float("inf"), -float("inf")],
                "fine": 1.5, "nested": {"x": (float("nan"),)}}

    status, _, body = get(server.port, "/nums")
    assert status == 200
    assert json.loads(body) == {"nan": None, "inf": [None, None],
                                "fine": 1.5, "nested": {"x": [None]}}
    assert b"NaN" not in body and b"Infinity" not in body


# -- PATCH ------------------------------------------------------------------

def test_patch_routes(make_server):
    server = make_server()

    @server.json_patch("/item/:id")
    def _patch(req, args):
        return {"id": args["segments"]["id"], "set": args["post"]}

    @server.text_patch("/note")
    def _note(req, args):
        return "patched " + args["post"]

    server.add_route("PATCH", "json", "/raw", lambda req, args: [1])

    @server.json_get("/item/:id")
    def _get(req, args):
        return {}

    status, _, body = get(server.port, "/item/3", "PATCH", b'{"a": 1}',
                          {"Content-Type": "application/json"})
    assert status == 200 and json.loads(body) == {"id": "3",
                                                  "set": {"a": 1}}
    assert get(server.port, "/note", "PATCH", b"x",
               {"Content-Type": "text/plain"})[2] == b"patched x"
    assert get(server.port, "/raw", "PATCH")[2] == b"[1]"
    status, headers, _ = get(server.port, "/item/3", "DELETE")
    assert status == 405 and headers["allow"] == "GET, HEAD, PATCH"
    status, headers, _ = get(server.port, "/item/3", "OPTIONS")
    assert status == 204 and headers["allow"] == "GET, HEAD, PATCH, OPTIONS"
    assert get(server.port, "/item/3", "BREW")[0] == 501


# -- registration -----------------------------------------------------------

def test_registering_a_route_twice_is_an_error(make_server):
    server = make_server()

    @server.json_get("/a/:x")
    def _a(req, args):
        return {}

    for again in (lambda: server.json_get("/a/:x")(_a),
                  lambda: server.add_json_get_mask("/a/:y", _a),
                  lambda: server.text_get("/a/:x/")(_a)):
        with pytest.raises(ValueError, match="GET /a/"):
            again()
    server.json_post("/a/:x")(_a)  # another method is another route
    server.json_get("/a/:x", 1)(_a)  # another argc too


def test_routes_added_while_serving(make_server):
    """Requests keep matching while routes are registered (the table is
    swapped, never sorted in place)."""
    server = make_server()
    server.add_json_get_mask("/stable", lambda req, args: {"ok": True})
    failures = []
    done = threading.Event()

    def client():
        while not done.is_set():
            status = get(server.port, "/stable")[0]
            if status != 200:
                failures.append(status)

    threads = [threading.Thread(target=client) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for n in range(300):
            server.add_json_get_mask(f"/r{n}/x/y", lambda req, args: {})
    finally:
        done.set()
        for thread in threads:
            thread.join(10)
    assert not failures
    assert get(server.port, "/r299/x/y")[0] == 200


# -- uploads ------------------------------------------------------------------

def test_max_file_size_is_per_file(api):
    api.max_file_size = 100 * 1024
    ok = [("a", "a.bin", b"a" * 90 * 1024), ("b", "b.bin", b"b" * 90 * 1024)]
    data = multipart("b", ok)
    status, _, body = get(api.port, "/upload", "POST", data, {
        "Content-Type": "multipart/form-data; boundary=b"})
    assert status == 200, body  # 180 KiB in all: each file is in bounds
    data = multipart("b", ok + [("c", "c.bin", b"c" * 101 * 1024)])
    status, _, body = get(api.port, "/upload", "POST", data, {
        "Content-Type": "multipart/form-data; boundary=b"})
    assert status == 413 and b"'c'" in body
    api.max_upload_size = 150 * 1024  # the whole body has its own limit
    status = get(api.port, "/upload", "POST", multipart("b", ok), {
        "Content-Type": "multipart/form-data; boundary=b"})[0]
    assert status == 413


def test_large_uploads_are_spooled_to_disk(make_server):
    server = make_server()
    seen = {}

    @server.json_post("/up")
    def _up(req, args):
        for name, upload in args["files"].items():
            seen[name] = (upload.size, upload.file._rolled)  # noqa: SLF001
        return {}

    data = multipart("b", [("small", "s.bin", b"s" * 1000),
                           ("big", "b.bin", os.urandom(2 * 1024 * 1024))])
    assert get(server.port, "/up", "POST", data, {
        "Content-Type": "multipart/form-data; boundary=b"})[0] == 200
    assert seen == {"small": (1000, False), "big": (2 * 1024 * 1024, True)}


# -- slow requests ------------------------------------------------------------

def test_report_slow_requests(make_server, capsys):
    server = make_server()
    server.report_slow_requests = True
    server.slow_request = 0.2
    release = threading.Event()

    @server.json_get("/slow")
    def _slow(req, args):
        release.wait(0.5)  # longer than slow_request: reported
        return {}

    @server.json_get("/fast")
    def _fast(req, args):
        return {}

    assert get(server.port, "/fast")[0] == 200
    assert get(server.port, "/slow")[0] == 200
    seen = []
    wait_for(lambda: seen.append(capsys.readouterr().err) or
             "SLOW REQUEST" in "".join(seen), what="the slow request line")
    text = "".join(seen)
    assert 'SLOW REQUEST 127.0.0.1 "GET /slow HTTP/1.1" 200' in text
    assert "/fast" not in text  # suppress_noise: fast 200s stay quiet
