"""The pure request pipeline, without any socket: `Request` values are
built by hand, `dispatch(server, request)` answers them with a `Response`,
and these tests look at that value (status, type, headers, body, what it
holds open). The server is made with `bind_and_activate=False`: it binds
and listens nowhere and starts no thread."""
from __future__ import annotations

import gzip
import io
import json
import os
import threading
from http.cookies import SimpleCookie
from typing import Any, Iterable, Iterator

import pytest

from quick_server import QuickServer
from quick_server.http.dispatch import dispatch, finish, resolve
from quick_server.http.errorpage import PLAIN, PLAIN_JSON
from quick_server.http.file_answers import FileSpan
from quick_server.http.files import FileResponse
from quick_server.http.hand_written import HandWritten
from quick_server.http.livescript import SCRIPT_TAG
from quick_server.http.request import Request
from quick_server.http.responses import (HTTPError, Response,
                                         StreamResponse, UnsafeHeader,
                                         WaitingResponse)
from quick_server.http.wire import Body, Headers, RequestHead

LOCAL = ("127.0.0.1", 50000)
REMOTE = ("203.0.113.7", 50000)


# -- helpers ---------------------------------------------------------------

@pytest.fixture
def server() -> Iterator[QuickServer]:
    threads = threading.active_count()
    made = QuickServer(("127.0.0.1", 0), bind_and_activate=False)
    made.suppress_noise = True
    assert made.socket.getsockname()[1] == 0  # bound to no port
    assert threading.active_count() == threads  # and nothing runs
    yield made
    made.server_close()


def make_request(server: QuickServer, method: str, target: str,
                 headers: Iterable[tuple[str, str]] = (), body: bytes = b"",
                 *, writer: Any = None,
                 client: tuple[str, int] = LOCAL) -> Request:
    """A request as the connection layer would hand it to `dispatch`."""
    pairs = [("Host", "testserver"), *headers]
    if body or method in ("POST", "PUT", "PATCH"):
        pairs.append(("Content-Length", str(len(body))))
    head = RequestHead(method, target, "HTTP/1.1", Headers(pairs))
    return Request(server, head, client,
                   Body(io.BufferedReader(io.BytesIO(body)), len(body)),
                   writer=writer)


def ask(server: QuickServer, method: str, target: str,
        headers: Iterable[tuple[str, str]] = (), body: bytes = b"",
        **kwargs: Any) -> Response:
    return dispatch(server, make_request(server, method, target, headers,
                                         body, **kwargs))


def header(response: Response, name: str) -> str | None:
    values = all_headers(response, name)
    assert len(values) <= 1, values
    return values[0] if values else None


def all_headers(response: Response, name: str) -> list[str]:
    return [value for key, value in response.headers
            if key.lower() == name.lower()]


def open_fds() -> set[str]:
    """The descriptors open now (without the one listing them, closed by
    the time `listdir` returns)."""
    names = os.listdir("/proc/self/fd")
    return {name for name in names if _is_open(int(name))}


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


@pytest.fixture
def www(tmp_path: Any, server: QuickServer) -> Any:
    root = tmp_path / "www"
    root.mkdir()
    (root / "page.html").write_text("<html><body><h1>page</h1></body>"
                                    "</html>")
    (root / "same.txt").write_text("the file")
    (root / "small.txt").write_text("small file\n")
    (root / "big.txt").write_bytes(b"x" * (server._static.small_files
                                           .max_file + 1000))
    server.bind_path("/", str(root))
    return root


# -- the fixed order -------------------------------------------------------

def test_the_server_binds_nothing(server):
    assert server.socket.getsockname() == ("0.0.0.0", 0)


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "BREW", "get"])
def test_an_unknown_method_is_a_501(server, method):
    server.add_json_get_mask("/x", lambda req, args: {})
    response = ask(server, method, "/x")
    assert response.code == 501
    assert response.ctype == "text/plain; charset=utf-8"
    assert response.response == f"Method {method} is not supported\n" \
        .encode()


def test_options_answers_204_with_allow(server):
    server.add_json_get_mask("/api/x", lambda req, args: {})
    server.add_json_post_mask("/api/x", lambda req, args: {})
    response = ask(server, "OPTIONS", "/api/x")
    assert response.code == 204 and response.response == b""
    assert header(response, "Allow") == "GET, HEAD, POST, OPTIONS"
    assert header(response, "Access-Control-Allow-Origin") is None
    assert header(response, "Access-Control-Allow-Methods") is None


def test_options_of_an_unknown_path_and_star_allow_every_method(server):
    for target in ("/nothing/here", "*"):
        response = ask(server, "OPTIONS", target)
        assert response.code == 204
        assert header(response, "Allow") == \
            "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"


def test_options_is_a_preflight_with_cross_origin(server):
    server.cross_origin = True
    server.add_json_put_mask("/api/x", lambda req, args: {})
    response = ask(server, "OPTIONS", "/api/x", [
        ("Origin", "http://elsewhere.example"),
        ("Access-Control-Request-Method", "PUT"),
        ("Access-Control-Request-Headers", "Content-Type, X-Key")])
    assert response.code == 204
    assert header(response, "Allow") == "PUT, OPTIONS"
    assert header(response, "Access-Control-Allow-Origin") == "*"
    assert header(response, "Access-Control-Allow-Methods") == \
        "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
    assert header(response, "Access-Control-Allow-Headers") == \
        "Content-Type, X-Key"
    assert header(response, "Access-Control-Max-Age") == "600"


def test_a_route_beats_a_static_file_of_the_same_path(server, www):
    server.add_text_get_mask("/same.txt", lambda req, args: "the route")
    response = ask(server, "GET", "/same.txt")
    assert response.code == 200
    assert response.response == b"the route"
    assert response.ctype == "text/plain; charset=utf-8"


def test_a_static_file(server, www):
    request = make_request(server, "GET", "/small.txt")
    response = dispatch(server, request)
    assert response.code == 200 and response.formed
    assert response.response == b"small file\n"
    assert response.ctype.startswith("text/plain")
    assert header(response, "ETag") and header(response, "Last-Modified")
    assert request.route_name == "static"


def test_a_static_folder_redirects_and_lists(server, www):
    (www / "sub").mkdir()
    (www / "sub" / "a.txt").write_text("a")
    moved = ask(server, "GET", "/sub?q=1")
    assert moved.code == 301 and header(moved, "Location") == "./sub/?q=1"
    server.directory_listing = True
    listing = ask(server, "GET", "/sub/")
    assert listing.code == 200 and b'href="./a.txt"' in listing.response


def test_a_path_known_under_another_method_is_a_405(server, www):
    server.add_json_post_mask("/api/x", lambda req, args: {})
    server.add_json_delete_mask("/api/x", lambda req, args: {})
    request = make_request(server, "GET", "/api/x")
    response = dispatch(server, request)
    assert response.code == 405
    assert header(response, "Allow") == "DELETE, POST"
    assert request.route_name == "DELETE /api/x"


def test_nothing_found_is_a_404(server, www):
    server.add_json_get_mask("/api/x", lambda req, args: {})
    for method, target in [("GET", "/missing.txt"), ("GET", "/api"),
                           ("POST", "/small.txt"), ("DELETE", "/y")]:
        response = ask(server, method, target)
        assert response.code == 404, (method, target)
        assert response.response == b"Not Found\n"


@pytest.mark.parametrize("method,target", [
    ("GET", "*"), ("GET", "api/x"), ("POST", "x"), ("GET", "ftp://h/x"),
    ("OPTIONS", "api/x"), ("OPTIONS", "**"), ("GET", "")])
def test_a_bad_target_is_a_400(server, method, target):
    server.add_json_get_mask("/api/x", lambda req, args: {})
    response = ask(server, method, target)
    assert response.code == 400
    assert response.response == b"Bad request target\n"


def test_an_absolute_target_is_answered_by_its_path(server, www):
    server.add_json_get_mask("/api/x", lambda req, args: args["query"])
    response = ask(server, "GET", "http://testserver/api/x?a=1")
    assert response.code == 200 and json.loads(response.response) == \
        {"a": "1"}
    static = ask(server, "GET", "https://testserver/small.txt")
    assert static.response == b"small file\n"


def test_head_is_answered_by_a_get_route(server):
    server.add_json_get_mask("/api/x", lambda req, args: {"a": 1})
    response = ask(server, "HEAD", "/api/x")
    assert response.code == 200 and response.ctype == "application/json"


# -- a route's value -------------------------------------------------------

def test_a_dict_on_a_json_route_is_json(server):
    server.add_json_get_mask("/api/x", lambda req, args: {"a": [1, 2.5]})
    response = ask(server, "GET", "/api/x")
    assert response.code == 200 and response.ctype == "application/json"
    assert response.response == b'{"a":[1,2.5]}'


def test_json_without_nan(server):
    server.add_json_get_mask("/api/x",
                             lambda req, args: [float("nan"), 1.0])
    assert ask(server, "GET", "/api/x").response == b"[null,1.0]"


def test_a_str_on_a_text_route(server):
    server.add_text_get_mask("/t", lambda req, args: "héllo")
    response = ask(server, "GET", "/t")
    assert response.ctype == "text/plain; charset=utf-8"
    assert response.response == "héllo".encode()


def test_a_value_on_a_text_route_is_its_str(server):
    server.add_text_get_mask("/t", lambda req, args: 42)
    assert ask(server, "GET", "/t").response == b"42"


@pytest.mark.parametrize("kind", ["json", "text"])
def test_bytes_are_sent_as_they_are(server, kind):
    server.add_route("GET", kind, "/b",
                     lambda req, args: bytearray(b"\x00\xffraw"))
    response = ask(server, "GET", "/b")
    assert response.response == b"\x00\xffraw"
    assert type(response.response) is bytes
    assert response.ctype == "application/octet-stream"


def test_a_response_keeps_its_code_type_and_headers(server):
    server.add_json_post_mask("/api/x", lambda req, args: Response(
        {"made": args["post"]}, 201, "application/vnd.x+json",
        [("Location", "/api/x/1")]))
    response = ask(server, "POST", "/api/x",
                   [("Content-Type", "application/json")], b'{"n": 1}')
    assert response.code == 201
    assert response.ctype == "application/vnd.x+json"
    assert header(response, "Location") == "/api/x/1"
    assert json.loads(response.response) == {"made": {"n": 1}}


def test_a_response_on_a_text_route_without_a_type(server):
    server.add_text_get_mask("/t", lambda req, args: Response("gone", 410))
    response = ask(server, "GET", "/t")
    assert (response.code, response.response, response.ctype) == \
        (410, b"gone", "text/plain; charset=utf-8")


def test_a_handler_raising_http_error_gets_its_plain_answer(server):
    def refuse(req, args):
        raise HTTPError(403, "not you", headers=[("X-Why", "key")])
    server.add_json_get_mask("/api/x", refuse)
    response = ask(server, "GET", "/api/x",
                   [("Accept", "application/json")])
    assert response.code == 403
    assert response.ctype == "text/plain; charset=utf-8"
    assert response.response == b"not you\n"
    assert header(response, "X-Why") == "key"
    assert response.error is None and not response.close_connection


def test_http_error_with_close_closes_the_connection(server):
    def refuse(req, args):
        raise HTTPError(400, close=True)
    server.add_json_get_mask("/api/x", refuse)
    assert ask(server, "GET", "/api/x").close_connection


def boom(req: Any, args: Any) -> Any:
    raise ValueError("broken <thing>")


@pytest.mark.parametrize("debug", [True, None])
def test_a_failing_json_route_shows_details_in_json(server, debug):
    server.debug = debug  # None: this client is on this machine
    server.add_json_get_mask("/api/boom", boom)
    response = ask(server, "GET", "/api/boom",
                   [("Accept", "application/json")])
    assert response.code == 500
    assert response.ctype == "application/json"
    assert isinstance(response.error, ValueError)
    page = json.loads(response.response)
    assert page["error"] == "broken <thing>"
    assert page["type"] == "ValueError"
    assert "Traceback" in page["traceback"] and "boom" in page["traceback"]


def test_a_failing_json_route_hides_details_without_debug(server):
    server.debug = False
    server.add_json_get_mask("/api/boom", boom)
    response = ask(server, "GET", "/api/boom",
                   [("Accept", "application/json")])
    assert response.code == 500
    assert (response.response, response.ctype) == PLAIN_JSON
    assert b"broken" not in response.response


def test_a_json_route_answers_its_error_in_json_without_accept(server):
    server.debug = False
    server.add_json_get_mask("/api/boom", boom)
    response = ask(server, "GET", "/api/boom")
    assert (response.response, response.ctype) == PLAIN_JSON


def test_an_absolute_target_of_a_json_route_errs_in_json_too(server):
    """The error page's format follows the route of the request's path,
    whichever form its target had (origin form or absolute form)."""
    server.debug = False
    server.add_json_get_mask("/api/boom", boom)
    response = ask(server, "GET", "http://testserver/api/boom")
    assert response.code == 500
    assert (response.response, response.ctype) == PLAIN_JSON


def test_a_failing_text_route_as_text_and_html(server):
    server.debug = True
    server.add_text_get_mask("/boom", boom)
    text = ask(server, "GET", "/boom")
    assert text.ctype == "text/plain; charset=utf-8"
    assert text.response.startswith(
        b"500 Internal Server Error\nValueError: broken <thing>\n")
    page = ask(server, "GET", "/boom", [("Accept", "text/html")])
    assert page.ctype == "text/html; charset=utf-8"
    assert b"ValueError: broken &lt;thing&gt;" in page.response
    assert b"<thing>" not in page.response
    server.debug = False
    hidden = ask(server, "GET", "/boom", [("Accept", "text/html")])
    assert (hidden.response, hidden.ctype) == PLAIN


def test_details_are_hidden_from_a_remote_client_by_default(server):
    assert server.debug is None
    server.add_json_get_mask("/api/boom", boom)
    remote = ask(server, "GET", "/api/boom", client=REMOTE)
    assert (remote.response, remote.ctype) == PLAIN_JSON
    local = ask(server, "GET", "/api/boom")
    assert json.loads(local.response)["type"] == "ValueError"


def test_send_error_wins_over_the_returned_value(server):
    released = []

    class Held(Response):
        def release(self) -> None:
            released.append(True)

    def teapot(req, args):
        req.send_error(418)
        req.send_error(500)  # the first one stays
        return Held({"ignored": True})
    server.add_json_get_mask("/api/x", teapot)
    request = make_request(server, "GET", "/api/x")
    response = dispatch(server, request)
    assert response.code == 418
    assert response.response == b"I'm a Teapot\n"
    assert released == [True]  # the answer it returned is freed
    assert request.close_connection  # the second send_error


def test_send_error_then_raising_keeps_the_error(server):
    def fails(req, args):
        req.send_error(409, "busy")
        raise ValueError("then broke")
    server.add_json_get_mask("/api/x", fails)
    request = make_request(server, "GET", "/api/x")
    response = dispatch(server, request)
    assert (response.code, response.response) == (409, b"busy\n")
    assert request.close_connection


def test_send_cookie_adds_set_cookie(server):
    def login(req, args):
        cookie = SimpleCookie()
        cookie["session"] = "abc"
        cookie["session"]["httponly"] = True
        cookie["theme"] = "dark"
        req.send_cookie(cookie)
        return {"ok": True}
    server.add_json_post_mask("/login", login)
    response = ask(server, "POST", "/login")
    cookies = all_headers(response, "Set-Cookie")
    assert cookies == ["session=abc; HttpOnly", "theme=dark"]


def test_a_cookie_goes_with_an_error_answer_too(server):
    def refuse(req, args):
        cookie = SimpleCookie()
        cookie["gone"] = ""
        req.send_cookie(cookie)
        raise HTTPError(401)
    server.add_json_get_mask("/api/x", refuse)
    response = ask(server, "GET", "/api/x")
    assert response.code == 401
    assert all_headers(response, "Set-Cookie") == ['gone=""']


def test_the_handler_reads_the_request(server):
    seen = {}

    def look(req, args):
        seen.update(method=req.command, path=req.path, args=args,
                    agent=req.headers["user-agent"],
                    cookie=args["cookie"]["k"].value)
        return "ok"
    server.add_text_post_mask("/form/:id", look)
    ask(server, "POST", "/form/7/more?q=1&flag#frag",
        [("User-Agent", "ua"), ("Cookie", "k=v"),
         ("Content-Type", "application/x-www-form-urlencoded")], b"a=b")
    assert seen["method"] == "POST"
    assert seen["path"] == "/form/7/more?q=1&flag#frag"
    assert seen["agent"] == "ua" and seen["cookie"] == "v"
    args = seen["args"]
    assert args["segments"] == {"id": "7"} and args["paths"] == ["more"]
    assert args["query"] == {"q": "1", "flag": True}
    assert args["fragment"] == "frag" and args["post"] == {"a": "b"}


def test_a_body_too_large_is_a_413_that_closes(server):
    server.max_body_size = 10
    server.add_json_post_mask("/api/x", lambda req, args: args["post"])
    response = ask(server, "POST", "/api/x",
                   [("Content-Type", "application/json")], b"[" + b"1," * 20
                   + b"1]")
    assert response.code == 413 and response.close_connection


# -- answer filters --------------------------------------------------------

LARGE_TEXT = "all work and no play makes a dull server\n" * 100


def test_gzip_applies_to_a_large_text_answer(server):
    server.add_text_get_mask("/t", lambda req, args: LARGE_TEXT)
    response = ask(server, "GET", "/t", [("Accept-Encoding", "br, gzip")])
    assert header(response, "Content-Encoding") == "gzip"
    assert header(response, "Vary") == "Accept-Encoding"
    assert len(response.response) < len(LARGE_TEXT)
    assert gzip.decompress(response.response) == LARGE_TEXT.encode()


def test_no_gzip_without_accept_encoding(server):
    server.add_text_get_mask("/t", lambda req, args: LARGE_TEXT)
    for headers in ([], [("Accept-Encoding", "gzip;q=0, br")]):
        response = ask(server, "GET", "/t", headers)
        assert header(response, "Content-Encoding") is None
        assert header(response, "Vary") == "Accept-Encoding"
        assert response.response == LARGE_TEXT.encode()


def test_no_gzip_for_a_small_or_binary_or_error_answer(server):
    server.add_text_get_mask("/small", lambda req, args: "short")
    server.add_text_get_mask("/bin", lambda req, args: Response(
        LARGE_TEXT.encode(), 200, "image/png"))
    server.add_text_get_mask("/err", lambda req, args: Response(
        LARGE_TEXT, 400))
    for path in ("/small", "/bin", "/err"):
        response = ask(server, "GET", path, [("Accept-Encoding", "gzip")])
        assert header(response, "Content-Encoding") is None, path
    server.compress = False
    server.add_text_get_mask("/big", lambda req, args: LARGE_TEXT)
    off = ask(server, "GET", "/big", [("Accept-Encoding", "gzip")])
    assert header(off, "Content-Encoding") is None
    assert header(off, "Vary") is None


def test_cors_headers_on_a_normal_and_an_error_answer(server):
    server.add_json_get_mask("/api/x", lambda req, args: {})
    server.add_json_get_mask("/api/boom", boom)
    before = ask(server, "GET", "/api/x")
    assert header(before, "Access-Control-Allow-Origin") is None
    server.cross_origin = True
    for target, code in [("/api/x", 200), ("/api/boom", 500),
                         ("/missing", 404)]:
        response = ask(server, "GET", target,
                       [("Origin", "http://other.example")])
        assert response.code == code
        assert header(response, "Access-Control-Allow-Origin") == "*"
    unknown = ask(server, "BREW", "/api/x")
    assert unknown.code == 501
    assert header(unknown, "Access-Control-Allow-Origin") == "*"


def test_cors_with_a_list_of_origins(server):
    server.cross_origin = ["http://localhost:3000"]
    server.add_json_get_mask("/api/x", lambda req, args: {})
    allowed = ask(server, "GET", "/api/x",
                  [("Origin", "http://localhost:3000")])
    assert header(allowed, "Access-Control-Allow-Origin") == \
        "http://localhost:3000"
    assert header(allowed, "Access-Control-Allow-Credentials") == "true"
    other = ask(server, "GET", "/api/x", [("Origin", "http://evil.example")])
    assert header(other, "Access-Control-Allow-Origin") is None
    assert header(other, "Vary") == "Origin"


PAGE = "<html><body><p>hi</p></body></html>"


def test_the_live_reload_script_only_while_live_reload(server):
    server.add_text_get_mask("/page", lambda req, args: Response(
        PAGE, 200, "text/html; charset=utf-8"))
    server.add_text_get_mask("/plain", lambda req, args: PAGE)
    assert server.settings.dev.live_reload is False
    assert SCRIPT_TAG not in ask(server, "GET", "/page").response
    server.live_reload = True
    assert server.settings.dev.live_reload is True
    page = ask(server, "GET", "/page").response
    assert page == PAGE.replace("</body>", SCRIPT_TAG.decode()
                                + "</body>").encode()
    assert SCRIPT_TAG not in ask(server, "GET", "/plain").response
    server.settings.dev.live_reload = False
    assert SCRIPT_TAG not in ask(server, "GET", "/page").response


def test_the_live_reload_script_in_a_static_page_and_an_error_page(
        server, www):
    server.add_text_get_mask("/boom", boom)
    assert SCRIPT_TAG not in ask(server, "GET", "/page.html").response
    server.live_reload = True
    server.debug = True
    static = ask(server, "GET", "/page.html")
    assert SCRIPT_TAG in static.response and static.formed
    error = ask(server, "GET", "/boom", [("Accept", "text/html")])
    assert error.code == 500 and SCRIPT_TAG in error.response


def test_the_live_reload_script_goes_in_before_gzip(server):
    server.live_reload = True
    big_page = "<html><body>" + "<p>hi</p>" * 500 + "</body></html>"
    server.add_text_get_mask("/page", lambda req, args: Response(
        big_page, 200, "text/html"))
    response = ask(server, "GET", "/page", [("Accept-Encoding", "gzip")])
    assert header(response, "Content-Encoding") == "gzip"
    assert SCRIPT_TAG in gzip.decompress(response.response)


def recording(name: str, seen: list[tuple[str, Any]]) -> Any:
    def answer_filter(request: Request, response: Response) -> Response:
        seen.append((name, response.code, list(response.headers),
                     bytes(response.response)))
        return response
    return answer_filter


def wrapped(name: str, inner: Any, seen: list[str]) -> Any:
    def answer_filter(request: Request, response: Response) -> Response:
        seen.append(name)
        return inner(request, response)
    return answer_filter


def test_filters_run_in_the_registered_order(server):
    names = [f.__name__ for f in server._filters]
    assert names == ["error_filter", "script_filter", "gzip_filter",
                     "cors_filter", "extra_headers_filter"]
    order: list[str] = []
    server._filters[:] = [wrapped(f.__name__, f, order)
                          for f in server._filters]
    seen: list[Any] = []
    server._filters.append(recording("last", seen))
    server._filters.insert(0, recording("first", seen))
    server.cross_origin = True
    server.add_text_get_mask("/t", lambda req, args: LARGE_TEXT)
    response = ask(server, "GET", "/t", [("Accept-Encoding", "gzip")])
    assert order == names
    assert [entry[0] for entry in seen] == ["first", "last"]
    first, last = seen
    assert first[2] == [] and first[3] == LARGE_TEXT.encode()
    # the last filter sees what gzip and CORS made of the answer
    assert ("Content-Encoding", "gzip") in last[2]
    assert ("Access-Control-Allow-Origin", "*") in last[2]
    assert gzip.decompress(last[3]) == LARGE_TEXT.encode()
    assert response.headers == last[2]


def test_a_filter_may_replace_the_answer(server):
    server._filters.append(
        lambda request, response: Response(b"replaced", 299, "text/x"))
    server.add_json_get_mask("/api/x", lambda req, args: {})
    response = ask(server, "GET", "/api/x")
    assert (response.code, response.response) == (299, b"replaced")


def test_the_error_filter_only_fills_an_empty_500(server):
    server.debug = True
    response = Response(b"", 500)
    response.error = ValueError("x")
    request = make_request(server, "GET", "/x")
    made = finish(server, request, response)
    assert b"ValueError" in made.response
    kept = Response(b"own body", 500)
    kept.error = ValueError("x")
    assert finish(server, request, kept).response == b"own body"
    plain = Response(b"", 500)
    assert finish(server, request, plain).response == b""


# -- StreamResponse and WaitingResponse ------------------------------------

def test_a_stream_runs_on_close_on_release_though_never_started(server):
    events: list[str] = []

    def chunks() -> Iterator[bytes]:
        try:
            events.append("started")
            yield b"a"
        finally:
            events.append("finally")
    stream = StreamResponse(chunks(), ctype="text/plain",
                            on_close=lambda: events.append("on_close"))
    server.add_text_get_mask("/s", lambda req, args: stream)
    server.cross_origin = True
    response = ask(server, "GET", "/s", [("Accept-Encoding", "gzip")])
    assert response is stream  # as it is, through the filters
    assert header(response, "Content-Encoding") is None
    assert header(response, "Access-Control-Allow-Origin") == "*"
    assert response.length() is None
    response.release()
    assert events == ["on_close"]  # an unstarted generator: no finally
    response.release()
    assert events == ["on_close"]  # once


def test_a_started_stream_runs_its_finally_then_on_close():
    events: list[str] = []

    def chunks() -> Iterator[bytes]:
        try:
            yield b"a"
            yield b"b"
        finally:
            events.append("finally")
    stream = StreamResponse(chunks(), length=2,
                            on_close=lambda: events.append("on_close"))
    assert next(iter(stream.chunks)) == b"a"
    assert stream.length() == 2
    stream.release()
    assert events == ["finally", "on_close"]


def test_on_close_runs_even_when_closing_the_chunks_fails():
    events: list[str] = []

    class Chunks:
        def __iter__(self) -> Iterator[bytes]:
            return iter(())

        def close(self) -> None:
            raise OSError("close failed")
    stream = StreamResponse(Chunks(),
                            on_close=lambda: events.append("on_close"))
    with pytest.raises(OSError):
        stream.release()
    assert events == ["on_close"]


def test_an_event_stream_waits_by_design():
    assert StreamResponse(iter(()), ctype="text/event-stream").waits == \
        float("inf")
    assert StreamResponse(iter(()), ctype="text/plain").waits == 0.0


def test_a_waiting_response_comes_back_unfiltered(server):
    server.cross_origin = True

    def poll(req, args):
        cookie = SimpleCookie()
        cookie["polled"] = "1"
        req.send_cookie(cookie)
        return WaitingResponse(lambda _: {"done": True}, 5.0)
    server.add_json_get_mask("/api/poll", poll)
    request = make_request(server, "GET", "/api/poll")
    waiting = dispatch(server, request)
    assert isinstance(waiting, WaitingResponse)
    assert waiting.kind == "json" and waiting.seconds == 5.0
    assert waiting.headers == []  # neither the cookie nor CORS yet
    response = resolve(server, request, waiting, 0)
    assert not isinstance(response, WaitingResponse)
    assert (response.code, response.ctype, response.response) == \
        (200, "application/json", b'{"done":true}')
    assert header(response, "Set-Cookie") == "polled=1"
    assert header(response, "Access-Control-Allow-Origin") == "*"


def test_resolve_converts_by_the_route_kind(server):
    server.add_text_get_mask("/poll", lambda req, args: WaitingResponse(
        lambda _: LARGE_TEXT, 1.0))
    request = make_request(server, "GET", "/poll",
                           [("Accept-Encoding", "gzip")])
    waiting = dispatch(server, request)
    assert isinstance(waiting, WaitingResponse) and waiting.kind == "text"
    response = resolve(server, request, waiting, 0)
    assert response.ctype == "text/plain; charset=utf-8"
    assert header(response, "Content-Encoding") == "gzip"  # filtered
    assert gzip.decompress(response.response) == LARGE_TEXT.encode()


def test_resolve_turns_errors_into_answers(server):
    server.debug = False

    def wait_refused(seconds: float) -> Any:
        raise HTTPError(410, "expired")
    server.add_json_get_mask("/api/gone", lambda req, args:
                             WaitingResponse(wait_refused, 1.0))
    server.add_json_get_mask("/api/boom", lambda req, args:
                             WaitingResponse(lambda _: boom(None, None), 1.0))
    request = make_request(server, "GET", "/api/gone")
    gone = resolve(server, request, dispatch(server, request), 0)
    assert (gone.code, gone.response) == (410, b"expired\n")
    request = make_request(server, "GET", "/api/boom")
    broken = resolve(server, request, dispatch(server, request), 0)
    assert broken.code == 500
    assert (broken.response, broken.ctype) == PLAIN_JSON


# -- FileSpan --------------------------------------------------------------

def test_a_large_static_file_is_a_file_span_closed_by_release(server, www):
    size = (www / "big.txt").stat().st_size
    assert size > server._static.small_files.max_file
    before = open_fds()
    response = ask(server, "GET", "/big.txt")
    assert isinstance(response, FileSpan)
    assert response.code == 200 and response.formed
    assert (response.start, response.end) == (0, size)
    assert response.length() == size
    assert str(response.fd) in open_fds() - before
    assert os.pread(response.fd, 3, 0) == b"xxx"
    os.fstat(response.fd)
    fd = response.fd
    response.release()
    assert response.fd == -1
    assert open_fds() == before
    with pytest.raises(OSError):
        os.fstat(fd)
    response.release()  # twice is harmless


def test_a_range_of_a_large_file_is_a_span(server, www):
    before = open_fds()
    response = ask(server, "GET", "/big.txt", [("Range", "bytes=10-19")])
    assert isinstance(response, FileSpan)
    assert response.code == 206 and (response.start, response.end) == \
        (10, 20)
    assert header(response, "Content-Range").startswith("bytes 10-19/")
    response.release()
    assert open_fds() == before


def test_a_304_closes_the_file_at_once(server, www):
    first = ask(server, "GET", "/big.txt")
    tag = header(first, "ETag")
    first.release()
    before = open_fds()
    for headers in ([("If-None-Match", tag)],
                    [("If-None-Match", f'"other", W/{tag}')]):
        response = ask(server, "GET", "/big.txt", headers)
        assert response.code == 304 and response.response == b""
        assert not isinstance(response, FileSpan)
        assert open_fds() == before  # nothing left open
        assert header(response, "ETag") == tag
    changed = ask(server, "GET", "/big.txt", [("If-None-Match", '"other"')])
    assert isinstance(changed, FileSpan) and changed.code == 200
    changed.release()
    assert open_fds() == before


def test_ranges_and_a_bad_range_of_a_large_file_leak_nothing(server, www):
    before = open_fds()
    several = ask(server, "GET", "/big.txt",
                  [("Range", "bytes=0-1, 10-11")])
    assert several.code == 206 and not isinstance(several, FileSpan)
    assert several.ctype.startswith("multipart/byteranges")
    assert open_fds() == before
    refused = ask(server, "GET", "/big.txt",
                  [("Range", "bytes=99999999-")])
    assert refused.code == 416
    assert header(refused, "Content-Range").startswith("bytes */")
    assert open_fds() == before


def test_a_file_response_from_a_route_is_a_span(server, tmp_path):
    path = tmp_path / "report.csv"
    path.write_text("a,b\n1,2\n")
    server.add_text_get_mask("/report", lambda req, args:
                             FileResponse(path, "report 1.csv"))
    server.add_text_post_mask("/report", lambda req, args:
                              FileResponse(path))
    before = open_fds()
    response = ask(server, "GET", "/report")
    assert isinstance(response, FileSpan) and response.code == 200
    assert response.ctype.startswith("text/csv")
    assert header(response, "Content-Disposition") == \
        'attachment; filename="report 1.csv"'
    assert os.pread(response.fd, 100, 0) == b"a,b\n1,2\n"
    tag = header(response, "ETag")
    response.release()
    assert open_fds() == before
    cached = ask(server, "GET", "/report", [("If-None-Match", tag)])
    assert cached.code == 304 and open_fds() == before
    posted = ask(server, "POST", "/report", [("If-None-Match", tag)])
    assert posted.code == 200 and isinstance(posted, FileSpan)
    posted.release()
    path.unlink()
    gone = ask(server, "GET", "/report")
    assert gone.code == 404 and open_fds() == before


def test_a_file_to_delete_is_deleted_when_send_error_wins(server,
                                                          tmp_path):
    path = tmp_path / "made.bin"
    path.write_bytes(b"made for one answer")

    def made(req, args):
        req.send_error(403)
        return FileResponse(path, delete=True)
    server.add_text_get_mask("/made", made)
    assert ask(server, "GET", "/made").code == 403
    assert not path.exists()


def test_a_large_compressible_file_to_a_gzip_client_is_bytes(server, www):
    before = open_fds()
    response = ask(server, "GET", "/big.txt", [("Accept-Encoding", "gzip")])
    assert not isinstance(response, FileSpan)
    assert header(response, "Content-Encoding") == "gzip"
    assert header(response, "Vary") == "Accept-Encoding"
    assert header(response, "ETag").endswith('-gzip"')
    assert gzip.decompress(response.response) == \
        (www / "big.txt").read_bytes()
    assert open_fds() == before


def test_a_static_file_gone_after_resolving_is_a_404(server, www,
                                                     monkeypatch):
    target = server._static.resolve("/big.txt")
    (www / "big.txt").unlink()
    monkeypatch.setattr(server._static, "resolve",
                        lambda path, query="": target)
    before = open_fds()
    response = ask(server, "GET", "/big.txt")
    assert response.code == 404 and open_fds() == before


# -- answers written by hand -----------------------------------------------

def test_a_hand_written_answer_goes_through_the_writer(server):
    written = bytearray()

    def by_hand(req, args):
        req.send_response(200)
        req.send_header("X-A", "1")
        req.end_headers()
        req.wfile.write(b"hi")
        req.wfile.flush()
        return {"ignored": True}
    server.add_json_get_mask("/hand", by_hand)
    server.cross_origin = True
    request = make_request(server, "GET", "/hand", writer=written.extend)
    response = dispatch(server, request)
    assert isinstance(response, HandWritten)
    assert response.already_sent and response.close_connection
    assert response.length() == 2
    assert header(response, "Access-Control-Allow-Origin") is None
    assert request.close_connection
    head, _, body = bytes(written).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert b"X-A: 1" in lines and b"Connection: close" in lines
    assert body == b"hi"


def test_writing_the_body_sends_the_head_first(server):
    written = bytearray()

    def by_hand(req, args):
        req.send_response(201)
        req.send_header("Content-Type", "text/plain")
        req.wfile.write(b"a")
        req.wfile.write(memoryview(b"bc"))
    server.add_text_get_mask("/hand", by_hand)
    response = ask(server, "GET", "/hand", writer=written.extend)
    assert response.already_sent and response.code == 201
    assert bytes(written).startswith(b"HTTP/1.1 201 Created\r\n")
    assert bytes(written).endswith(b"\r\n\r\nabc")


def test_an_unsafe_header_by_hand_is_a_500_with_nothing_written(server):
    written = bytearray()
    raised: list[BaseException] = []

    def by_hand(req, args):
        req.send_response(200)
        req.send_header("X-Ok", "fine")
        try:
            req.send_header("X-Bad", "bad\r\nvalue")
        except UnsafeHeader as err:
            raised.append(err)
            raise
        return "never"
    server.debug = False
    server.add_text_get_mask("/hand", by_hand)
    request = make_request(server, "GET", "/hand", writer=written.extend)
    response = dispatch(server, request)
    assert len(raised) == 1
    assert response.code == 500 and not response.already_sent
    assert isinstance(response.error, UnsafeHeader)
    assert (response.response, response.ctype) == PLAIN
    assert written == bytearray()
    assert request.answer is None


def test_an_unsafe_header_name_by_hand(server):
    written = bytearray()

    def by_hand(req, args):
        req.send_response(200)
        req.send_header("Bad Name", "v")
    server.add_text_get_mask("/hand", by_hand)
    response = ask(server, "GET", "/hand", writer=written.extend)
    assert response.code == 500 and written == bytearray()


def test_failing_after_the_head_was_written_keeps_the_written_answer(
        server):
    written = bytearray()

    def by_hand(req, args):
        req.send_response(200)
        req.end_headers()
        req.wfile.write(b"part")
        raise ValueError("half way")
    server.add_text_get_mask("/hand", by_hand)
    request = make_request(server, "GET", "/hand", writer=written.extend)
    response = dispatch(server, request)
    assert response.already_sent and response.code == 200
    assert bytes(written).endswith(b"\r\n\r\npart")
    assert request.close_connection


def test_writing_by_hand_needs_send_response_and_a_writer(server):
    server.debug = True
    server.add_text_get_mask("/no-start", lambda req, args:
                             req.wfile.write(b"x"))
    server.add_text_get_mask("/twice", lambda req, args: (
        req.send_response(200), req.send_response(200)))
    server.add_text_get_mask("/error-first", lambda req, args: (
        req.send_error(404), req.send_response(200)))
    written = bytearray()
    response = ask(server, "GET", "/no-start", writer=written.extend)
    assert response.code == 500
    assert b"call send_response() first" in response.response
    no_writer = ask(server, "GET", "/twice")
    assert no_writer.code == 500
    assert b"cannot be answered by hand" in no_writer.response
    twice = ask(server, "GET", "/twice", writer=written.extend)
    # nothing was written yet: the error can still be answered
    assert twice.code == 500 and not twice.already_sent
    assert b"a response was already sent" in twice.response
    assert written == bytearray()
    error_first = ask(server, "GET", "/error-first", writer=written.extend)
    assert error_first.code == 404 and not error_first.already_sent
    assert written == bytearray()


def test_finish_leaves_an_answer_written_by_hand_alone(server):
    seen: list[Any] = []
    server._filters.append(recording("any", seen))
    request = make_request(server, "GET", "/x")
    request.extra_headers.append(("Set-Cookie", "a=b"))
    hand = HandWritten(200, bytearray().extend)
    assert finish(server, request, hand) is hand
    assert hand.headers == [] and seen == []
