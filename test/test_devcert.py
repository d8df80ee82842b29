"""HTTPS in one step: `certfile="auto"` and `python -m quick_server
--https` make a self-signed certificate for localhost with openssl into
the user's cache folder, reuse it, renew it before it expires, and say
clearly what to do without openssl."""
from __future__ import annotations

import os
import shutil
import ssl
import stat
import subprocess
import sys

import pytest

from conftest import (https_get, listening_socket, run_in_thread,
                      start_process, stop_process)
from quick_server import create_server
from quick_server.dev import devcert
from quick_server.devcert import DevCertError, dev_certificate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    return folder


def verified_get(port, pem, path="/"):
    """GET over HTTPS, trusting only `pem` and checking the name
    localhost."""
    return https_get(port, path, ssl.create_default_context(cafile=pem),
                     "localhost")


def test_made_once_in_the_cache_folder_and_kept(cache):
    path = dev_certificate()
    assert path == str(cache / "quick_server" / "localhost.pem")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # holds the key
    made = os.stat(path).st_mtime_ns
    assert dev_certificate() == path
    assert os.stat(path).st_mtime_ns == made  # reused, not made again
    ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(path)


def test_certfile_auto_serves_https_for_localhost(cache, make_server):
    server = make_server(start=False, certfile="auto")
    assert server.is_https

    @server.text_get("/hi")
    def _hi(req, args):
        return "hi"

    run_in_thread(server)
    pem = str(cache / "quick_server" / "localhost.pem")
    assert verified_get(server.port, pem, "/hi") == (200, b"hi")


def test_renewed_before_it_expires(cache):
    folder = cache / "quick_server"
    folder.mkdir(parents=True, mode=0o700)
    path = folder / "localhost.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-days", "2", "-subj", "/CN=old", "-keyout",
                    str(path), "-out", str(path)], check=True,
                   capture_output=True)
    os.chmod(path, 0o600)
    old = path.read_bytes()
    assert dev_certificate() == str(path)
    assert path.read_bytes() != old


def test_without_openssl_a_clear_error(cache, monkeypatch):
    which = shutil.which
    monkeypatch.setattr(devcert.shutil, "which", lambda name: None)
    with pytest.raises(DevCertError, match="openssl command"):
        dev_certificate()
    with pytest.raises(DevCertError):
        create_server(("127.0.0.1", 0), certfile="auto")
    # a certificate made earlier is still used
    monkeypatch.setattr(devcert.shutil, "which", which)
    path = dev_certificate()
    monkeypatch.setattr(devcert.shutil, "which", lambda name: None)
    assert dev_certificate() == path


@pytest.mark.parametrize("where", ["certificate", "folder"])
@pytest.mark.parametrize("mode", [0o644, 0o620, 0o604])
def test_a_certificate_others_may_read_or_write_is_refused(cache, where,
                                                           mode):
    """An existing certificate (or its folder) that group or others may
    read or write is refused, naming the path, the owner and the mode
    expected (15)."""
    path = dev_certificate()
    target = path if where == "certificate" else os.path.dirname(path)
    expected = 0o600 if where == "certificate" else 0o700
    os.chmod(target, mode | (0o100 if where == "folder" else 0))
    with pytest.raises(DevCertError) as err:
        dev_certificate()
    text = str(err.value)
    assert f"refusing the development {where} {target}:" in text
    assert f"with mode {mode | (0o100 if where == 'folder' else 0):o};" \
        in text
    assert f"owned by you (uid {os.geteuid()}), mode {expected:o}" in text
    assert f"chmod {expected:o} {target}" in text
    with pytest.raises(DevCertError, match="refusing"):
        create_server(("127.0.0.1", 0), certfile="auto")
    os.chmod(target, expected)
    assert dev_certificate() == path


def test_a_folder_others_may_write_gets_no_new_certificate(cache):
    folder = cache / "quick_server"
    folder.mkdir(parents=True, mode=0o700)
    os.chmod(folder, 0o777)
    with pytest.raises(DevCertError, match=f"folder {folder}: .* mode 777"):
        dev_certificate()
    assert os.listdir(folder) == []


def test_a_certificate_of_another_user_is_refused(cache, monkeypatch):
    path = dev_certificate()
    owner = os.stat(path).st_uid
    monkeypatch.setattr(devcert.os, "geteuid", lambda: owner + 1)
    with pytest.raises(DevCertError) as err:
        dev_certificate()
    text = str(err.value)
    assert f"folder {os.path.dirname(path)}: it is owned by uid {owner} " \
        f"with mode 700; expected: owned by you (uid {owner + 1})" in text
    assert "chmod" not in text and "delete it" in text


def test_python_m_quick_server_https(cache, tmp_path):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("<p>secure</p>")
    env = {**os.environ, "PYTHONPATH": ROOT, "XDG_CACHE_HOME": str(cache)}
    sock, port = listening_socket()
    proc = start_process(["-m", "quick_server", str(port), "--https",
                          "--www", str(tmp_path / "www"),
                          "--no-command-loop"], sock, env=env)
    try:
        pem = str(cache / "quick_server" / "localhost.pem")
        status, body = verified_get(port, pem)
        assert status == 200 and b"<p>secure</p>" in body
    finally:
        code, out = stop_process(proc)
    assert code == 0 and f"at https://127.0.0.1:{port}/" in out, out
    # without openssl on the PATH: one line, exit code 2
    bare = tmp_path / "bin"
    bare.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "quick_server", "0", "--https"],
        env={**env, "PATH": str(bare),
             "XDG_CACHE_HOME": str(tmp_path / "empty")},
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.startswith("python -m quick_server: error: HTTPS "
                                  "needs a certificate"), done.stderr
    assert "openssl" in done.stderr and len(done.stderr.splitlines()) == 1
