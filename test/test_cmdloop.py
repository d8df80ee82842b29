"""The command loop through a pseudo-terminal and pipes; restart, quit
and signals on real processes; where log lines go while tests run."""
from __future__ import annotations

import os
import re
import pty
import select
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import get, listening_socket, start_process
from quick_server import log
from quick_server.dev.cmdloop import MAX_LINE, CommandLoop, FdLines

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = '''
import os, sys, time
sys.path.insert(0, {root!r})
from quick_server import create_server, msg, setup_restart, has_been_restarted
if {supervise}:
    setup_restart()
server = create_server(("127.0.0.1", {port}))
if {supervise}:  # on port 0: the test reads the port
    msg(f"at http://127.0.0.1:{{server.port}}/")
server.history_file = {history!r}

@server.cmd()
def cache_clear(args):
    """clears the cache"""
    msg("cleared {{0}}", args)

def complete_greet(args, text):
    return [n for n in ("alice", "albert", "bob") if n.startswith(text)]

@server.cmd(1, complete=complete_greet)
def greet(args):
    msg("hello {{0}}", args[0])

@server.cmd()
def boom(args):
    raise RuntimeError("command failed")

@server.text_get("/pid")
def _pid(req, args):
    return f"{{os.getpid()}} {{has_been_restarted()}}"

@server.text_get("/slow")
def _slow(req, args):
    time.sleep(1.0)
    return "finished"

msg("READY")
try:
    server.serve_forever()
finally:
    server.server_close()
'''


def write_script(tmp_path, supervise=False):
    """The script, and the socket to hand it (`start_process`'s `sock`);
    under `setup_restart()` none (its supervisor would keep it from the
    child): the script listens on port 0 and prints its URL."""
    sock, port = (None, 0) if supervise else listening_socket()
    path = tmp_path / "app.py"
    path.write_text(SCRIPT.format(root=ROOT, port=port, supervise=supervise,
                                  history=str(tmp_path / "history")))
    return str(path), sock


def wait_port(port, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            return get(port, "/pid")[2].decode()
        except OSError:
            time.sleep(0.05)
    raise AssertionError("server did not come up")


def reap(proc: subprocess.Popen) -> None:
    """Ends a child started here (if it still runs) and closes its pipes."""
    proc.kill()
    proc.wait()
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()


class Pty:
    """A child process on a pseudo-terminal."""

    def __init__(self, args, sock):
        # not pty.fork(): forking a multi-threaded test process is unsafe
        self.fd, child_fd = pty.openpty()
        self.proc = start_process(
            args, serving=False, stdin=child_fd, stdout=child_fd,
            stderr=child_fd, start_new_session=True, close_fds=True,
            sock=sock)
        os.close(child_fd)
        self.out = b""

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.fd)

    def expect(self, needle: bytes, timeout: float = 10.0,
               since: int = 0) -> bytes:
        """Everything read so far, once `needle` is in it after `since`."""
        end = time.monotonic() + timeout
        while needle not in self.out[since:]:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{needle!r} not in {self.out[-2000:]!r}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    self.out += os.read(self.fd, 65536)
                except OSError:
                    break
        return self.out

    def wait(self, timeout: float = 10.0) -> int:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                self.expect(b"\0never", 0.05)
            except AssertionError:
                pass
            code = self.proc.poll()
            if code is not None:
                return code
        self.proc.kill()
        raise AssertionError("process did not end")


def test_commands_on_a_terminal(tmp_path):
    script, sock = write_script(tmp_path)
    term = Pty([script], sock)
    port = term.proc.port
    try:
        term.expect(b"READY")
        wait_port(port)
        term.send(b"help\r")
        out = term.expect(b"restart")
        assert b"cache clear" in out and b"greet" in out and b"quit" in out
        term.send(b"cache clear a b  # comment\r")
        term.expect(b"cleared ['a', 'b']")
        term.send(b"greet\r")
        term.expect(b"'greet' takes 1 argument, got 0")
        term.send(b"boom\r")
        term.expect(b"RuntimeError: command failed")
        term.send(b"nosuch\r")
        term.expect(b"unknown command 'nosuch'")
        term.send(b"cac\t")  # completes the command word
        term.expect(b"cache ")
        term.send(b"cl\t\r")
        term.expect(b"cleared []")
        term.send(b"cache_cl\tx\r")  # the name as written in Python
        term.expect(b"cleared ['x']")
        term.send(b"greet b\t\r")  # completes an argument
        done = term.expect(b"hello bob").index(b"hello bob")
        term.expect(b"> ", since=done)  # the prompt waits again
        # a message while the prompt waits: the prompt's line is cleared
        # first and the prompt shown again after it
        get(port, "/missing")
        out = term.expect(b'"GET /missing HTTP/1.1" 404 10 B')
        line = out[out.rindex(b"\r\x1b[K", 0, out.index(b"GET /missing")):]
        # the cleared line: a dim time, the prefix, a yellow (4xx) request
        assert re.match(rb'\r\x1b\[K\x1b\[2m[0-9: .-]+ \x1b\[0m\[SERVER\] '
                        rb'\x1b\[33m127\.0\.0\.1 "GET /missing', line), line
        out = term.expect(b"> ")
        assert out.rstrip().endswith(b">")
        term.send(b"quit\r")
        assert term.wait() == 0
        assert "greet b" in (tmp_path / "history").read_text()
        # the port is free again
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
    finally:
        term.close()


def test_eof_keeps_serving_and_sigterm_is_graceful(tmp_path):
    script, sock = write_script(tmp_path)
    proc = start_process([script], sock)
    port = proc.port
    try:
        wait_port(port)
        result = {}
        slow = threading.Thread(target=lambda: result.update(
            r=get(port, "/slow")))
        slow.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        slow.join(5)
        out = proc.communicate(timeout=10)[0].decode()
        assert result["r"][2] == b"finished"  # the in-flight request ended
        assert proc.returncode == 0
        assert "end of input" in out and "served" in out
        assert "GET /slow: 1 (2xx 1)" in out
        assert time.monotonic() - t0 < 3
    finally:
        reap(proc)


def test_quit_from_pipe_is_fast(tmp_path):
    script, sock = write_script(tmp_path)
    proc = start_process([script], sock, stdin_pipe=True)
    port = proc.port
    try:
        wait_port(port)
        t0 = time.monotonic()
        out = proc.communicate(b"cache_clear a_b\ncache clear c\nquit\n",
                               timeout=10)[0].decode()
        assert proc.returncode == 0 and time.monotonic() - t0 < 3
        assert "cleared ['a_b']" in out and "cleared ['c']" in out
    finally:
        reap(proc)


@pytest.mark.parametrize("supervise", [True, False])
def test_restart_serves_again_from_a_new_process(tmp_path, supervise):
    script, sock = write_script(tmp_path, supervise=supervise)
    proc = start_process([script], sock, stdin_pipe=True)
    port = proc.port
    try:
        first = wait_port(port)
        assert first.endswith("False")
        proc.stdin.write(b"restart\n")
        proc.stdin.flush()
        end = time.monotonic() + 15
        second = first
        while second == first and time.monotonic() < end:
            time.sleep(0.1)
            try:
                second = get(port, "/pid")[2].decode()
            except OSError:
                pass
        assert second != first and second.endswith("True")
        proc.stdin.write(b"quit\n")
        proc.stdin.flush()
        proc.stdin.close()
        assert proc.wait(10) == 0
    finally:
        reap(proc)


def test_partly_typed_command_is_drawn_again_after_a_message(tmp_path):
    script, sock = write_script(tmp_path)
    term = Pty([script], sock)
    port = term.proc.port
    try:
        term.expect(b"READY")
        wait_port(port)
        term.expect(b"> ")
        term.send(b"cache cl")  # no Enter yet
        term.expect(b"cache cl")
        get(port, "/missing")  # its request log line is printed
        line = b'"GET /missing HTTP/1.1" 404'
        start = term.expect(line).index(line)
        term.expect(b"\n> cache cl", timeout=5, since=start)
        term.send(b"ear\r")  # the line itself was never lost
        term.expect(b"cleared []", since=start)
        term.send(b"quit\r")
        assert term.wait() == 0
    finally:
        term.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_while_stdin_is_an_open_pipe(tmp_path, signum):
    """The command loop waits on a pipe that stays open: the interpreter
    still ends cleanly (it once died of a buffered-IO lock at exit)."""
    script, sock = write_script(tmp_path)
    with open(tmp_path / "out", "w+b") as out:
        proc = start_process([script], sock, stdin_pipe=True, stdout=out)
        port = proc.port
        try:
            wait_port(port)
            proc.send_signal(signum)
            code = proc.wait(10)
        finally:
            reap(proc)
        out.seek(0)
        text = out.read().decode()
    assert "Fatal Python error" not in text
    assert code == 0 and "served 1 request" in text


def make_loop():
    """A command loop with two-word commands; calls are recorded."""
    calls = []
    loop = CommandLoop()

    def cache_clear(args):
        """clears the cache"""
        calls.append(("cache_clear", args))

    def cache_stats(args):
        calls.append(("cache_stats", args))

    def complete_sections(args, text):
        return [s for s in ("alpha", "beta") if s.startswith(text)]

    loop.add(cache_clear, complete=complete_sections)
    loop.add(cache_stats, 0)
    return loop, calls


def test_underscore_and_spaced_names_run_the_same_command(capsys):
    log.set_log_file(None)
    loop, calls = make_loop()
    loop.execute("cache_clear a_b c")
    loop.execute("cache clear")
    loop.execute("cache_stats")
    loop.execute("cache stats x")
    assert calls == [("cache_clear", ["a_b", "c"]), ("cache_clear", []),
                     ("cache_stats", [])]
    err = capsys.readouterr().err
    assert "'cache_stats' takes 0 arguments, got 1" in err
    loop.execute("cache_nothing")
    assert "unknown command 'cache_nothing'; did you mean: cache_clear, " \
        "cache_stats" in capsys.readouterr().err
    assert "  cache_clear, cache clear  clears the cache" in loop.help_text()


def test_help_shows_the_first_sentence_of_each_docstring():
    """A docstring wraps mid-sentence: help shows its first sentence, on
    one line, not its first line (18)."""
    loop = CommandLoop()

    def workers(args):
        """lists worker jobs by route (started, finished, failed,
        cancelled, run times). Takes no arguments.

        More detail."""

    def reload_all(args):
        """reloads every module, e.g. the routes, i.e. all
        code"""

    def plain(args):
        pass

    for fn in (workers, reload_all, plain):
        loop.add(fn)
    assert loop.help_text().splitlines() == [
        "available commands:",
        "  plain",
        "  reload_all, reload all  reloads every module, e.g. the routes, "
        "i.e. all code",
        "  workers                 lists worker jobs by route (started, "
        "finished, failed, cancelled, run times)."]


def test_completion_of_underscore_and_spaced_names():
    loop, _ = make_loop()
    assert loop.completions("cache_cl", "cache_cl") == ["cache_clear"]
    assert loop.completions("cache_", "cache_") == ["cache_clear",
                                                    "cache_stats"]
    assert loop.completions("cac", "cac") == ["cache"]
    assert loop.completions("cache ", "") == ["clear", "stats"]
    assert loop.completions("cache c", "c") == ["clear"]
    # arguments, after either form of the name
    assert loop.completions("cache_clear ", "") == ["alpha", "beta"]
    assert loop.completions("cache clear b", "b") == ["beta"]
    assert loop.completions("nothing ", "") == []


def test_lines_from_a_file_descriptor(tmp_path):
    path = tmp_path / "commands"
    path.write_bytes(b"one\r\ntw\xc3\xa9\n" + b"x" * (MAX_LINE + 1)
                     + b"\nlast")
    fd = os.open(path, os.O_RDONLY)
    try:
        lines = FdLines(fd, "utf-8")
        assert lines.readline() == "one"
        assert lines.readline() == "tw\u00e9"
        assert lines.readline() == "x" * MAX_LINE  # a long line is split
        assert lines.readline() == "x"
        assert lines.readline() == "last"
        assert lines.readline() is None
    finally:
        os.close(fd)


LATE_LOG = """
import pytest
from quick_server import log


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report):
    # as a server thread that logs just after the test's last response:
    # pytest reports the phase outside its capture
    if report.when == "call":
        log.msg("LATE LINE")
"""


def test_late_log_lines_stay_out_of_pytest_output(tmp_path):
    """Log lines written between a test's phases go to pytest's capture,
    not to the terminal (the fixture in conftest.py)."""
    with open(os.path.join(ROOT, "test", "conftest.py")) as handle:
        conftest = handle.read()
    (tmp_path / "conftest.py").write_text(conftest + LATE_LOG)
    (tmp_path / "test_one.py").write_text("def test_one():\n    pass\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
        timeout=60, env={**os.environ, "PYTHONPATH": ROOT})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    assert "LATE LINE" not in done.stdout + done.stderr
