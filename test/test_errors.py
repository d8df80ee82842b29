"""Error pages: an exception in a handler is shown (escaped) to a client
on this machine or with `server.debug`, as HTML, JSON or text by what the
client accepts; everyone else gets the plain 500."""
from __future__ import annotations

import json

import pytest

from conftest import get
from quick_server.errors import accepted_types, is_loopback
from quick_server.reload import SCRIPT_TAG

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


@pytest.mark.parametrize("accept", ["text/html", "application/json", "*/*"])
def test_other_clients_get_the_plain_500(app, accept):
    for path in ("/text", "/json"):
        status, headers, body = get(app.port, path,
                                    headers={"Accept": accept, **REMOTE})
        assert (status, body) == (500, b"Internal Server Error\n")
        assert headers["content-type"] == "text/plain; charset=utf-8"


def test_debug_shows_details_to_every_client(app):
    app.debug = True
    status, _, body = get(app.port, "/json", headers=REMOTE)
    assert status == 500 and json.loads(body)["type"] == "ValueError"
    status, _, body = get(app.port, "/text", headers={**BROWSER, **REMOTE})
    assert b"server.debug is on" in body


def test_details_are_bounded(app):
    status, _, body = get(app.port, "/huge", headers=BROWSER)
    assert status == 500 and len(body) < 250_000
    assert b"more characters)" in body


def test_with_live_reload_the_page_reloads_itself(app):
    app.live_reload = True  # the page's script; the stream needs a restart
    _, _, body = get(app.port, "/text", headers=BROWSER)
    assert SCRIPT_TAG in body


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
