"""Log lines: a timestamp on each, colours on a terminal (not with
NO_COLOR, not in a file), the request time in milliseconds (not counting
the wait for the request), `server.log_format`; every message escaped
and its further lines indented, whatever it holds."""
from __future__ import annotations

import json
import os
import pty
import re
import select
import socket
import time

import pytest

from conftest import LogLines, get, listening_socket, start_process, wait_for
from quick_server import log

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} "
LINE = re.compile(STAMP + r"\[SERVER\] (.*)")


def test_every_message_has_a_timestamp(lines):
    before = time.strftime("%Y-%m-%d %H:%M")
    log.msg("first {0}", 1)
    log.msg("second")
    written = lines.text.splitlines()
    assert [LINE.fullmatch(line).group(1) for line in written] == [
        "first 1", "second"]
    assert written[0][:16] in (before, time.strftime("%Y-%m-%d %H:%M"))
    assert "\x1b" not in lines.text  # a file gets no colours


def test_further_lines_of_a_message_are_indented(lines):
    """A message's further lines sit under its first line's text: none
    can pass for a log line, whatever a client put in it."""
    log.msg("first\nsecond {0}\n\n{1}\n", 2,
            "2001-01-01 00:00:00.000 [SERVER] forged")
    written = lines.text.split("\n")
    assert LINE.fullmatch(written[0]).group(1) == "first"
    indent = " " * written[0].index("first")
    assert written[1:] == [indent + "second 2", indent,
                           indent + "2001-01-01 00:00:00.000 [SERVER] forged",
                           ""]  # the message's own last newline: dropped


def test_every_control_character_but_newline_is_escaped(lines, monkeypatch):
    """Whatever a message holds (a job's error text, a service's name),
    nothing in it reaches the terminal raw: ESC and OSC sequences, CR,
    backspace, C1 controls, line separators, bidirectional overrides."""
    monkeypatch.setattr(log, "TIME_FORMAT", None)
    log.msg("job failed: {0}", "\x1b[2J\x1b]0;title\x07a\rb\x08\x9b"
            "\u2028c\u202ed\te")
    assert lines.text == ("[SERVER] job failed: \\x1b[2J\\x1b]0;title"
                          "\\x07a\\x0db\\x08\\x9b\\u2028c\\u202ed"
                          "\\x09e\n")
    assert lines.text.isascii()


def test_colours_stay_around_an_escaped_message(monkeypatch):
    """The writer adds its colours after escaping: its own escape
    sequences stay, the message's are shown; further lines keep the
    line's colour."""
    target = Tty()
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setattr(log, "TIME_FORMAT", None)
    log.set_log_file(target)
    log.request("{request}", {"request": "a\x1b[31mb\nc"}, 500, False)
    assert target.text == ("[SERVER] \x1b[31ma\\x1b[31mb\x1b[0m\n"
                           "         \x1b[31mc\x1b[0m\n")


def test_the_timestamp_can_be_left_out(lines, monkeypatch):
    monkeypatch.setattr(log, "TIME_FORMAT", None)
    log.msg("plain")
    assert lines.text == "[SERVER] plain\n"


def test_request_lines_give_milliseconds(make_server, lines):
    server = make_server()
    server.suppress_noise = False

    @server.text_get("/x")
    def _x(req, args):
        return "xx"

    get(server.port, "/x")
    line = wait_for(lambda: next((LINE.fullmatch(line).group(1)
                                  for line in lines.text.splitlines()
                                  if "GET /x" in line), None),
                    what="the request line")
    assert re.fullmatch(r'127\.0\.0\.1 "GET /x HTTP/1\.1" 200 2 B '
                        r'\d+\.\d ms', line), line


def test_the_wait_for_a_request_is_not_its_time(make_server, lines):
    """On a kept-alive connection, the time a request took starts with
    its first byte, not when the previous answer went out."""
    server = make_server()
    server.suppress_noise = False
    with socket.create_connection(("127.0.0.1", server.port), 5) as sock:
        for number in range(2):
            if number:
                time.sleep(1.0)  # the connection waits, idle
            sock.sendall(b"GET /missing HTTP/1.1\r\nHost: a\r\n\r\n")
            assert b"404" in sock.recv(4096)
    found = wait_for(lambda: re.findall(r" 404 10 B (\d+\.\d) ms",
                                        lines.text)[1:],
                     what="the second request's line")
    assert float(found[0]) < 900, lines.text


def test_log_format(make_server, lines):
    server = make_server()
    server.suppress_noise = False
    server.log_format = "{method} {path} -> {status} ({user_agent}) " \
                        "{bytes}B {ms:.0f}ms route={route}"
    get(server.port, "/nothing?q=1", headers={"User-Agent": "probe\x1b[2J"})
    line = wait_for(lambda: next((line for line in lines.text.splitlines()
                                  if "/nothing" in line), None),
                    what="the line")
    assert re.search(r"\] GET /nothing\?q=1 -> 404 \(probe\\x1b\[2J\) "
                     r"10B \d+ms route=\(no route\)$", line), line
    for bad in ("{nope}", "{} {status}", "{status:q}", "{ms"):
        with pytest.raises(ValueError, match="fields: client, request"):
            server.log_format = bad
    assert server.log_format.startswith("{method}")  # kept


def test_control_characters_of_an_exception_are_escaped(make_server, lines):
    server = make_server()

    @server.text_get("/boom")
    def _boom(req, args):
        raise ValueError("from a client: \x1b]0;title\x07")

    assert get(server.port, "/boom")[0] == 500
    wait_for(lambda: "ValueError" in lines.text, what="the traceback")
    assert "\x1b" not in lines.text and "\x07" not in lines.text
    assert "from a client: \\x1b]0;title\\x07" in lines.text


class Tty(LogLines):
    def isatty(self):
        return True


def test_colours_on_a_terminal_unless_no_color(monkeypatch):
    target = Tty()
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    log.set_log_file(target)
    log.msg("note")
    log.request("{status}", {"status": 404}, 404, False)
    log.request("{status}", {"status": 503}, 503, False)
    log.request("{status}", {"status": 200}, 200, True)
    got = target.text.splitlines()
    assert re.fullmatch("\x1b\\[2m" + STAMP + "\x1b\\[0m\\[SERVER\\] note",
                        got[0]), got
    assert got[1].endswith("[SERVER] \x1b[33m404\x1b[0m")
    assert got[2].endswith("[SERVER] \x1b[31m503\x1b[0m")
    assert got[3].endswith("[SERVER] \x1b[35mSLOW REQUEST 200\x1b[0m")
    for name, value in (("NO_COLOR", "1"), ("TERM", "dumb")):
        with monkeypatch.context() as env:
            env.setenv(name, value)
            target.text = ""
            log.msg("plain")
            log.request("{status}", {"status": 404}, 404, False)
            assert "\x1b" not in target.text


def test_a_server_on_a_real_terminal(tmp_path):
    """A server process whose stderr is a pseudo-terminal: colours; the
    same with NO_COLOR: none."""
    script = tmp_path / "app.py"
    script.write_text(
        "import sys\nsys.path.insert(0, %r)\n"
        "from quick_server import create_server\n"
        "server = create_server(('127.0.0.1', int(sys.argv[1])))\n"
        "server.no_command_loop = True\n"
        "server.serve_forever()\n" % ROOT)
    for no_color, coloured in (("", True), ("1", False)):
        sock, port = listening_socket()
        main, child = pty.openpty()
        env = {**os.environ, "NO_COLOR": no_color, "TERM": "xterm"}
        proc = start_process([str(script), str(port)], sock, serving=False,
                             stdout=child, stderr=child, env=env)
        os.close(child)
        try:
            wait_for(lambda: _answers(port), what="the server")
            get(port, "/missing")
            out = _read_until(main, b"404")
        finally:
            proc.terminate()
            proc.wait(10)
            os.close(main)
        assert (b"\x1b[33m127.0.0.1" in out) is coloured, out
        assert (b"\x1b[2m" in out) is coloured, out


def _answers(port):
    try:
        return get(port, "/")[0] > 0
    except OSError:
        return False


def _read_until(fd, needle, timeout=10.0):
    out = b""
    end = time.monotonic() + timeout
    while needle not in out and time.monotonic() < end:
        if select.select([fd], [], [], 0.1)[0]:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    # the rest of the line
    if select.select([fd], [], [], 0.2)[0]:
        out += os.read(fd, 4096)
    return out


FORGED = "x\r\n2001-01-01 00:00:00.000 [SERVER] forged\x1b]0;title\x07!"


def _no_forged_line(text):
    """Every line of `text` is a log line (time and prefix) or a further
    line of one (indented), and nothing in it drives the terminal."""
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    for line in text.split("\n")[:-1]:
        assert LINE.fullmatch(line) or line.startswith("    "), line
    assert "x\\x0d\n" in text and "forged\\x1b]0;title\\x07!" in text
    return True


def test_a_jobs_error_text_cannot_forge_a_line(make_server, lines):
    """`raise ValueError(payload["m"])`: the traceback that holds the
    client's text is logged escaped, its lines indented."""
    server = make_server()

    @server.json_worker("/work", executor="thread")
    def _work(payload):
        raise ValueError(payload["m"])

    status, _, _ = get(server.port, "/work", "POST", json.dumps(
        {"action": "start", "payload": {"m": FORGED}}).encode(),
        {"Content-Type": "application/json"})
    assert status in (200, 500)
    wait_for(lambda: "ValueError" in lines.text, what="the job's error")
    assert _no_forged_line(lines.text)


def test_a_service_name_cannot_forge_a_line(make_server, lines):
    server = make_server()
    server.bind_services(key="k")
    status, _, _ = get(server.port, "/services", "POST", json.dumps(
        {"name": FORGED}).encode(), {"Authorization": "Bearer k",
                                     "Content-Type": "application/json"})
    assert status == 200
    wait_for(lambda: "registered" in lines.text, what="the log line")
    assert _no_forged_line(lines.text)
