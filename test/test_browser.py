"""worker.js in a real headless Chromium (Debian's /usr/bin/chromium,
driven by Playwright)."""
from __future__ import annotations

import os
import time

import pytest
from playwright.sync_api import sync_playwright

from conftest import free_port, run_in_thread, start_process, stop_process

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<script src="/js/worker.js"></script></head><body><script>
window.statuses = [];
window.results = {};
window.work = new quick_server.Worker({onError: (name, err) => {
  window.results[name] = 'error: ' + err.message; }});
work.status((n) => window.statuses.push(n));
</script></body></html>"""


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as play:
        browser = play.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(make_server, tmp_path, browser):
    (tmp_path / "index.html").write_text(PAGE)
    server = make_server(start=False)
    server.bind_path("/", str(tmp_path))
    server.link_worker_js("/js/worker.js")
    server.max_chunk_size = 1000
    server.runs = []

    @server.json_worker("/work")
    def _work(payload):
        server.runs.append(payload.get("tag"))
        end = time.monotonic() + payload.get("ms", 0) / 1000
        while time.monotonic() < end:
            time.sleep(0.01)
        if payload.get("fail"):
            raise ValueError("nope")
        return {"tag": payload.get("tag"), "data": "d" * payload.get(
            "size", 0)}

    run_in_thread(server)
    tab = browser.new_page()
    tab.goto(f"http://127.0.0.1:{server.port}/")
    tab.wait_for_function("window.work !== undefined")
    yield tab, server
    tab.close()


def post(tab, name, payload):
    tab.evaluate("([n, p]) => work.post(n, '/work', p, (r) => "
                 "{ window.results[n] = r; })", [name, payload])


def test_result_and_status(page):
    tab, _ = page
    post(tab, "a", {"tag": "A", "ms": 300})
    tab.wait_for_function("window.results.a !== undefined", timeout=10000)
    assert tab.evaluate("window.results.a") == {"tag": "A", "data": ""}
    assert tab.evaluate("window.statuses") == [0, 1, 0]


def test_replacement_by_name(page):
    tab, server = page
    post(tab, "job", {"tag": "old", "ms": 600})
    time.sleep(0.2)
    post(tab, "job", {"tag": "new", "ms": 100})
    tab.wait_for_function("window.results.job !== undefined", timeout=10000)
    time.sleep(0.8)
    assert tab.evaluate("window.results.job")["tag"] == "new"
    assert tab.evaluate("window.statuses")[-1] == 0
    assert server.workers.active() == 0  # the old job was stopped


def test_cancel(page):
    tab, server = page
    post(tab, "c", {"tag": "C", "ms": 3000})
    time.sleep(0.3)
    tab.evaluate("work.cancel('c')")
    deadline = time.monotonic() + 5
    while server.workers.active() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.workers.active() == 0
    time.sleep(0.2)
    assert tab.evaluate("window.results.c") is None
    assert tab.evaluate("window.statuses")[-1] == 0


def test_cargo_and_errors(page):
    tab, _ = page
    post(tab, "big", {"tag": "B", "size": 5500})
    tab.wait_for_function("window.results.big !== undefined", timeout=10000)
    assert tab.evaluate("window.results.big.data.length") == 5500
    post(tab, "bad", {"fail": True})
    tab.wait_for_function("window.results.bad !== undefined", timeout=10000)
    assert tab.evaluate("window.results.bad").startswith("error: HTTP 500")
    assert tab.evaluate("window.statuses")[-1] == -1


def test_unload_stops_jobs(page):
    tab, server = page
    post(tab, "u", {"tag": "U", "ms": 3000})
    time.sleep(0.4)
    assert server.workers.active() == 1
    tab.goto("about:blank")
    deadline = time.monotonic() + 5
    while server.workers.active() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.workers.active() == 0


def test_loaded_as_module_and_as_commonjs(page, tmp_path):
    """The bundler forms: an ES module importing worker.js for its side
    effect (README), and the CommonJS export."""
    tab, server = page
    (tmp_path / "module.html").write_text(
        '<!DOCTYPE html><script type="module">'
        "import '/js/worker.js';"
        "const work = new window.quick_server.Worker();"
        "work.post('m', '/work', {tag: 'mod'}, (r) => { window.got = r; });"
        "</script>")
    (tmp_path / "cjs.html").write_text(
        "<!DOCTYPE html><script>var module = {exports: {}};</script>"
        '<script src="/js/worker.js"></script><script>'
        "window.got = typeof module.exports.Worker;</script>")
    tab.goto(f"http://127.0.0.1:{server.port}/module.html")
    tab.wait_for_function("window.got !== undefined", timeout=10000)
    assert tab.evaluate("window.got")["tag"] == "mod"
    tab.goto(f"http://127.0.0.1:{server.port}/cjs.html")
    assert tab.evaluate("window.got") == "function"


def test_full_queue_is_retried(page):
    """With one worker and no queue, a second job is refused with 503 and
    Retry-After; worker.js asks again and gets its result."""
    tab, server = page
    server.max_workers = 1
    server.workers.max_queue = 0
    post(tab, "a", {"tag": "A", "ms": 500})
    time.sleep(0.1)
    post(tab, "b", {"tag": "B"})
    tab.wait_for_function("window.results.b !== undefined", timeout=10000)
    assert tab.evaluate("window.results") == {
        "a": {"tag": "A", "data": ""}, "b": {"tag": "B", "data": ""}}
    assert server.runs == ["A", "B"]


def test_example_page(browser, tmp_path):
    """example/example.py and its page, as a user runs them: the page
    greets, and a click squares a number through a worker."""
    port = free_port()
    proc = start_process([os.path.join(ROOT, "example", "example.py")], port,
                         cwd=tmp_path, env={**os.environ, "PORT": str(port),
                                            "PYTHONPATH": ROOT})
    tab = browser.new_page()
    try:
        tab.goto(f"http://127.0.0.1:{port}/")
        tab.wait_for_function("document.getElementById('out').textContent"
                              ".includes('hello you')", timeout=10000)
        tab.fill("#x", "7")
        tab.click("#go")
        tab.wait_for_function("document.getElementById('out').textContent"
                              " === '7² = 49'", timeout=10000)
        assert tab.text_content("#status") == "0"
    finally:
        tab.close()
        assert stop_process(proc)[0] == 0
