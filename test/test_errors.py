"""Error pages: an exception in a handler is shown (escaped) to the clients
`server.debug` names (None: this machine, proxied only by a proxy on this
machine for a client on it; True: all; False: none), as HTML, JSON or text
by what the client accepts; everyone else gets the plain 500 (JSON for a
JSON client)."""
from __future__ import annotations

import json

import pytest

from conftest import get
from quick_server.http.errorpage import accepted_types, is_local, is_loopback
from quick_server.http.wire import Headers
from quick_server.http.livescript import SCRIPT_TAG

NASTY = "bad <script>alert('x')</script> & \x1b[31mred"
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;"
                     "q=0.9,*/*;q=0.8"}
REMOTE = {"X-Forwarded-For": "203.0.113.9"}  # through a proxy: not local


@pytest.fixture
def app(make_server):
    server = make_server()

    def inner():
        raise KeyError("inner cause")

    @server.text_get("/text")
    def _text(req, args):
        try:
            inner()
        except KeyError as err:
            raise ValueError(NASTY) from err

    @server.json_get("/json")
    def _json(req, args):
        raise ValueError(NASTY)

    @server.text_get("/huge")
    def _huge(req, args):
        raise ValueError("x" * 1_000_000)

    return server


def test_a_browser_gets_an_html_page_with_the_traceback(app):
    status, headers, body = get(app.port, "/text", headers=BROWSER)
    assert status == 500
    assert headers["content-type"] == "text/html; charset=utf-8"
    page = body.decode()
    assert "<h1>ValueError: bad &lt;script&gt;alert(&#x27;x&#x27;)" \
        "&lt;/script&gt; &amp; \\x1b[31mred</h1>" in page
    assert "<script>" not in page and "\x1b" not in page
    assert "in _text" in page and "inner()" in page
    assert "KeyError: &#x27;inner cause&#x27;" in page  # the cause too
    assert "GET /text HTTP/1.1" in page
    assert SCRIPT_TAG.decode() not in page  # live reload is off


def test_json_clients_get_error_and_type(app):
    for path, headers in (("/json", {}),
                          ("/text", {"Accept": "application/json"})):
        status, got, body = get(app.port, path, headers=headers)
        assert status == 500 and got["content-type"] == "application/json"
        answer = json.loads(body)
        assert answer["error"] == NASTY and answer["type"] == "ValueError"
        assert "Traceback (most recent call last)" in answer["traceback"]


def test_plain_clients_get_text(app):
    status, headers, body = get(app.port, "/text", headers={"Accept": "*/*"})
    assert status == 500
    assert headers["content-type"] == "text/plain; charset=utf-8"
    text = body.decode()
    assert text.startswith("500 Internal Server Error\nValueError: bad ")
    assert "\x1b" not in text and "\\x1b[31mred" in text  # no terminal codes
    assert "raise ValueError(NASTY) from err" in text


@pytest.mark.parametrize("accept", ["text/html", "*/*"])
def test_other_clients_get_the_plain_500(app, accept):
    status, headers, body = get(app.port, "/text",
                                headers={"Accept": accept, **REMOTE})
    assert (status, body) == (500, b"Internal Server Error\n")
    assert headers["content-type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize("path, accept", [("/json", "*/*"),
                                          ("/json", "application/json"),
                                          ("/text", "application/json")])
def test_a_json_client_gets_the_plain_500_as_json(app, path, accept):
    """`await r.json()` in a front end must not throw on a hidden 500."""
    status, headers, body = get(app.port, path,
                                headers={"Accept": accept, **REMOTE})
    assert status == 500 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"error": "Internal Server Error"}


def test_debug_shows_details_to_every_client(app):
    app.debug = True
    status, _, body = get(app.port, "/json", headers=REMOTE)
    assert status == 500 and json.loads(body)["type"] == "ValueError"
    status, _, body = get(app.port, "/text", headers={**BROWSER, **REMOTE})
    assert b"to every client because server.debug is True" in body


def test_debug_false_shows_details_to_no_one(app):
    app.debug = False
    status, _, body = get(app.port, "/json")  # this machine, no proxy
    assert (status, json.loads(body)) == (
        500, {"error": "Internal Server Error"})
    assert get(app.port, "/text", headers=BROWSER)[2] == \
        b"Internal Server Error\n"


PROXIED = [{"X-Real-IP": "203.0.113.9"}, {"Via": "1.1 nginx"},
           {"X-Client-IP": "203.0.113.9"}, {"True-Client-IP": "203.0.113.9"},
           {"Forwarded": "for=203.0.113.9;proto=https"},
           {"X-Forwarded-For": "127.0.0.1, 203.0.113.9"},  # appended
           # a forged local XFF passed on by a proxy that sets X-Real-IP
           {"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "198.51.100.7"},
           {"Forwarded": "proto=https"},  # no client named
           {"Forwarded": 'for="[::1]:5173", for=unknown'}]


@pytest.mark.parametrize("headers", PROXIED)
def test_every_proxy_header_hides_details(app, headers):
    status, got, body = get(app.port, "/json", headers=headers)
    assert (status, json.loads(body)) == (
        500, {"error": "Internal Server Error"}), headers


LOCAL_PROXY = [{"X-Forwarded-For": "127.0.0.1"},  # Vite, webpack
               {"X-Forwarded-For": "::1, 127.0.0.1"},
               {"X-Real-IP": "127.0.0.1", "X-Forwarded-For": "127.0.0.1"},
               {"Forwarded": 'for="[::1]:5173";proto=http'},
               {"Forwarded": "for=127.0.0.1:80"}]


@pytest.mark.parametrize("headers", LOCAL_PROXY)
def test_a_local_proxy_for_a_local_client_is_local(app, headers):
    status, _, body = get(app.port, "/json", headers=headers)
    assert status == 500 and json.loads(body)["type"] == "ValueError"


def test_details_are_bounded(app):
    status, _, body = get(app.port, "/huge", headers=BROWSER)
    assert status == 500 and len(body) < 250_000
    assert b"more characters)" in body


def test_with_live_reload_the_page_reloads_itself(app):
    app.live_reload = True  # the page's script; the stream needs a restart
    _, _, body = get(app.port, "/text", headers=BROWSER)
    assert SCRIPT_TAG in body


class _Req:
    def __init__(self, peer, headers):
        self.client_address = (peer, 1234)
        self.headers = Headers(list(headers.items()))


def test_local_requests():
    """Pure logic: the peer and every client a proxy header names."""
    assert is_local(_Req("127.0.0.1", {}))
    assert is_local(_Req("::1", {"X-Forwarded-For": "::1"}))
    assert not is_local(_Req("10.0.0.2", {}))
    assert not is_local(_Req("10.0.0.2", {"X-Forwarded-For": "127.0.0.1"}))
    for headers in PROXIED + [{"X-Forwarded-For": ""},
                              {"X-Real-IP": "localhost"}]:
        assert not is_local(_Req("127.0.0.1", headers)), headers
    for headers in LOCAL_PROXY:
        assert is_local(_Req("127.0.0.1", headers)), headers
    # a second header line counts as much as the first
    two = _Req("127.0.0.1", {})
    two.headers = Headers([("X-Forwarded-For", "127.0.0.1"),
                           ("X-Forwarded-For", "203.0.113.9")])
    assert not is_local(two)


def test_loopback_addresses():
    for host in ("127.0.0.1", "127.8.9.1", "::1", "::ffff:127.0.0.1"):
        assert is_loopback(host), host
    for host in ("10.0.0.1", "192.168.1.2", "::ffff:10.0.0.1", "fe80::1",
                 "", "localhost"):
        assert not is_loopback(host), host


def test_accept_qualities():
    assert accepted_types("text/html;q=0, application/json") == {
        "application/json"}
    assert accepted_types("TEXT/HTML; q=0.5,*/*;q=bad") == {"text/html"}
    assert accepted_types(None) == set()
