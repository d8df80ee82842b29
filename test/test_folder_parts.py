"""The folder server's pure parts, without a socket (issue 23): the
history fallback's decision, the extra headers' check and filter, the
parsing of `--header` and `--proxy`, and the URLs of the start line.
Answers are made by `TestClient`, which drives `dispatch` in-process."""
from __future__ import annotations

import os
import socket
from typing import Any, Iterator

import pytest

from quick_server import QuickServer
from quick_server.__main__ import parse_headers, parse_proxy
from quick_server.dev.addresses import is_any, lan_addresses, server_urls, \
    usable
from quick_server.http.extra_headers import check_extra_headers, \
    field_problem, parse_header
from quick_server.http.file_headers import FileTarget
from quick_server.http.history import fallback_target, wants_page
from quick_server.http.static import StaticFiles
from quick_server.settings import Settings, check_together
from quick_server.testing import TestClient

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9," \
    "image/avif,image/webp,*/*;q=0.8"  # what a navigation sends


@pytest.fixture
def app(tmp_path: Any) -> str:
    """A built single-page app."""
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<html><body>APP</body></html>")
    (root / "assets" / "app.js").write_text("console.log('app');")
    (root / "secret.key").write_text("SECRET")
    return str(root)


@pytest.fixture
def server(app: str) -> Iterator[QuickServer]:
    made = QuickServer(("127.0.0.1", 0), bind_and_activate=False)
    made.suppress_noise = True
    made.bind_path("/", app)
    made.add_default_white_list()
    yield made
    made.server_close()


# -- the history fallback ---------------------------------------------------

@pytest.mark.parametrize("method, accept, wanted", [
    ("GET", BROWSER, True),
    ("HEAD", BROWSER, True),
    ("GET", "text/html", True),
    ("GET", "TEXT/HTML; charset=utf-8", True),
    ("GET", "application/xhtml+xml", True),
    ("GET", "*/*", False),  # a script, fetch()
    ("GET", "text/*", False),
    ("GET", "text/css,*/*;q=0.1", False),  # a stylesheet
    ("GET", "image/avif,image/webp,*/*;q=0.8", False),  # an image
    ("GET", "application/json", False),
    ("GET", "text/html;q=0", False),
    ("GET", "", False),
    ("GET", None, False),
    ("POST", BROWSER, False),
    ("DELETE", BROWSER, False),
])
def test_which_requests_fall_back(method, accept, wanted):
    assert wants_page(method, accept) is wanted


def test_the_fallback_page_is_found_as_a_request_finds_it(app):
    static = StaticFiles(Settings().static)
    static.bind("/", app)
    target = fallback_target(static, "/index.html", "GET", BROWSER)
    assert isinstance(target, FileTarget)
    assert target.path == os.path.join(os.path.realpath(app), "index.html")
    # a folder's URL finds its index file
    assert fallback_target(static, "/", "GET", BROWSER) == target
    assert fallback_target(static, "/index.html", "GET", "*/*") is None
    assert fallback_target(static, None, "GET", BROWSER) is None
    assert fallback_target(static, "/missing.html", "GET", BROWSER) is None
    assert fallback_target(static, "/assets/", "GET", BROWSER) is None
    static.black.add(["index.html"])  # never served: not as a fallback
    assert fallback_target(static, "/index.html", "GET", BROWSER) is None


def test_a_deep_link_gets_the_page_and_a_missing_script_a_404(server):
    client = TestClient(server)
    assert client.get("/users/3", headers={"Accept": BROWSER}
                      ).status_code == 404  # off by default
    server.spa_fallback()
    assert server.settings.static.spa_fallback == "/index.html"
    page = client.get("/index.html")
    deep = client.get("/users/3?tab=2", headers={"Accept": BROWSER})
    assert (deep.status_code, deep.content) == (200, page.content)
    for name in ("ETag", "Last-Modified", "Cache-Control", "Content-Type"):
        assert deep.headers[name] == page.headers[name], name
    again = client.get("/users/3", headers={
        "Accept": BROWSER, "If-None-Match": page.headers["ETag"]})
    assert again.status_code == 304  # revalidated like the file
    head = client.head("/users/3", headers={"Accept": "text/html"})
    assert (head.status_code, head.content) == (200, b"")
    # a script, a stylesheet, fetch(), an API call: 404 as before
    for accept in ("*/*", "text/css,*/*;q=0.1", "application/json"):
        missing = client.get("/assets/missing.js", headers={"Accept": accept})
        assert missing.status_code == 404 and b"APP" not in missing.content
    assert client.post("/users/3", headers={"Accept": BROWSER}
                       ).status_code == 404
    # files, and files the white list refuses, are what they were
    assert client.get("/assets/app.js", headers={"Accept": BROWSER}
                      ).content == b"console.log('app');"
    assert client.get("/secret.key").status_code == 404


def test_routes_and_proxies_come_before_the_fallback(server, refused_port):
    server.spa_fallback("/index.html")
    server.add_json_get_mask("/api/user", lambda req, args: {"id": 3})
    server.bind_proxy("/backend/", f"http://127.0.0.1:{refused_port}")
    client = TestClient(server)
    answer = client.get("/api/user", headers={"Accept": BROWSER})
    assert answer.json() == {"id": 3}
    # under a proxy's prefix the proxy answers, here: its target is down
    assert client.get("/backend/x", headers={"Accept": BROWSER}
                      ).status_code == 502
    server.spa_fallback("/missing.html")  # no such page: the 404 stays
    assert client.get("/users/3", headers={"Accept": BROWSER}
                      ).status_code == 404
    server.spa_fallback(None)
    assert server.settings.static.spa_fallback is None


@pytest.mark.parametrize("page, error", [
    ("index.html", ValueError), ("/../index.html", ValueError),
    ("/a/./b.html", ValueError), ("/a\\b.html", ValueError),
    ("/index.html?x=1", ValueError), ("/index.html#top", ValueError),
    ("/a\0.html", ValueError), (b"/index.html", TypeError),
    (3, TypeError)])
def test_a_fallback_page_must_be_a_url_path(server, page, error):
    with pytest.raises(error, match=r"^settings\.static\.spa_fallback must "
                       r"be a URL path such as '/index\.html' or None"):
        server.spa_fallback(page)
    assert server.settings.static.spa_fallback is None


# -- headers on every answer -------------------------------------------------

def test_extra_headers_go_on_every_answer(server):
    server.extra_headers = {"Cross-Origin-Opener-Policy": "same-origin",
                            "Cross-Origin-Embedder-Policy": "require-corp"}
    assert server.settings.http.extra_headers is server.extra_headers

    def failing(req: Any, args: Any) -> None:
        raise RuntimeError("boom")
    server.add_text_get_mask("/fail", failing)
    server.add_json_get_mask("/json", lambda req, args: {"a": 1})
    client = TestClient(server)
    answers = {
        "file": client.get("/index.html"),
        "404": client.get("/missing.html"),
        "500": client.get("/fail"),
        "route": client.get("/json"),
        "405": client.post("/json"),
        "preflight": client.options("/json"),
        "304": client.get("/index.html", headers={
            "If-None-Match": client.get("/index.html").headers["ETag"]}),
    }
    for what, answer in answers.items():
        assert answer.headers["Cross-Origin-Opener-Policy"] == \
            "same-origin", what
        assert answer.headers["Cross-Origin-Embedder-Policy"] == \
            "require-corp", what
    assert [answer.status_code for answer in answers.values()] == \
        [200, 404, 500, 200, 405, 204, 304]


@pytest.mark.parametrize("raw, code", [
    (b"NOT A REQUEST\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"x" * 70000 + b"\r\n\r\n",
     431),
])
def test_extra_headers_go_on_answers_the_connection_makes(make_server, raw,
                                                         code):
    """Refused before any handler ran (a bad head, one over the limit):
    the connection layer's own answers carry them too."""
    server = make_server()
    server.extra_headers = {"Cross-Origin-Opener-Policy": "same-origin"}
    with socket.create_connection(("127.0.0.1", server.port), 10) as sock:
        sock.sendall(raw)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head = answer.split(b"\r\n\r\n")[0].decode("latin-1")
    assert head.startswith(f"HTTP/1.1 {code} "), head
    assert "\r\nCross-Origin-Opener-Policy: same-origin" in head


def test_an_extra_header_replaces_the_answers_own_but_lists_add(server):
    server.cross_origin = True
    server.extra_headers = {"Cache-Control": "no-store", "Vary": "Origin",
                            "access-control-allow-origin": "https://a.test"}
    server.add_json_get_mask("/json", lambda req, args: {"a": 1})
    client = TestClient(server)
    # large enough to be compressed: the file's own Vary stays
    server.add_text_get_mask("/big", lambda req, args: "x" * 5000)
    answer = client.get("/big", headers={"Accept-Encoding": "gzip"})
    assert answer.headers.get_all("Vary") == ["Accept-Encoding", "Origin"]
    assert answer.headers["Content-Encoding"] == "gzip"
    page = client.get("/index.html")
    assert page.headers.get_all("Cache-Control") == ["no-store"]
    assert page.headers.get_all("Access-Control-Allow-Origin") == \
        ["https://a.test"]
    assert "ETag" in page.headers  # the rest is the file's


@pytest.mark.parametrize("headers, error, why", [
    ([("X-A", "b")], TypeError, r"\(\{'Name': 'value'\}\), got \["),
    ({"X-A": 1}, TypeError, "names and values are strings"),
    ({"X A": "b"}, ValueError, "invalid response header name 'X A'"),
    ({"": "b"}, ValueError, "invalid response header name ''"),
    ({"X-A": "b\r\nSet-Cookie: evil=1"}, ValueError, "control character"),
    ({"X-A": "b\x00"}, ValueError, "control character"),
    ({"Content-Length": "5"}, ValueError, "written by the server itself"),
    ({"transfer-encoding": "chunked"}, ValueError, "written by the server"),
    ({"Content-Type": "text/plain"}, ValueError, "written by the server"),
    ({"X-A": "1", "x-a": "2"}, ValueError, "'X-A' and 'x-a' name the same"),
])
def test_extra_headers_are_checked_when_set(server, headers, error, why):
    with pytest.raises(error, match=r"^settings\.http\.extra_headers must "
                       r"be a dict of header names to values.*" + why):
        server.extra_headers = headers
    assert server.extra_headers == {}


def test_extra_headers_changed_in_place_are_checked_at_the_start():
    settings = Settings()
    settings.http.extra_headers = {"X-Good": "1", "X-Empty": ""}
    check_together(settings)
    settings.http.extra_headers["Bad Name"] = "x"
    with pytest.raises(ValueError, match="invalid response header name"):
        check_together(settings)
    assert check_extra_headers({}, "x") == {}


@pytest.mark.parametrize("text, parsed", [
    ("Cross-Origin-Opener-Policy: same-origin",
     ("Cross-Origin-Opener-Policy", "same-origin")),
    ("X-A:b", ("X-A", "b")),
    ("X-A:  b c \t", ("X-A", "b c")),
    ("X-A:", ("X-A", "")),
    ("Link: <http://a/b>; rel=preload", ("Link", "<http://a/b>; rel=preload")),
])
def test_a_header_option_is_name_colon_value(text, parsed):
    assert parse_header(text) == parsed


@pytest.mark.parametrize("texts, why", [
    (["X-A"], "--header 'X-A' is not 'Name: value'"),
    ([": b"], "--header ': b' is not 'Name: value'"),
    (["X A: b"], "--header 'X A: b': invalid response header name 'X A'"),
    (["X-A : b"], "invalid response header name 'X-A '"),
    (["X-A: b\x1b[31m"], "--header 'X-A: b\\x1b[31m': control character"),
    (["Connection: close"], "Connection is written by the server itself"),
    (["X-A: 1", "x-a: 2"], "--header 'x-a: 2': that header was given "
     "already"),
])
def test_a_bad_header_option_is_named(texts, why):
    with pytest.raises(ValueError) as caught:
        parse_headers(texts)
    assert why in str(caught.value)


def test_header_options_become_the_setting():
    headers = parse_headers(["X-A: 1", "Cache-Control: no-store"])
    assert headers == {"X-A": "1", "Cache-Control": "no-store"}
    assert check_extra_headers(headers, "x") is headers
    assert field_problem("Server", "x") == \
        "Server is written by the server itself"


# -- --proxy -----------------------------------------------------------------

@pytest.mark.parametrize("text, parsed", [
    ("/api=http://localhost:5000/api", ("/api/", "http://localhost:5000/api")),
    ("/api/=http://localhost:5000", ("/api/", "http://localhost:5000")),
    ("/=http://localhost:5000", ("/", "http://localhost:5000")),
    ("http://localhost:5000", ("/", "http://localhost:5000")),
    ("http://localhost:5000/?a=b", ("/", "http://localhost:5000/?a=b")),
])
def test_a_proxy_option_is_prefix_equals_url(text, parsed):
    assert parse_proxy(text) == parsed


def test_a_proxy_prefix_starts_with_a_slash():
    with pytest.raises(ValueError, match=r"^--proxy 'api=http://x' is not "
                       r"PREFIX=URL"):
        parse_proxy("api=http://x")


# -- the URLs of the start line -----------------------------------------------

NET = ["192.168.1.5", "10.0.0.7", "fd00::2", "2001:db8::5"]


@pytest.mark.parametrize("host, dual, local, others", [
    ("127.0.0.1", False, "http://127.0.0.1:8000/", []),
    ("192.168.1.5", False, "http://192.168.1.5:8000/", []),
    ("localhost", False, "http://localhost:8000/", []),
    ("::1", False, "http://[::1]:8000/", []),
    ("0.0.0.0", False, "http://127.0.0.1:8000/",
     ["http://192.168.1.5:8000/", "http://10.0.0.7:8000/"]),
    ("::", False, "http://[::1]:8000/",
     ["http://[fd00::2]:8000/", "http://[2001:db8::5]:8000/"]),
    ("::", True, "http://[::1]:8000/",
     ["http://192.168.1.5:8000/", "http://10.0.0.7:8000/",
      "http://[fd00::2]:8000/", "http://[2001:db8::5]:8000/"]),
])
def test_the_urls_a_person_can_open(host, dual, local, others):
    found = server_urls("http", host, 8000, NET, dual_stack=dual)
    assert found[0] == local
    assert sorted(found[1]) == sorted(others)
    assert server_urls("https", host, 8443, [])[1] == []


def test_only_addresses_other_machines_can_reach_are_listed():
    assert is_any("0.0.0.0") and is_any("::") and not is_any("127.0.0.1")
    assert not is_any("localhost") and not is_any("")
    for address in ("127.0.0.1", "127.0.1.1", "::1", "fe80::1",
                    "fe80::1%eth0", "169.254.3.4", "224.0.0.1", "0.0.0.0",
                    "::ffff:192.168.1.5", "not an address"):
        assert not usable(address), address
    for address in ("192.168.1.5", "10.0.0.7", "fd00::2", "203.0.113.9"):
        assert usable(address), address
    for family in (socket.AF_INET, socket.AF_INET6):
        found = lan_addresses([family])
        assert all(usable(address) for address in found)
        assert len(set(found)) == len(found)
