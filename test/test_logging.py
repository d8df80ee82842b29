"""The log through the standard `logging` module: server messages on the
logger "quick_server", a record per request on "quick_server.access"
(client, method, path, status, size, duration as attributes), job events
on "quick_server.jobs". With no handler configured the terminal lines
are as they were; configured handlers (a file, JSON lines, pytest's
caplog) get every record, its message escaped as the terminal's line,
its attributes the data as the client sent it."""
from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys

import pytest

from conftest import get, raw, wait_for
from quick_server import log

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# a program that logs the messages of every kind to a stand-in terminal
# (so: coloured) and prints what it got; with "logging" it imports the
# module first (and configures nothing)
TERMINAL_PROGRAM = r"""
import io, os, sys
os.environ["TERM"] = "xterm"
os.environ.pop("NO_COLOR", None)
class Tty(io.StringIO):
    def isatty(self):
        return True
sys.stderr = Tty()
if sys.argv[1] == "logging":
    import logging
from quick_server import log
log.TIME_FORMAT = None
log.msg("plain {0}", 1)
log.msg("two\nlines \x1b[2J\u202e end\n")
fields = dict(log.REQUEST_FIELDS, path="/a\x1b]0;t\x07")
for status, slow in ((404, False), (503, False), (200, True), (200, False)):
    log.request("{method} {path} {status}", dict(fields, status=status),
                status, slow)
log.job_error("error in worker job {0}:\n{1}", "abc", "ValueError: x\ry")
log.debug(lambda: 1 / 0)  # not built
log.DEBUG = True
log.debug(lambda: "shown")
try:
    raise ValueError("boom\x07")
except ValueError:
    log.log_exception("context")
log.set_prompt("> ")
log.msg("under the prompt")
log.end_prompt()
sys.stdout.write(sys.stderr.getvalue())
sys.stdout.write("logging loaded: %s\n" % ("logging" in sys.modules))
"""

RAISE_LINE = TERMINAL_PROGRAM.split("\n").index(
    '    raise ValueError("boom\\x07")') + 1
TERMINAL = (
    "[SERVER] plain 1\n"
    "[SERVER] two\n"
    "         lines \\x1b[2J\\u202e end\n"
    "[SERVER] \x1b[33mGET /a\\x1b]0;t\\x07 404\x1b[0m\n"
    "[SERVER] \x1b[31mGET /a\\x1b]0;t\\x07 503\x1b[0m\n"
    "[SERVER] \x1b[35mSLOW REQUEST GET /a\\x1b]0;t\\x07 200\x1b[0m\n"
    "[SERVER] GET /a\\x1b]0;t\\x07 200\n"
    "[SERVER] error in worker job abc:\n"
    "         ValueError: x\\x0dy\n"
    "[SERVER] [DEBUG] shown\n"
    "[SERVER] context\n"
    "         Traceback (most recent call last):\n"
    f'           File "<string>", line {RAISE_LINE}, in <module>\n'
    "         ValueError: boom\\x07\n"
    "\r\x1b[K[SERVER] under the prompt\n"
    "> \r\x1b[K")


@pytest.mark.parametrize("imported", ["logging", "no logging"])
def test_without_handlers_the_terminal_lines_stay_as_they_were(imported):
    """In a program that configured no handler (pytest's are not there),
    the lines are byte for byte those of the writer before `logging`:
    colours, escaping, indented further lines, the prompt. A program that
    does not import `logging` does not get it loaded."""
    done = subprocess.run(
        [sys.executable, "-c", TERMINAL_PROGRAM, imported],
        capture_output=True, timeout=60, check=True,
        env={**os.environ, "PYTHONPATH": ROOT})
    out, loaded = done.stdout.decode().rsplit("logging loaded: ", 1)
    # Python 3.13 prints the source line of a `-c` program in tracebacks
    out = re.sub(r"\n +raise ValueError\(\"boom\\x07\"\)(?=\n)", "", out)
    assert out == TERMINAL, out
    assert loaded == ("True\n" if imported == "logging" else "False\n")


def access_records(caplog, count=1):
    """The records of "quick_server.access" (waited for: the line is
    logged just after the response went out)."""
    return wait_for(lambda: [record for record in caplog.records
                             if record.name == "quick_server.access"]
                    if sum(record.name == "quick_server.access"
                           for record in caplog.records) >= count else None,
                    what="the access records")


def test_caplog_gets_a_record_per_request(make_server, caplog, lines):
    """Under pytest, caplog gets the records and the lines are written as
    ever (its capturing handlers are no configuration)."""
    server = make_server()
    server.suppress_noise = False

    @server.text_get("/x")
    def _x(req, args):
        return "xx"

    assert get(server.port, "/x?q=1")[0] == 200
    assert get(server.port, "/missing", "POST", b"{}")[0] == 404
    first, second = access_records(caplog, 2)
    assert (first.client, first.method, first.path, first.status,
            first.size, first.slow) == ("127.0.0.1", "GET", "/x?q=1", 200,
                                        2, False)
    assert (second.method, second.path, second.status, second.size) == (
        "POST", "/missing", 404, 10)
    for record in (first, second):
        assert record.levelno == logging.INFO
        assert 0 <= record.duration < 10
        # the message is the terminal's line, without its time and prefix
        assert f"[SERVER] {record.getMessage()}\n" in lines.text
        assert record.pathname.endswith("connection.py")
    assert re.fullmatch(r'127\.0\.0\.1 "GET /x\?q=1 HTTP/1\.1" 200 2 B '
                        r'\d+\.\d ms', first.getMessage())
    assert first.getMessage().endswith(f" {first.duration * 1000:.1f} ms")


def test_a_raw_path_is_data_in_the_record_and_escaped_in_the_line(
        make_server, caplog, lines):
    """A request target with an escape sequence (refused: 400): the
    record's `path` is what the client sent, data for a handler that
    stores or encodes it (as JSON does); its message, like the terminal
    line, has it escaped, so that no handler writes it raw."""
    server = make_server()
    server.suppress_noise = False
    target = "/a\x1b]0;title\x07\x1b[2Jb"
    answer = raw(server.port, f"GET {target} HTTP/1.1\r\nHost: a\r\n"
                 "\r\n".encode("latin-1"))
    assert answer.startswith(b"HTTP/1.1 400")
    record, = access_records(caplog)
    assert (record.method, record.path, record.status) == (
        "GET", target, 400)
    escaped = "/a\\x1b]0;title\\x07\\x1b[2Jb"
    assert escaped in record.getMessage()
    assert "\x1b" not in record.getMessage()
    line = lines.line(f"GET {escaped}")
    assert "\x1b" not in lines.text and line.endswith(record.getMessage())
    # a JSON-lines handler of the user's keeps the path exactly
    stored = json.loads(json.dumps({"path": record.path}))
    assert stored["path"] == target


class JsonLines(logging.Formatter):
    """A user's JSON-lines formatter: a record as one JSON object."""

    def format(self, record):
        entry = {"logger": record.name, "level": record.levelname,
                 "message": record.getMessage()}
        for name in ("client", "method", "path", "status", "size",
                     "duration"):
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        return json.dumps(entry)


def test_a_users_handlers_get_every_record_and_the_terminal_none(
        make_server, tmp_path, capsys):
    """A `FileHandler` (JSON lines) on "quick_server": server messages,
    request records and job events arrive there, and nothing is written
    on the terminal; `set_log_file(sys.stderr)` brings the lines back
    beside the handler."""
    saved = log._LOG_FILE  # pylint: disable=protected-access
    log.set_log_file(None)  # (the tests' own target would write anyway)
    path = tmp_path / "server.jsonl"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonLines())
    top = logging.getLogger("quick_server")
    top.addHandler(handler)
    try:
        server = make_server()
        server.suppress_noise = False

        @server.json_worker("/work", executor="thread")
        def _work(payload):
            raise ValueError(payload["m"])

        log.msg("hello {0}", "\x1b[2J")
        assert get(server.port, "/nothing?x=\x7f".replace("\x7f", "%7f"))[
            0] == 404
        get(server.port, "/work", "POST", json.dumps(
            {"action": "start", "payload": {"m": "bad\nline"}}).encode(),
            {"Content-Type": "application/json"})

        def entries():
            return [json.loads(text) for text in
                    path.read_text(encoding="utf-8").splitlines()]

        wait_for(lambda: any(entry["logger"] == "quick_server.jobs"
                             for entry in entries()), what="the job event")
        wait_for(lambda: sum(entry["logger"] == "quick_server.access"
                             for entry in entries()) >= 2,
                 what="the request records")
        got = entries()
        assert {"logger": "quick_server", "level": "INFO",
                "message": "hello \\x1b[2J"} in got
        access = [entry for entry in got
                  if entry["logger"] == "quick_server.access"]
        assert access[0]["path"] == "/nothing?x=%7f"
        assert (access[0]["status"], access[0]["size"]) == (404, 10)
        job, = [entry for entry in got
                if entry["logger"] == "quick_server.jobs"]
        assert job["level"] == "ERROR"
        assert job["message"].startswith("error in worker job ")
        # further lines indented: none passes for a line of its own
        assert "\n    ValueError: bad\n    line" in job["message"]
        assert "[SERVER]" not in capsys.readouterr().err
        log.set_log_file(sys.stderr)
        log.msg("on both")
        assert capsys.readouterr().err.endswith("[SERVER] on both\n")
        assert entries()[-1]["message"] == "on both"
    finally:
        log.set_log_file(saved)  # (not capsys's stream: closed after)
        top.removeHandler(handler)
        handler.close()


def test_pytests_capture_is_no_configuration(caplog, capsys):
    """caplog's handler sits on the root logger: the record arrives and
    the line is still written to stderr."""
    log.set_log_file(None)
    log.msg("seen {0}", "twice")
    assert capsys.readouterr().err.endswith("[SERVER] seen twice\n")
    record = caplog.records[-1]
    assert (record.name, record.levelno, record.getMessage()) == (
        "quick_server", logging.INFO, "seen twice")
    assert record.funcName == "test_pytests_capture_is_no_configuration"


def test_records_are_escaped_and_indented_as_the_lines(caplog, lines):
    log.msg("first\nsecond \x1b[2J\n")
    try:
        raise KeyError("from a client\x07")
    except KeyError:
        log.log_exception("while answering")
    plain, failed = caplog.records[-2:]
    assert plain.getMessage() == "first\n    second \\x1b[2J"
    assert failed.levelno == logging.ERROR
    assert failed.getMessage().startswith(
        "while answering\n    Traceback (most recent call last):\n")
    assert failed.getMessage().endswith(
        "\n    KeyError: 'from a client\\x07'")


def test_the_loggers_levels_apply_to_records_and_lines(caplog, lines):
    """A level set on a logger quiets its records and its lines; DEBUG
    on "quick_server" does what `log.DEBUG = True` does."""
    access = logging.getLogger("quick_server.access")
    access.setLevel(logging.WARNING)
    try:
        log.request("{status}", {"status": 404}, 404, False)
        log.job_msg("released")
    finally:
        access.setLevel(logging.NOTSET)
    assert "404" not in lines.text and "released" in lines.text
    assert [record.name for record in caplog.records] == [
        "quick_server.jobs"]
    built = []
    log.debug(lambda: built.append(1) or "costly")
    assert not built and "costly" not in lines.text
    caplog.set_level(logging.DEBUG, logger="quick_server")
    log.debug(lambda: built.append(1) or "costly")
    assert built == [1] and "[SERVER] [DEBUG] costly\n" in lines.text
    assert caplog.records[-1].levelno == logging.DEBUG


def test_a_non_propagating_logger_with_a_handler_keeps_its_records(
        caplog, capsys):
    """"quick_server" with a handler of its own and `propagate` off: the
    records stay there (as `logging` says), and no line is written."""
    log.set_log_file(None)
    top = logging.getLogger("quick_server")
    got = []
    handler = logging.Handler()
    handler.emit = got.append  # type: ignore[method-assign]
    top.addHandler(handler)
    top.propagate = False
    try:
        log.job_warning("worker job {0}: too large", "abc")
    finally:
        top.propagate = True
        top.removeHandler(handler)
    assert [(record.name, record.levelno) for record in got] == [
        ("quick_server.jobs", logging.WARNING)]
    assert not any(record.name.startswith("quick_server")
                   for record in caplog.records)
    assert capsys.readouterr().err == ""
