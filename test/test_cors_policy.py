"""The CORS policy without sockets (issue 18.7): off by default; `True` or
"*" lets any site read answers without credentials; a list lets exactly
those origins read them with credentials; a preflight answers allowed
origins only, and reflects the asked headers only when they are a plain
list of header names."""
from __future__ import annotations

from typing import Any

import pytest

from quick_server.http.cors import MAX_AGE, METHODS, CorsPolicy
from quick_server.http.wire import Headers

SITE = "http://localhost:3000"


def request(origin: str | None = None, asked: str | None = None) -> Headers:
    pairs = [("Host", "localhost:8000")]
    if origin is not None:
        pairs.append(("Origin", origin))
    if asked is not None:
        pairs.append(("Access-Control-Request-Method", "PUT"))
        pairs.append(("Access-Control-Request-Headers", asked))
    return Headers(pairs)


@pytest.mark.parametrize("setting", [False, None, "", []])
def test_off_sends_nothing(setting):
    policy = CorsPolicy(setting)
    assert not policy.any and not policy.origins
    assert policy.headers(request(SITE)) == []
    assert policy.preflight(request(SITE, "X-A")) == []


@pytest.mark.parametrize("setting", [True, "*"])
def test_any_origin_reads_without_credentials(setting):
    policy = CorsPolicy(setting)
    assert policy.any and not policy.origins
    for origin in (SITE, "https://evil.example", "null", None):
        headers = policy.headers(request(origin))
        assert headers == [("Access-Control-Allow-Origin", "*")]
        assert "Access-Control-Allow-Credentials" not in dict(headers)


def test_listed_origins_read_with_credentials():
    policy = CorsPolicy([SITE, "https://app.example"])
    assert not policy.any and len(policy.origins) == 2
    for origin in (SITE, "https://app.example"):
        assert policy.headers(request(origin)) == [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Credentials", "true"),
            ("Vary", "Origin")]


def test_one_origin_as_a_string():
    policy = CorsPolicy(SITE)
    assert policy.origins == frozenset([SITE])
    assert dict(policy.headers(request(SITE)))[
        "Access-Control-Allow-Origin"] == SITE


@pytest.mark.parametrize("origin", [
    None, "null", "", SITE + "/", SITE.upper(), "http://localhost:3001",
    "https://localhost:3000", "http://localhost", SITE + ".evil.example",
    "http://evil.localhost:3000", SITE + "\r\nX: y", SITE + " ", " " + SITE,
    "*",
])
def test_other_origins_get_only_vary(origin):
    """An origin is matched exactly: no prefix, suffix, case or port
    games; the answer still says it varies with Origin, so that no cache
    hands it to a listed origin."""
    policy = CorsPolicy([SITE])
    assert policy.headers(request(origin)) == [("Vary", "Origin")]
    assert policy.preflight(request(origin, "X-A")) == []


@pytest.mark.parametrize("setting", [
    ["localhost:3000"], ["http://localhost:3000/"], ["http://x/path"],
    ["ftp://x"], ["*"], ["http://a b"], ["http://x:99999999"], [""],
    [SITE, 3000], [None], "http://x\r\n", ["http://x?q"], ["http://x#f"],
])
def test_a_setting_that_is_not_a_list_of_origins_is_refused(setting):
    with pytest.raises(ValueError, match="cross_origin"):
        CorsPolicy(setting)


@pytest.mark.parametrize("origin", [
    "http://localhost:3000", "https://app.example", "http://127.0.0.1",
    "http://[::1]:8080", "https://xn--bcher-kva.example",
])
def test_origins_of_every_form_are_accepted(origin):
    assert CorsPolicy([origin]).origins == frozenset([origin])


def test_current_parses_each_setting_once():
    setting = [SITE]
    policy = CorsPolicy(setting)
    assert policy.current(setting) is policy
    other = policy.current(["https://app.example"])
    assert other is not policy and other.origins == {"https://app.example"}
    assert policy.current(True).any
    assert policy.current(False).headers(request(SITE)) == []


# -- preflight ----------------------------------------------------------------

def test_a_preflight_of_an_allowed_origin():
    for policy, origin in ((CorsPolicy([SITE]), SITE),
                           (CorsPolicy(True), "https://any.example")):
        assert policy.preflight(request(origin, "Content-Type, X-Token")) == [
            ("Access-Control-Allow-Methods", METHODS),
            ("Access-Control-Allow-Headers", "Content-Type, X-Token"),
            ("Access-Control-Max-Age", MAX_AGE)]


def test_a_preflight_without_asked_headers_allows_content_type():
    policy = CorsPolicy([SITE])
    for asked in (None, "", "   "):
        assert dict(policy.preflight(request(SITE, asked)))[
            "Access-Control-Allow-Headers"] == "Content-Type"


@pytest.mark.parametrize("asked", [
    "X-A; q=1", "X-A, ", ",X-A", "X-A,,X-B", "X-A <script>", 'X-"A"',
    "X-A\x00", "X-\u00e9", "X-A:1", "X-A/B",
])
def test_asked_headers_that_are_not_header_names_are_not_reflected(asked):
    allow = dict(CorsPolicy(True).preflight(request(SITE, asked)))[
        "Access-Control-Allow-Headers"]
    assert allow == "Content-Type"


@pytest.mark.parametrize("asked", [
    "X-A,\x0bX-B",  # vertical tab: \s in the check's regex
    "X-A\x0c,X-B",  # form feed
    "X-A,\x1cX-B",  # file separator (str.isspace)
    "X-A\x85,X-B",  # NEL, a latin-1 byte of a request header
    "X-A\r\n,X-B",  # only a header built by hand holds these
])
def test_reflected_headers_hold_no_control_characters(asked):
    allow = dict(CorsPolicy(True).preflight(request(SITE, asked)))[
        "Access-Control-Allow-Headers"]
    assert all(c in " \t," or c.isascii() and (c.isalnum() or c in "-_")
               for c in allow), repr(allow)


def test_a_long_list_of_asked_headers_is_reflected_as_checked():
    asked = ", ".join(f"X-H{i}" for i in range(50))
    allow = dict(CorsPolicy([SITE]).preflight(request(SITE, asked)))[
        "Access-Control-Allow-Headers"]
    assert allow == asked


def test_headers_read_from_any_mapping():
    """The policy reads request headers with `.get` (the handler's
    Headers, or a plain dict with lower-case keys)."""
    plain: dict[str, Any] = {"origin": SITE}
    assert CorsPolicy([SITE]).headers(plain)[0] == \
        ("Access-Control-Allow-Origin", SITE)
