"""A restarted program that fails to start (an edit that compiles but
raises at import): every request is answered at once with a 503 and
Retry-After that shows the error (HTML, JSON or text; the traceback only
for a client on this machine that no proxy forwarded), over HTTPS too
when the certificate was loaded; the next good save starts the program
on the same sockets."""
from __future__ import annotations

import http.client
import json
import ssl
import threading

import pytest

from conftest import get, listening_socket, start_process, \
    tls_client_context, wait_for
from quick_server.http.livescript import SCRIPT_TAG
from test_reload import ROOT, Output, set_value, start_app, value

JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
PROXIED = {**JSON, "X-Forwarded-For": "203.0.113.9"}


def failed(out):
    wait_for(lambda: "failed to start" in out.text, what="the failure")


@pytest.mark.parametrize("supervised", [False, True])
def test_a_failed_start_answers_503_with_the_error_until_the_fix(
        tmp_path, supervised):
    out = Output(start_app(tmp_path, supervised=supervised))
    port = out.proc.port
    try:
        set_value(tmp_path, "undefined_name")
        failed(out)
        status, headers, body = get(port, "/v", headers=JSON)
        assert status == 503, body
        assert headers["retry-after"] == "1"
        assert headers["content-type"] == "application/json"
        answer = json.loads(body)
        assert answer["error"] == ("The program failed to start: NameError: "
                                   "name 'undefined_name' is not defined")
        assert answer["type"] == "NameError"
        assert "mod.py" in answer["traceback"]
        # every path and method, its body unread; JSON for a JSON body
        status, _, body = get(port, "/other", "POST", b"{not json",
                              headers={"Content-Type": "application/json"})
        assert status == 503
        assert json.loads(body)["type"] == "NameError"
        status, headers, page = get(port, "/", headers=HTML)
        assert status == 503
        assert headers["content-type"] == "text/html; charset=utf-8"
        assert b"NameError: name &#x27;undefined_name&#x27; is not defined" \
            in page
        assert SCRIPT_TAG in page  # reloads once the program starts
        set_value(tmp_path, 3)
        wait_for(lambda: (v := value(port)) and v[0] == 3,
                 what="the fixed program")
    finally:
        code, text = out.stop()
    assert "NameError: name 'undefined_name' is not defined" in text, text
    assert "requests get a 503" in text and "mod.py changed" in text, text
    assert code == 0, text


APP = """
import sys
sys.path.insert(0, {root!r})
from quick_server import create_server, msg, setup_restart
{supervise}{early}server = create_server(("127.0.0.1", {port}), certfile={cert!r})
{announce}server.auto_restart = True
server.no_command_loop = True

@server.text_get("/v")
def _v(req, args):
    return str(mod.VALUE)

{late}try:
    server.serve_forever()
finally:
    server.server_close()
"""


def app(port, cert, late, supervised=False):
    """The script: `import mod` before the server is created, or after
    (`late`: the server took the socket before the failure). Under
    `setup_restart()` on port 0 (its supervisor would keep a handed
    socket), it prints its URL: the test reads the port."""
    imports = "import mod\n"
    announce = 'msg(f"at http://127.0.0.1:{server.port}/")\n'
    return APP.format(root=ROOT, port=port, cert=cert,
                      supervise="setup_restart()\n" if supervised else "",
                      announce=announce if supervised else "",
                      early="" if late else imports,
                      late=imports if late else "")


def start(folder, cert, late, supervised=False):
    """Starts `app()` from `folder`; its port is `proc.port`."""
    if supervised:
        (folder / "app.py").write_text(app(0, cert, late, supervised))
        return start_process([str(folder / "app.py")])
    sock, port = listening_socket()
    (folder / "app.py").write_text(app(port, cert, late))
    return start_process([str(folder / "app.py")], sock)


BAD = 'raise ValueError("<b>bad</b> \\x1b[2J")\nVALUE = 0\n'


def test_a_failure_after_the_server_was_created_is_shown_escaped(
        tmp_path):
    """The server the failed program created holds the socket: the 503
    comes from it all the same. The error's text is escaped (HTML), its
    control characters written out; a proxied client sees no details."""
    (tmp_path / "mod.py").write_text("VALUE = 1\n")
    out = Output(start(tmp_path, None, late=True))
    port = out.proc.port
    try:
        (tmp_path / "mod.py").write_text(BAD)
        failed(out)
        status, _, page = get(port, "/v", headers=HTML)
        assert status == 503
        assert b"ValueError: &lt;b&gt;bad&lt;/b&gt; \\x1b[2J" in page, page
        assert b"<b>" not in page and b"\x1b" not in page
        status, _, text = get(port, "/v")  # neither HTML nor JSON
        assert status == 503
        assert b"ValueError: <b>bad</b> \\x1b[2J" in text, text
        status, _, body = get(port, "/v", headers=PROXIED)
        assert status == 503
        assert json.loads(body) == {"error": (
            "The server's program failed to start; it starts again when "
            "its source is fixed.")}
        status, _, page = get(port, "/v", headers={
            **HTML, "X-Forwarded-For": "203.0.113.9"})
        assert status == 503 and b"bad" not in page
        # a dev proxy on this machine (Vite's) for a browser on it
        status, _, body = get(port, "/v", headers={
            **JSON, "X-Forwarded-For": "127.0.0.1"})
        assert status == 503 and json.loads(body)["type"] == "ValueError"
        (tmp_path / "mod.py").write_text("VALUE = 2\n")
        wait_for(lambda: get(port, "/v")[2] == b"2", what="the fix")
    finally:
        code, text = out.stop()
    assert code == 0, text


def https_value(port, timeout=10):
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout,
                                       context=tls_client_context())
    try:
        conn.request("GET", "/v")
        resp = conn.getresponse()
        return resp.status, resp.read()
    except (OSError, ssl.SSLError):
        return None
    finally:
        conn.close()


@pytest.mark.parametrize("import_first,supervised",
                         [(False, False), (True, False), (True, True)])
def test_https_is_answered_with_the_certificate_or_waits(
        tmp_path, cert, import_first, supervised):
    """A program that failed after loading its certificate answers the
    503 over HTTPS; one that failed before never answers plain HTTP on
    the HTTPS socket: its requests wait for the fixed program."""
    (tmp_path / "mod.py").write_text("VALUE = 1\n")
    out = Output(start(tmp_path, cert, late=not import_first,
                       supervised=supervised))
    port = out.proc.port
    waiting = []
    try:
        assert https_value(port) == (200, b"1")
        (tmp_path / "mod.py").write_text("VALUE = undefined_name\n")
        failed(out)
        if import_first:
            pending = threading.Thread(target=lambda: waiting.append(
                https_value(port, timeout=30)))
            pending.start()
        else:
            status, body = https_value(port)
            assert status == 503 and b"undefined_name" in body
        (tmp_path / "mod.py").write_text("VALUE = 2\n")
        wait_for(lambda: https_value(port) == (200, b"2"), timeout=20,
                 what="the fixed program")
        if import_first:
            pending.join(30)
            assert waiting == [(200, b"2")]  # waited, then answered
    finally:
        code, text = out.stop()
    assert code == 0, text
