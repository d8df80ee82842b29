"""Live development: restarting on a source change (`auto_restart`,
`watch`), a syntax error keeping the old server, the listening socket
handed to the restarted process (no request lost or refused, by
`auto_restart` and by the `restart` command, with and without
`setup_restart`), and the live-reload event stream."""
from __future__ import annotations

import http.client
import os
import socket
import sys
import threading
import time

import pytest

from conftest import (get, listening_socket, start_process, stop_process,
                      wait_for)
from quick_server.dev import watching as reload_mod
from quick_server.dev.watching import (ModuleFiles, Snapshot, folder_files,
                                       syntax_error)
from quick_server.http.livescript import (LIVE_SCRIPT_PATH, LIVE_STREAM_PATH,
                                          SCRIPT_TAG, inject_script)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

APP = """
import os, sys, time
sys.path.insert(0, {root!r})
from quick_server import create_server, msg, setup_restart
if {supervised}:
    setup_restart()
import mod
STARTED = time.time_ns()
server = create_server(("127.0.0.1", {port}))
if {supervised}:  # on port 0: the test reads the port
    msg(f"at http://127.0.0.1:{{server.port}}/")
server.auto_restart = {auto}
server.suppress_noise = True
server.watch({watch!r})

@server.text_get("/v")
def _v(req, args):
    return f"{{mod.VALUE}} {{os.getpid()}}-{{STARTED}}"

msg("serving " + str(mod.VALUE))
time.sleep({delay})  # before watching begins
try:
    server.serve_forever()
finally:
    server.server_close()
"""


def write_app(folder, port, auto=True, supervised=False, watch=(),
              delay=0.0):
    (folder / "mod.py").write_text("VALUE = 0\n")
    script = folder / "app.py"
    script.write_text(APP.format(root=ROOT, port=port, auto=auto,
                                 supervised=supervised, watch=list(watch),
                                 delay=delay))
    return str(script)


def start_app(folder, supervised=False, process=None, **app):
    """Starts APP (`write_app`'s keywords) on a socket handed to it, or
    under `setup_restart()` on port 0 (its supervisor would keep a handed
    socket); `process`: keywords of `start_process`. Its port is
    `proc.port`."""
    if supervised:
        return start_process([write_app(folder, 0, supervised=True, **app)],
                             **(process or {}))
    sock, port = listening_socket()
    return start_process([write_app(folder, port, **app)], sock,
                         **(process or {}))


def value(port):
    """(VALUE, process id) served now, or None while not served."""
    try:
        status, _, body = get(port, "/v")
    except OSError:
        return None
    if status != 200:
        return None
    got, process = body.decode().split()
    return int(got), process


def set_value(folder, number):
    (folder / "mod.py").write_text(f"VALUE = {number}\n")


class Load:
    """A client sending a request every 20 ms until stopped: on a new
    connection each time (`fresh`), or on one kept-alive connection that,
    like a browser, sends a request again on a new connection when a
    reused one turns out closed before any answer."""

    def __init__(self, port, fresh):
        self.port = port
        self.fresh = fresh
        self.ok = 0
        self.retried = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        conn = None
        while not self._stop.is_set():
            began = time.monotonic()
            if conn is None or self.fresh:
                conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                  timeout=15)
            try:
                self._request(conn)
            except (http.client.RemoteDisconnected, ConnectionResetError,
                    BrokenPipeError) as err:
                conn.close()
                if self.fresh or not conn_was_reused(conn):
                    self.failures.append(repr(err))
                else:
                    self.retried += 1
                    conn = http.client.HTTPConnection(
                        "127.0.0.1", self.port, timeout=15)
                    try:
                        self._request(conn)
                    except Exception as again:  # noqa: BLE001
                        self.failures.append(f"retry: {again!r}")
            except Exception as err:  # noqa: BLE001
                self.failures.append(repr(err))
                conn.close()
            if self.fresh:
                conn.close()
            self._stop.wait(max(0.0, 0.02 - (time.monotonic() - began)))
        if conn is not None:
            conn.close()

    def _request(self, conn):
        conn.request("GET", "/v")
        resp = conn.getresponse()
        body = resp.read()
        conn.used = True
        if resp.status != 200:
            self.failures.append(f"status {resp.status}: {body!r}")
        else:
            self.ok += 1

    def stop(self):
        self._stop.set()
        self._thread.join(30)


def conn_was_reused(conn):
    return getattr(conn, "used", False)


def restarts_without_loss(port, restart, times=10):
    """Restarts `times` times (`restart(i)` starts number i, which the
    new process must serve) under two clients; returns them."""
    loads = [Load(port, fresh=True), Load(port, fresh=False)]
    try:
        for number in range(1, times + 1):
            before = value(port)
            restart(number)
            wait_for(lambda: (now := value(port)) is not None and
                     now != before and now[0] == number, timeout=20,
                     what=f"restart {number}")
            # both clients go on through every restart
            counts = [load.ok for load in loads]
            wait_for(lambda: all(load.ok >= count + 3 for load, count
                                 in zip(loads, counts)),
                     what="requests to the new process")
    finally:
        for load in loads:
            load.stop()
    return loads


def assert_no_loss(loads, out):
    for load in loads:
        assert load.failures == [], (load.failures, out[-3000:])
        assert load.ok >= 30


# -- the pure parts ---------------------------------------------------------

def test_module_files_leave_out_the_standard_library(tmp_path):
    (tmp_path / "user_module_for_reload.py").write_text("X = 1\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import user_module_for_reload  # noqa: F401
        files = ModuleFiles().files()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("user_module_for_reload", None)
    assert os.path.realpath(tmp_path / "user_module_for_reload.py") in files
    assert os.path.realpath(os.__file__) not in files  # standard library
    assert os.path.realpath(pytest.__file__) not in files  # site-packages
    assert os.path.realpath(reload_mod.__file__) in files  # a checkout


def test_snapshot_reports_changes_and_new_files_when_asked(tmp_path):
    one, two = tmp_path / "one.txt", tmp_path / "two.txt"
    one.write_text("1")
    snap = Snapshot()
    assert snap.changes([str(one)], False) == set()  # the starting point
    one.write_text("11")
    two.write_text("2")
    assert snap.changes([str(one), str(two)], True) == {str(one), str(two)}
    assert snap.changes([str(one), str(two)], True) == set()
    two.unlink()
    assert snap.changes([str(two)], True) == {str(two)}


def test_folder_files_skip_hidden_and_caches_and_are_bounded(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.py").write_text("")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "x.pyc").write_text("")
    (tmp_path / "b.txt").write_text("")
    assert sorted(folder_files(str(tmp_path))) == sorted(
        [str(tmp_path / "a" / "x.py"), str(tmp_path / "b.txt")])
    assert len(folder_files(str(tmp_path), limit=1)) == 1


def test_syntax_error_is_reported_as_python_prints_it(tmp_path):
    good, bad = tmp_path / "good.py", tmp_path / "bad.py"
    good.write_text("x = 1\n")
    bad.write_text("def f(:\n    pass\n")
    assert syntax_error(str(good)) is None
    err = syntax_error(str(bad))
    assert "SyntaxError" in err and "bad.py" in err and "line 1" in err
    assert syntax_error(str(tmp_path / "notes.txt")) is None


def test_script_goes_before_the_end_of_the_body():
    assert inject_script(b"<html><body>x</body></html>") == \
        b"<html><body>x" + SCRIPT_TAG + b"</body></html>"
    assert inject_script(b"<P>x</P></HTML>") == \
        b"<P>x</P>" + SCRIPT_TAG + b"</HTML>"
    assert inject_script(b"<p>x") == b"<p>x" + SCRIPT_TAG
    once = inject_script(b"<p>x")
    assert inject_script(once) == once


# -- restarting on a change ---------------------------------------------------

def test_a_change_restarts_and_a_syntax_error_keeps_the_old_server(
        tmp_path):
    proc = start_app(tmp_path)
    port = proc.port
    try:
        assert value(port)[0] == 0
        set_value(tmp_path, 1)
        first = wait_for(lambda: (v := value(port)) and v[0] == 1 and v,
                         what="the edited module served")
        (tmp_path / "mod.py").write_text("VALUE = (\n")  # a syntax error
        # the old server answers meanwhile; the error is printed
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            assert value(port) == first
        set_value(tmp_path, 2)
        wait_for(lambda: (v := value(port)) and v[0] == 2,
                 what="the fixed module served")
    finally:
        code, out = stop_process(proc)
    assert "not restarting" in out and "SyntaxError" in out, out
    assert "mod.py changed: restarting" in out
    assert code == 0, out


class Output:
    """A process's output, read as it comes (`text`), on a thread."""

    def __init__(self, proc):
        self.proc = proc
        self.text = ""
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        for line in self.proc.stdout:
            self.text += line.decode(errors="replace")

    def stop(self):
        """SIGTERM; the exit code and the whole output."""
        self.proc.terminate()
        try:
            code = self.proc.wait(10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self._thread.join(10)
        return code, self.text


def test_an_edit_before_watching_began_is_not_missed(tmp_path):
    """The module changes after the program imported it but before
    serve_forever started watching: it restarts all the same."""
    out = Output(start_app(tmp_path, delay=1.0,
                           process={"serving": False}))
    port = out.proc.port
    try:
        wait_for(lambda: "serving 0" in out.text, what="the import")
        set_value(tmp_path, 7)  # while the program sleeps before serving
        wait_for(lambda: (v := value(port)) and v[0] == 7, timeout=20,
                 what="the edited module served")
    finally:
        code, text = out.stop()
    assert code == 0, text


def test_watched_paths_restart_too(tmp_path):
    config = tmp_path / "conf"
    config.mkdir()
    (config / "settings.toml").write_text("a = 1\n")
    proc = start_app(tmp_path, watch=["conf"], process={"cwd": tmp_path})
    port = proc.port
    try:
        first = value(port)
        (config / "settings.toml").write_text("a = 2\n")
        wait_for(lambda: (v := value(port)) and v != first,
                 what="a restart for the watched file")
        second = value(port)
        (config / "new.toml").write_text("b = 1\n")  # a new file
        wait_for(lambda: (v := value(port)) and v != second,
                 what="a restart for the new file")
    finally:
        code, out = stop_process(proc)
    assert code == 0, out


def test_no_restart_without_auto_restart(tmp_path):
    proc = start_app(tmp_path, auto=False)
    port = proc.port
    try:
        first = value(port)
        set_value(tmp_path, 5)
        end = time.monotonic() + 0.8
        while time.monotonic() < end:
            assert value(port) == first
    finally:
        stop_process(proc)


# -- no request lost or refused ----------------------------------------------

def test_ten_auto_restarts_lose_no_request(tmp_path):
    proc = start_app(tmp_path)
    port = proc.port
    try:
        loads = restarts_without_loss(
            port, lambda number: set_value(tmp_path, number))
    finally:
        code, out = stop_process(proc)
    assert_no_loss(loads, out)
    assert code == 0, out


@pytest.mark.parametrize("supervised", [False, True])
def test_ten_restart_commands_lose_no_request(tmp_path, supervised):
    proc = start_app(tmp_path, auto=False, supervised=supervised,
                     process={"stdin_pipe": True})
    port = proc.port

    def restart(number):
        set_value(tmp_path, number)
        proc.stdin.write(b"restart\n")
        proc.stdin.flush()
    try:
        loads = restarts_without_loss(port, restart)
    finally:
        code, out = stop_process(proc)
    assert_no_loss(loads, out)
    assert code == 0, out


HTTPS_APP = """
import os, sys
sys.path.insert(0, {root!r})
from quick_server import create_server
server = create_server(("127.0.0.1", {port}), certfile={cert!r})

@server.text_get("/pid")
def _pid(req, args):
    return str(os.getpid()) + " " + os.environ.get("QUICK_SERVER_RESTARTED", "")

try:
    server.serve_forever()
finally:
    server.server_close()
"""


def test_an_https_server_restarts_on_its_socket(tmp_path, cert):
    """The handed-over socket of a TLS server is wrapped again by the
    new process."""
    import ssl
    from conftest import tls_client_context
    script = tmp_path / "app.py"
    sock, port = listening_socket()
    script.write_text(HTTPS_APP.format(root=ROOT, port=port, cert=cert))
    proc = start_process([str(script)], sock, stdin_pipe=True)

    def pid():
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10,
                                           context=tls_client_context())
        try:
            conn.request("GET", "/pid")
            return conn.getresponse().read().decode()
        except (OSError, ssl.SSLError):
            return None
        finally:
            conn.close()
    try:
        first = pid()
        assert first and not first.endswith("1")
        proc.stdin.write(b"restart\n")
        proc.stdin.flush()
        wait_for(lambda: (now := pid()) and now.endswith(" 1"),
                 what="the restarted HTTPS server")
    finally:
        code, out = stop_process(proc)
    assert code == 0, out


# -- stopping closes idle connections, serves the last requests ---------------

def test_stopping_closes_an_idle_connection_at_once(make_server):
    server = make_server()
    with socket.create_connection(("127.0.0.1", server.port), 5) as sock:
        sock.sendall(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        assert b"404" in sock.recv(4096)
        wait_for(lambda: len(server.reloader.connections) == 1,
                 what="the open connection")
        began = time.monotonic()
        server.shutdown()
        assert sock.recv(4096) == b""  # closed by the server
        assert time.monotonic() - began < 5


def _head_under_way(server) -> bool:
    """Whether a connection of `server` is reading a request head."""
    return any(not conn.waiting
               for conn in list(server.reloader.connections._handlers))


def test_a_request_begun_before_the_stop_is_answered_and_closed(
        make_server):
    """A request whose first bytes came before the stop gets its answer
    (with Connection: close) when the rest arrives, not a dropped line."""
    server = make_server()
    sock = socket.create_connection(("127.0.0.1", server.port), 5)
    try:
        sock.sendall(b"GET /miss")
        wait_for(lambda: _head_under_way(server),
                 what="the request under way")
        threading.Thread(target=server.shutdown, daemon=True).start()
        wait_for(lambda: server.draining, what="the stop")
        sock.sendall(b"ing HTTP/1.1\r\nHost: a\r\n\r\n")
        answer = b""
        while not answer.endswith(b"Not Found\n"):
            chunk = sock.recv(4096)
            assert chunk, answer
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 404")
        assert b"Connection: close" in answer
        assert sock.recv(4096) == b""
    finally:
        sock.close()


def test_a_trickling_client_does_not_hold_the_stop(make_server):
    """A head begun before the stop and never finished is cut off after
    `DRAIN_HEAD`, not waited for over the whole shutdown grace."""
    from conftest import run_in_thread
    server = make_server(start=False)
    server.shutdown_grace = 30
    serving = run_in_thread(server)
    sock = socket.create_connection(("127.0.0.1", server.port), 5)
    try:
        sock.sendall(b"GET /never-ends HTTP/1.1\r\n")
        wait_for(lambda: _head_under_way(server),
                 what="the request under way")
        server.shutdown()
        serving.join(10)  # the graceful stop, drain included
        assert not serving.is_alive()
    finally:
        sock.close()


# -- live reload: the event stream --------------------------------------------

class Stream:
    """An event-stream client: the raw bytes read on a thread."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), 10)
        self.sock.sendall(f"GET {LIVE_STREAM_PATH} HTTP/1.1\r\nHost: a\r\n"
                          "Accept: text/event-stream\r\n\r\n".encode())
        self.data = b""
        self.closed = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            while True:
                chunk = self.sock.recv(4096)
                if not chunk:
                    break
                self.data += chunk
        except OSError:
            pass
        self.closed.set()

    def close(self):
        self.sock.close()


@pytest.fixture
def live(make_server, tmp_path):
    (tmp_path / "index.html").write_text("<html><body>hi</body></html>")
    (tmp_path / "style.css").write_text("body { color: red }")
    (tmp_path / "app.js").write_text("1;")
    server = make_server(start=False)
    server.bind_path("/", str(tmp_path))
    server.live_reload = True
    from conftest import run_in_thread
    thread = run_in_thread(server)
    wait_for(lambda: server.reloader.live is not None, what="live reload")
    yield server, tmp_path
    server.shutdown()
    thread.join(10)


def test_pages_get_the_script_and_other_files_do_not(live, make_server,
                                                     tmp_path):
    server, _ = live
    status, headers, body = get(server.port, "/")
    assert status == 200 and SCRIPT_TAG in body
    assert int(headers["content-length"]) == len(body)
    assert SCRIPT_TAG not in get(server.port, "/app.js")[2]
    status, headers, script = get(server.port, LIVE_SCRIPT_PATH)
    assert status == 200 and b"EventSource" in script
    assert headers["content-type"].startswith("text/javascript")
    # off: no script, and no reserved paths
    plain = make_server(start=False)
    plain.bind_path("/", str(tmp_path))
    from conftest import run_in_thread
    run_in_thread(plain)
    assert SCRIPT_TAG not in get(plain.port, "/")[2]
    assert get(plain.port, LIVE_SCRIPT_PATH)[0] == 404


def test_a_changed_file_reloads_and_a_stylesheet_is_swapped(live):
    server, folder = live
    for path in ("/", "/style.css", "/app.js"):
        assert get(server.port, path)[0] == 200
    stream = Stream(server.port)
    try:
        wait_for(lambda: b"event: hello" in stream.data, what="hello")
        assert stream.data.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"Content-Type: text/event-stream" in stream.data
        assert f"data: {server.reloader.live.instance}".encode() in \
            stream.data
        (folder / "style.css").write_text("body { color: blue }")
        wait_for(lambda: b"event: css" in stream.data, what="the css event")
        assert b'data: ["/style.css"]' in stream.data
        (folder / "app.js").write_text("2;")
        wait_for(lambda: b"event: reload" in stream.data,
                 what="the reload event")
        assert b'data: ["/app.js"]' in stream.data
    finally:
        stream.close()


def test_streams_end_at_once_when_the_server_stops(live):
    server, _ = live
    streams = [Stream(server.port) for _ in range(3)]
    wait_for(lambda: server.reloader.live.listeners == 3,
             what="three listeners")
    began = time.monotonic()
    server.shutdown()
    for stream in streams:
        assert stream.closed.wait(5)
        stream.close()
    assert time.monotonic() - began < 3  # not the 10 s shutdown grace


def test_streams_hold_nothing_with_parallel_off(make_server, tmp_path):
    """parallel=False serialises route handlers, but not the event
    streams: a route answers while tabs listen."""
    server = make_server(start=False, parallel=False)
    server.live_reload = True

    @server.json_get("/api")
    def _api(req, args):
        return {"ok": True}

    from conftest import run_in_thread
    run_in_thread(server)
    wait_for(lambda: server.reloader.live is not None, what="live reload")
    streams = [Stream(server.port) for _ in range(2)]
    try:
        wait_for(lambda: server.reloader.live.listeners == 2,
                 what="two listeners")
        assert get(server.port, "/api")[2] == b'{"ok":true}'
    finally:
        for stream in streams:
            stream.close()


def test_head_of_the_stream_answers_at_once(live):
    server, _ = live
    status, headers, body = get(server.port, LIVE_STREAM_PATH, "HEAD")
    assert status == 200 and body == b""
    assert headers["content-type"] == "text/event-stream"
    assert server.reloader.live.listeners == 0


def test_listeners_are_bounded(live):
    server, _ = live
    server.reloader.live.max_listeners = 2
    streams = [Stream(server.port) for _ in range(2)]
    try:
        wait_for(lambda: server.reloader.live.listeners == 2,
                 what="two listeners")
        status, headers, _ = get(server.port, LIVE_STREAM_PATH)
        assert status == 503 and headers["retry-after"] == "5"
        streams[0].close()
        # the slot frees once the server notices the closed tab; a
        # published event makes it write
        wait_for(lambda: (server.reloader.live.publish("ping", "[]"),
                          server.reloader.live.listeners == 1)[1],
                 what="the closed tab's slot")
    finally:
        for stream in streams:
            stream.close()


def test_python_m_quick_server_reload(tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("<html><body>one</body></html>")
    sock, port = listening_socket()
    proc = start_process(["-m", "quick_server", str(port), "--reload",
                          "--www", str(www), "--no-command-loop"], sock,
                         env={**os.environ, "PYTHONPATH": ROOT})
    try:
        assert SCRIPT_TAG in get(port, "/")[2]
        stream = Stream(port)
        try:
            wait_for(lambda: b"event: hello" in stream.data, what="hello")
            (www / "index.html").write_text("<html><body>two</body></html>")
            wait_for(lambda: b"event: reload" in stream.data,
                     what="the reload event")
        finally:
            stream.close()
    finally:
        code, out = stop_process(proc)
    assert code == 0, out
