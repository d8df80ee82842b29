"""The README's first command, `pip install . && python -m quick_server`,
from a real (non-editable) install, and the example server."""
from __future__ import annotations

import os
import subprocess
import sys

from conftest import free_port, get, start_process as start, \
    stop_process as stop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_installed_package_serves_the_demo_and_a_folder(tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "--disable-pip-version-check", "--no-deps", "--target",
                    str(target), ROOT], check=True, timeout=240)
    env = {**os.environ, "PYTHONPATH": str(target)}
    port = free_port()
    proc = start(["-m", "quick_server", "-p", str(port)], port,
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
    port = free_port()
    proc = start(["-m", "quick_server", "--www", str(www), "-p", str(port)],
                 port, cwd=tmp_path, env=env)
    try:
        assert get(port, "/sub/a.txt")[2] == b"A"
        assert b"a.txt" in get(port, "/sub/")[2]  # directory listing
        assert get(port, "/key.pem")[0] == 404  # not white-listed
        assert get(port, "/%2e%2e/outside.txt")[0] in (400, 404)
    finally:
        assert stop(proc)[0] == 0


def test_example_server(tmp_path):
    port = free_port()
    proc = start([os.path.join(ROOT, "example", "example.py")], port,
                 cwd=tmp_path, env={**os.environ, "PORT": str(port),
                                    "PYTHONPATH": ROOT})
    try:
        assert get(port, "/api/hello?name=ann")[2] == b'{"hello":"ann"}'
        assert get(port, "/")[0] == 200
        assert get(port, "/js/worker.js")[0] == 200
    finally:
        assert stop(proc)[0] == 0
