"""The one response-header validator without sockets: `header_lines`
(and `response_head`, which every response head goes through) refuses a
name that is not a token and a value holding any control character but
tab (RFC 9110 5.5: VCHAR, SP, HTAB, obs-text)."""
from __future__ import annotations

import pytest

from quick_server.http.responses import (UnsafeHeader, header_lines,
                                         response_head)


def test_plain_fields_become_crlf_lines():
    assert header_lines([("X-A", "a b\tc"), ("X-B", "caf\xe9 \x85")]) == \
        "X-A: a b\tc\r\nX-B: caf\xe9 \x85\r\n"
    assert header_lines([]) == ""


@pytest.mark.parametrize("value", [
    "a\r\nX-Evil: 1", "a\nb", "a\rb", "a\0b", "a\x0bb", "a\x0cb", "a\x1bb",
    "\x1c", "a\x1fb", "a\x7fb", "\x01",
])
def test_a_control_character_in_a_value_is_refused(value):
    with pytest.raises(UnsafeHeader, match="'X-Bad'"):
        header_lines([("X-Ok", "fine"), ("X-Bad", value)])
    with pytest.raises(UnsafeHeader):
        response_head("HTTP/1.1", 200, [("X-Bad", value)])


@pytest.mark.parametrize("name", ["X A", "X:A", "X\r\nA", "", "X\x0bA"])
def test_a_name_that_is_not_a_token_is_refused(name):
    with pytest.raises(UnsafeHeader):
        header_lines([(name, "v")])
