"""The README's first command, `pip install . && python -m quick_server`,
from a real (non-editable) install, the command line's flags, and the
example server."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from conftest import get, listening_socket, start_process as start, \
    stop_process as stop
from quick_server import __version__

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_installed_package_serves_the_demo_and_a_folder(tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "--disable-pip-version-check", "--no-deps", "--target",
                    str(target), ROOT], check=True, timeout=240)
    env = {**os.environ, "PYTHONPATH": str(target)}
    sock, port = listening_socket()
    proc = start(["-m", "quick_server", "-p", str(port)], sock,
                 cwd=tmp_path, env=env)
    try:
        status, headers, body = get(port, "/")
        assert status == 200 and b"quick_server" in body
        assert get(port, "/favicon.ico")[0] == 200
    finally:
        code, out = stop(proc)
    assert code == 0
    assert str(target) in out  # it ran the installed copy, not the checkout

    www = tmp_path / "www"
    (www / "sub").mkdir(parents=True)
    (www / "sub" / "a.txt").write_text("A")
    (www / "key.pem").write_text("SECRET")
    (tmp_path / "outside.txt").write_text("OUTSIDE")
    sock, port = listening_socket()
    proc = start(["-m", "quick_server", "--www", str(www), "-p", str(port)],
                 sock, cwd=tmp_path, env=env)
    try:
        assert get(port, "/sub/a.txt")[2] == b"A"
        assert b"a.txt" in get(port, "/sub/")[2]  # directory listing
        assert get(port, "/key.pem")[0] == 404  # not white-listed
        assert get(port, "/%2e%2e/outside.txt")[0] in (400, 404)
    finally:
        assert stop(proc)[0] == 0


def test_example_server(tmp_path):
    # under setup_restart() on port 0 (the supervisor would keep a
    # handed socket from its child): the port from the URL it prints
    proc = start([os.path.join(ROOT, "example", "example.py")],
                 cwd=tmp_path, env={**os.environ, "PORT": "0",
                                    "PYTHONPATH": ROOT})
    port = proc.port
    try:
        assert get(port, "/api/hello?name=ann")[2] == b'{"hello":"ann"}'
        assert get(port, "/")[0] == 200
        assert get(port, "/js/worker.js")[0] == 200
    finally:
        assert stop(proc)[0] == 0


CHECKOUT = {**os.environ, "PYTHONPATH": ROOT}


def run_module(*args: str) -> subprocess.CompletedProcess:
    """`python -m quick_server ARGS` that is expected to end by itself."""
    return subprocess.run([sys.executable, "-m", "quick_server", *args],
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=30, env=CHECKOUT)


def serve(args: list[str], sock: socket.socket,
          stdin: int = subprocess.DEVNULL) -> subprocess.Popen:
    """Starts `python -m quick_server ARGS` from the checkout on the
    listening socket `sock` (handed over) and waits until it serves."""
    return start(["-m", "quick_server", *args], sock, stdin=stdin,
                 env=CHECKOUT)


@pytest.fixture
def site(tmp_path):
    www = tmp_path / "www"
    (www / "sub").mkdir(parents=True)
    (www / "sub" / "a.txt").write_text("A")
    (www / "key.pem").write_text("SECRET")
    return str(www)


def test_positional_port_and_address(site):
    sock, port = listening_socket("127.0.0.2")
    proc = serve(["--www", site, "-a", "127.0.0.2", str(port)], sock)
    try:
        assert get(port, "/sub/a.txt", host="127.0.0.2")[2] == b"A"
        with pytest.raises(OSError):  # bound to that address only
            socket.create_connection(("127.0.0.1", port), 2).close()
    finally:
        code, out = stop(proc)
    assert code == 0 and f"at http://127.0.0.2:{port}/" in out
    sock, port = listening_socket()
    proc = serve(["--addr", "127.0.0.1", "--port", str(port), "--www", site],
                 sock)
    assert stop(proc)[0] == 0


def test_all_files_and_no_listing(site):
    sock, port = listening_socket()
    proc = serve(["--www", site, "--all-files", "--no-listing", str(port)],
                 sock)
    try:
        assert get(port, "/key.pem")[2] == b"SECRET"  # not only the list
        assert get(port, "/sub/")[0] == 404  # no listing
        assert get(port, "/sub/a.txt")[2] == b"A"
    finally:
        assert stop(proc)[0] == 0


def test_dashboard_flag(site):
    sock, port = listening_socket()
    proc = serve(["--www", site, "--dashboard", str(port)], sock)
    try:
        get(port, "/sub/a.txt")
        status, _, body = get(port, "/_quick_server/status.json")
        assert status == 200
        assert "/sub/a.txt" in [row["path"] for row in
                                json.loads(body)["requests"]]
        status, _, body = get(port, "/_quick_server/metrics")
        assert status == 200 and b"quick_server_requests_total" in body
        assert get(port, "/_quick_server")[0] == 200
    finally:
        code, out = stop(proc)
    assert code == 0 and f"dashboard at http://127.0.0.1:{port}/" \
        "_quick_server" in out


@pytest.mark.parametrize("loop", [True, False])
def test_no_command_loop(site, loop):
    """`quit` on standard input stops the server unless the command loop
    is off."""
    sock, port = listening_socket()
    args = ["--www", site, str(port)] + ([] if loop else
                                         ["--no-command-loop"])
    proc = serve(args, sock, stdin=subprocess.PIPE)
    try:
        proc.stdin.write(b"quit\n")
        proc.stdin.flush()
        if loop:
            assert proc.wait(10) == 0
        else:
            assert get(port, "/sub/a.txt")[2] == b"A"
            assert proc.poll() is None
    finally:
        code, out = stop(proc)
    assert code == 0 and "served" in out


def test_version_and_help():
    done = run_module("--version")
    assert done.returncode == 0 and done.stdout.strip() == \
        f"quick_server {__version__}"
    done = run_module("--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    for shown in ("port to listen on (default: 8000;", "-p", "--port PORT",
                  "(default: 127.0.0.1;", "(default: a built-in demo)",
                  "--all-files", "--no-listing", "--no-command-loop",
                  "--version"):
        assert shown in text


@pytest.mark.parametrize("args, error", [
    (["70000"], "port 70000 is out of range (0 to 65535)"),
    (["-p", "-1"], "port -1 is out of range (0 to 65535)"),
    (["--www", "/nonexistent/folder"], "not a folder: /nonexistent/folder"),
    (["-a", "127.0.0.1.5", "0"], "cannot listen on 127.0.0.1.5 port 0: "),
])
def test_bad_settings_are_one_line(args, error):
    done = run_module(*args)
    assert done.returncode == 2
    assert done.stderr.startswith(f"python -m quick_server: error: {error}")
    assert done.stderr.count("\n") == 1 and done.stdout == ""


def test_busy_port_is_one_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_module(str(port))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (f"python -m quick_server: error: cannot listen "
                           f"on 127.0.0.1 port {port}: Address already in "
                           f"use\n")
