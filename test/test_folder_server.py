"""`python -m quick_server` as a folder server, started as a user starts
it and asked over HTTP (issue 23): `--spa`, `--cors`, `--proxy`,
`--header`, the start line on every interface, `--open`, `--help` in
groups. (The pure parts: test_folder_parts.py.)"""
from __future__ import annotations

import os
import re
import select
import socket
import stat
import subprocess
import sys
import time

import pytest

from conftest import get, listening_socket, start_process as start, \
    stop_process as stop, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECKOUT = {**os.environ, "PYTHONPATH": ROOT}
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9," \
    "image/avif,image/webp,*/*;q=0.8"  # what a navigation sends
PAGE = b"<html><body>APP</body></html>"
SCRIPT = b"console.log('app');"


def serve(args: list[str], sock: socket.socket | None = None,
          **env: str) -> subprocess.Popen:
    """`python -m quick_server ARGS` from the checkout, serving (on the
    listening socket `sock`, handed over, else where it says)."""
    return start(["-m", "quick_server", *args], sock,
                 env={**CHECKOUT, **env})


@pytest.fixture
def app(tmp_path):
    """A built single-page app (Vite's `dist`)."""
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_bytes(PAGE)
    (root / "assets" / "app.js").write_bytes(SCRIPT)
    return str(root)


def test_spa_deep_link_gets_the_page_and_a_missing_script_a_404(app):
    sock, port = listening_socket()
    proc = serve(["--www", app, "--spa", str(port)], sock)
    try:
        _, page_headers, page = get(port, "/index.html")
        status, headers, body = get(port, "/users/3",
                                    headers={"Accept": BROWSER})
        assert (status, body) == (200, PAGE)
        for name in ("etag", "last-modified", "cache-control",
                     "content-type"):
            assert headers[name] == page_headers[name], name
        assert get(port, "/users/3", "HEAD", headers={
            "Accept": "text/html"})[0] == 200
        # a script asks for */*: a missing one is no page
        status, _, body = get(port, "/assets/missing.js",
                              headers={"Accept": "*/*"})
        assert status == 404 and PAGE not in body
        assert get(port, "/users/3")[0] == 404  # no Accept: no page
        assert get(port, "/assets/app.js", headers={"Accept": "*/*"}
                   )[2] == SCRIPT
    except BaseException:
        stop(proc)
        raise
    code, out = stop(proc)
    assert code == 0 and "has no index.html" not in out
    sock, port = listening_socket()
    proc = serve(["--www", app, str(port)], sock)  # without --spa
    try:
        assert get(port, "/users/3", headers={"Accept": BROWSER}
                   )[0] == 404
    finally:
        assert stop(proc)[0] == 0


def test_spa_without_an_index_page_says_so(tmp_path):
    sock, port = listening_socket()
    proc = serve(["--www", str(tmp_path), "--spa", str(port)], sock)
    try:
        assert get(port, "/users/3", headers={"Accept": BROWSER}
                   )[0] == 404
    finally:
        code, out = stop(proc)
    assert code == 0
    assert f"--spa: {tmp_path} has no index.html: deep links stay 404s" \
        in out


def test_cors_flag(app):
    sock, port = listening_socket()
    proc = serve(["--www", app, "--cors", str(port)], sock)
    origin = {"Origin": "http://localhost:5173"}
    try:
        status, headers, _ = get(port, "/assets/app.js", headers=origin)
        assert status == 200
        assert headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in headers
        assert get(port, "/missing.js", headers=origin)[1][
            "access-control-allow-origin"] == "*"
        status, headers, _ = get(port, "/assets/app.js", "OPTIONS", headers={
            **origin, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "X-Custom"})
        assert status == 204
        assert "GET" in headers["access-control-allow-methods"]
        assert headers["access-control-allow-headers"] == "X-Custom"
    finally:
        assert stop(proc)[0] == 0


def test_proxy_flags(app, make_server):
    backend = make_server()

    @backend.json_get("/api/hello")
    def _hello(req, args):
        return {"hello": "backend", "forwarded": req.headers.get(
            "X-Forwarded-For")}

    @backend.text_get("/v1/page")
    def _page(req, args):
        return f"v1 {args['query'].get('q')}"

    target = f"http://127.0.0.1:{backend.port}"
    sock, port = listening_socket()
    proc = serve(["--www", app, "--spa", "--proxy", f"/api={target}/api",
                  "--proxy", f"{target}/v1", str(port)], sock)
    try:
        status, _, body = get(port, "/api/hello")
        assert status == 200
        assert body == b'{"hello":"backend","forwarded":"127.0.0.1"}'
        # a URL alone: every request no file answers, under its path
        assert get(port, "/page?q=2")[2] == b"v1 2"
        assert get(port, "/index.html")[2] == PAGE  # files first
        # under a proxy, a browser's miss is the target's, not the page
        status, _, body = get(port, "/api/nothing",
                              headers={"Accept": BROWSER})
        assert status == 404 and PAGE not in body
    finally:
        assert stop(proc)[0] == 0


def test_header_flags(app):
    sock, port = listening_socket()
    proc = serve(["--www", app, "--spa", "--header",
                  "Cross-Origin-Opener-Policy: same-origin", "--header",
                  "Cross-Origin-Embedder-Policy:require-corp", "--header",
                  "Cache-Control: no-store", str(port)], sock)
    try:
        for path, accept, code in [("/index.html", "*/*", 200),
                                   ("/users/3", BROWSER, 200),
                                   ("/missing.js", "*/*", 404)]:
            status, headers, _ = get(port, path, headers={"Accept": accept})
            assert status == code, path
            assert headers["cross-origin-opener-policy"] == "same-origin"
            assert headers["cross-origin-embedder-policy"] == "require-corp"
        # replaced, not repeated (http.client joins repeated fields)
        conn_headers = get(port, "/assets/app.js")[1]
        assert conn_headers["cache-control"] == "no-store"
        assert "etag" in conn_headers
    finally:
        assert stop(proc)[0] == 0


@pytest.mark.parametrize("args, error", [
    (["--header", "X-Frame-Options"],
     "--header 'X-Frame-Options' is not 'Name: value'"),
    (["--header", "X Frame: DENY"],
     "--header 'X Frame: DENY': invalid response header name 'X Frame'"),
    (["--header", "Content-Length: 3"],
     "--header 'Content-Length: 3': Content-Length is written by the "
     "server itself"),
    (["--header", "X-A: 1", "--header", "X-A: 2"],
     "--header 'X-A: 2': that header was given already"),
    (["--proxy", "api=http://localhost:5000"],
     "--proxy 'api=http://localhost:5000' is not PREFIX=URL"),
    (["--proxy", "/api=ftp://localhost"],
     "--proxy: proxy target must be an http(s) URL"),
])
def test_bad_flags_are_one_line(args, error):
    done = subprocess.run(
        [sys.executable, "-m", "quick_server", *args, "0"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=30, env=CHECKOUT)
    assert done.returncode == 2
    assert done.stderr.startswith(f"python -m quick_server: error: {error}")
    assert done.stderr.count("\n") == 1 and done.stdout == ""


def outbound_ipv4() -> list[str]:
    """This machine's IPv4 addresses on the routes to a few outside
    addresses (a UDP socket "connected" sends nothing), found apart from
    the server's own search: the addresses its start line must name."""
    found = []
    for outside in ("10.255.255.254", "198.51.100.1", "203.0.113.1"):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.connect((outside, 9))
                address = probe.getsockname()[0]
        except OSError:
            continue
        if not address.startswith("127.") and address not in found:
            found.append(address)
    return found


def read_output_until(proc: subprocess.Popen, pattern: str,
                      timeout: float = 15.0) -> re.Match[str]:
    """Reads the server's output (kept in `proc.early_output`) until
    `pattern` matches it."""
    fd = proc.stdout.fileno()
    end = time.monotonic() + timeout
    while (found := re.search(pattern, proc.early_output)) is None:
        left = end - time.monotonic()
        assert left > 0, f"no {pattern!r} in: {proc.early_output}"
        if select.select([fd], [], [], min(left, 0.2))[0]:
            chunk = os.read(fd, 65536)
            assert chunk, f"exited: {proc.early_output}"
            proc.early_output += chunk.decode(errors="replace")
    return found


def test_the_start_line_on_every_interface_names_urls_to_open(app):
    """Bound to 0.0.0.0 (the one test that must be: what it prints is
    the point) on port 0; every URL it names serves the page."""
    expected = outbound_ipv4()
    proc = serve(["--www", app, "-a", "0.0.0.0", "-p", "0"])
    port = proc.port
    try:
        line = read_output_until(
            proc, r"serving .* at (\S+)\n\s+(on the network at .*|on every "
            r"interface, but this machine has no network address.*)\n")
        local, network = line.group(1), line.group(2)
        assert local == f"http://127.0.0.1:{port}/"
        others = re.findall(r"http://([0-9.]+):([0-9]+)/", network)
        assert all(int(number) == port for _, number in others)
        hosts = [host for host, _ in others]
        if expected:  # the machine has one: it is named
            assert set(expected) <= set(hosts), (expected, network)
        else:  # none was found apart either: the line says so
            assert not hosts and "no network address" in network
        for host in ["127.0.0.1"] + hosts:
            assert get(port, "/index.html", host=host)[2] == PAGE, host
    finally:
        assert stop(proc)[0] == 0


def test_the_start_line_on_one_address_is_its_url(app):
    sock, port = listening_socket()
    proc = serve(["--www", app, str(port)], sock)
    code, out = stop(proc)
    assert code == 0
    assert f"at http://127.0.0.1:{port}/\n" in out
    assert "on the network" not in out


def test_open_calls_the_browser_once_serving(app, tmp_path):
    """A stand-in browser (BROWSER, which `webbrowser` honours) records
    the URL it was given and what it got there."""
    record = tmp_path / "opened.txt"
    browser = tmp_path / "browser.py"
    browser.write_text(
        f"#!{sys.executable}\n"
        "import os, sys, urllib.request\n"
        "url = sys.argv[1]\n"
        "opener = urllib.request.build_opener(urllib.request.ProxyHandler("
        "{}))\n"
        "with opener.open(url, timeout=10) as answer:\n"
        "    seen = f'{url} {answer.status} {answer.read()!r}'\n"
        f"with open({str(record)!r} + '.part', 'w') as out:\n"
        "    out.write(seen)\n"
        f"os.replace({str(record)!r} + '.part', {str(record)!r})\n")
    browser.chmod(browser.stat().st_mode | stat.S_IXUSR)
    sock, port = listening_socket()
    proc = serve(["--www", app, "--open", str(port)], sock,
                 BROWSER=str(browser))
    try:
        seen = wait_for(lambda: record.exists() and record.read_text(),
                        what="the browser to be opened")
        assert seen == f"http://127.0.0.1:{port}/ 200 {PAGE!r}"
    finally:
        code, out = stop(proc)
    assert code == 0 and "no browser could be opened" not in out


def test_help_groups_the_flags():
    done = subprocess.run([sys.executable, "-m", "quick_server", "--help"],
                          capture_output=True, text=True, timeout=30,
                          env=CHECKOUT, check=True)
    sections = {}
    for block in done.stdout.split("\n\n"):
        title, _, body = block.partition(":\n")
        sections[title.strip()] = set(re.findall(r"^  (-[-\w]+|--?\w+)",
                                                 body, re.MULTILINE))
    assert {"--www", "--all-files", "--no-listing", "--spa",
            "--header"} <= sections["serving"]
    assert {"--reload", "--open", "--dashboard", "--no-command-loop"} <= \
        sections["development"]
    assert {"-p", "-a", "--https", "--cors", "--proxy"} <= \
        sections["network"]
    assert "port to listen on" in done.stdout
