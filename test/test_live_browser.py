"""Live reload in a real headless Chromium (conftest's `chromium`:
Debian's /usr/bin/chromium driven by Playwright): an edited page shows
within 1 s, an edited stylesheet is swapped without reloading the page,
a page reloads after the server restarted for an edited module, and a page
watching a running job waits for its end before it reloads."""
from __future__ import annotations

import os
import threading
import time

import pytest

from conftest import (listening_socket, run_in_thread, start_process,
                      stop_process)
from quick_server import report_progress

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="/style.css"></head>
<body><h1 id="title">{title}</h1></body></html>"""


@pytest.fixture
def tab(chromium):
    """A page of conftest's Chromium (shared by every browser test)."""
    page = chromium.new_page()
    yield page
    page.close()


def listening(tab):
    """Waits until the page's event stream is open (`hello` received)."""
    tab.wait_for_function("window.quickServerLiveReload && "
                          "window.quickServerLiveReload.readyState === 1",
                          timeout=10000)


@pytest.fixture
def site(make_server, tmp_path):
    (tmp_path / "index.html").write_text(PAGE.format(title="first"))
    (tmp_path / "style.css").write_text("h1 { color: rgb(255, 0, 0); }")
    server = make_server(start=False)
    server.bind_path("/", str(tmp_path))
    server.live_reload = True
    run_in_thread(server)
    return server, tmp_path


def test_an_edited_page_shows_within_a_second(site, tab):
    server, folder = site
    tab.goto(f"http://127.0.0.1:{server.port}/")
    listening(tab)
    assert tab.text_content("#title") == "first"
    (folder / "index.html").write_text(PAGE.format(title="second"))
    began = time.monotonic()
    tab.wait_for_function(
        "document.getElementById('title') && "
        "document.getElementById('title').textContent === 'second'",
        timeout=1000)
    print(f"edit to page: {time.monotonic() - began:.3f} s")


def test_a_stylesheet_is_swapped_without_a_reload(site, tab):
    server, folder = site
    tab.goto(f"http://127.0.0.1:{server.port}/")
    listening(tab)
    color = "getComputedStyle(document.getElementById('title')).color"
    assert tab.evaluate(color) == "rgb(255, 0, 0)"
    tab.evaluate("window.notReloaded = true")
    (folder / "style.css").write_text("h1 { color: rgb(0, 0, 255); }")
    tab.wait_for_function(f"{color} === 'rgb(0, 0, 255)'", timeout=1000)
    assert tab.evaluate("window.notReloaded") is True  # the same page
    assert tab.evaluate(
        "document.querySelectorAll('link[rel=stylesheet]').length") == 1


APP = """
import os, sys
sys.path.insert(0, {root!r})
from quick_server import create_server
import mod
server = create_server(("127.0.0.1", {port}))
server.bind_path("/", "www")
server.auto_restart = True
server.live_reload = True
server.no_command_loop = True
server.suppress_noise = True

@server.json_get("/value")
def _value(req, args):
    return mod.VALUE

try:
    server.serve_forever()
finally:
    server.server_close()
"""

SHOWS_VALUE = """<!DOCTYPE html><html><body><p id="v">?</p><script>
fetch('/value').then((r) => r.json()).then((v) => {
  document.getElementById('v').textContent = String(v); });
</script></body></html>"""


def open_app(tab, tmp_path):
    """Starts APP (auto_restart, live reload; its page shows mod.VALUE,
    1) and opens its page in `tab`, listening for reloads."""
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text(SHOWS_VALUE)
    (tmp_path / "mod.py").write_text("VALUE = 1\n")
    sock, port = listening_socket()
    (tmp_path / "app.py").write_text(APP.format(root=ROOT, port=port))
    proc = start_process([str(tmp_path / "app.py")], sock, cwd=tmp_path)
    try:
        tab.goto(f"http://127.0.0.1:{port}/")
        tab.wait_for_function(
            "document.getElementById('v').textContent === '1'",
            timeout=10000)
        listening(tab)
    except BaseException:
        stop_process(proc)
        raise
    return proc


def test_the_page_reloads_after_a_restart(tab, tmp_path):
    proc = open_app(tab, tmp_path)
    try:
        (tmp_path / "mod.py").write_text("VALUE = 2\n")
        began = time.monotonic()
        tab.wait_for_function(
            "document.getElementById('v') && "
            "document.getElementById('v').textContent === '2'",
            timeout=10000)
        print(f"edit to reloaded page: {time.monotonic() - began:.3f} s")
    finally:
        code, out = stop_process(proc)
    assert "mod.py changed: restarting" in out, out
    assert code == 0, out


def test_a_failed_start_shows_in_the_page_until_the_fix(tab, tmp_path):
    """An edit that makes the restarted program fail to start: the open
    page reloads to the 503 page with the error; the next good save
    reloads it to the working page."""
    proc = open_app(tab, tmp_path)
    try:
        (tmp_path / "mod.py").write_text("VALUE = undefined_name\n")
        tab.wait_for_function(
            "document.querySelector('h1') && document.querySelector('h1')"
            ".textContent.includes(\"name 'undefined_name' is not defined\")",
            timeout=10000)
        assert tab.title() == "503 NameError"
        listening(tab)  # the error page waits for the fix
        (tmp_path / "mod.py").write_text("VALUE = 2\n")
        tab.wait_for_function(
            "document.getElementById('v') && "
            "document.getElementById('v').textContent === '2'",
            timeout=10000)
    finally:
        code, out = stop_process(proc)
    assert "failed to start" in out, out
    assert code == 0, out


JOB_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<script src="/js/worker.js"></script></head><body><h1 id="title">{title}</h1>
<progress id="bar" max="2" value="0"></progress><script>
const work = new quick_server.Worker();
window.start = () => work.post('job', '/job', {{}}, (result) => {{
  sessionStorage.setItem('result', JSON.stringify(result));
}}, (progress) => {{
  document.getElementById('bar').value = progress.done;
}}, (err) => {{ sessionStorage.setItem('error', err.message); }});
</script></body></html>"""

WAITING_NOTE = ("document.getElementById('quick_server-reload-waiting') && "
                "document.getElementById('quick_server-reload-waiting')"
                ".textContent")


def test_a_page_watching_a_job_reloads_once_it_ended(make_server, tmp_path,
                                                      tab):
    """An edit while the page's job runs: the page is not reloaded (the
    reload would cancel the job) but shows that a reload waits; the job
    delivers its result, then the page reloads. The page runs two copies
    of the script (worker.js and the live-reload script): they share the
    count of its jobs."""
    (tmp_path / "index.html").write_text(JOB_PAGE.format(title="first"))
    release = threading.Event()
    server = make_server(start=False)
    server.bind_path("/", str(tmp_path))
    server.link_worker_js("/js/worker.js")
    server.live_reload = True

    @server.json_worker("/job")
    def _job(payload):
        report_progress(1, 2)
        if not release.wait(20):
            raise TimeoutError("not released")
        return {"finished": True}

    run_in_thread(server)
    tab.goto(f"http://127.0.0.1:{server.port}/")
    listening(tab)
    try:
        tab.evaluate("sessionStorage.clear(); window.notReloaded = true; "
                     "start()")
        tab.wait_for_function("document.getElementById('bar').value === 1",
                              timeout=10000)
        (tmp_path / "index.html").write_text(JOB_PAGE.format(title="second"))
        tab.wait_for_function(f"{WAITING_NOTE} === "
                              "'reload waiting: 1 job running'",
                              timeout=10000)
        assert tab.evaluate("window.notReloaded") is True
        assert tab.text_content("#title") == "first"
        assert server.workers.active() == 1  # not cancelled
    finally:
        release.set()
    tab.wait_for_function("document.getElementById('title') && "
                          "document.getElementById('title').textContent "
                          "=== 'second'", timeout=10000)
    assert tab.evaluate("sessionStorage.getItem('error')") is None
    assert tab.evaluate("sessionStorage.getItem('result')") == \
        '{"finished":true}'
    assert tab.evaluate(WAITING_NOTE) is None  # a fresh page
