"""Many tabs, one set of waiting connections: ten tabs of a page with live
reload, each watching three running jobs, in one browser (Chromium's six
connections per host): every tab loads and gets a `fetch` answered at
once, every job's progress and result reach its tab, an edit reloads all
ten; without a SharedWorker the tab holding the connections hands them
over when it closes."""
from __future__ import annotations

import threading
import time

import pytest

from conftest import run_in_thread, wait_for

PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<script src="/js/worker.js"></script></head><body><h1>{version}</h1>
<script>
window.progress = {{}};
window.results = {{}};
window.errors = {{}};
const work = new quick_server.Worker();
for (const name of ['a', 'b', 'c']) {{
  work.post(name, '/job', {{name}},
            (result) => {{ window.results[name] = result; }},
            (progress) => {{ window.progress[name] = progress.message; }},
            (err) => {{ window.errors[name] = err.message; }});
}}
</script></body></html>"""

FETCH_MS = """async () => {
  const began = performance.now();
  const answer = await (await fetch('/api/ping')).json();
  return [answer, performance.now() - began];
}"""

TABS = 10


@pytest.fixture
def app(make_server, tmp_path):
    (tmp_path / "index.html").write_text(PAGE.format(version="first"))
    release = threading.Event()
    server = make_server(start=False)
    server.bind_path("/", str(tmp_path))
    server.add_default_white_list()
    server.link_worker_js("/js/worker.js")
    server.live_reload = True
    server.max_workers = 3 * TABS

    @server.json_get("/api/ping")
    def _ping(req, args):
        return {"pong": True}

    @server.json_worker("/job")
    def _job(payload):
        from quick_server import report_progress
        report_progress(0, 1, f"{payload['name']} running")
        release.wait(20)
        return {"done": payload["name"]}

    run_in_thread(server)
    yield server, tmp_path, release
    release.set()


def open_tabs(context, port, count):
    tabs = []
    for _ in range(count):
        tab = context.new_page()
        began = time.monotonic()
        tab.goto(f"http://127.0.0.1:{port}/", wait_until="load")
        assert time.monotonic() - began < 1.0  # the page loaded at once
        tabs.append(tab)
    return tabs


def all_running(tabs):
    return all(tab.evaluate("Object.keys(window.progress).length") == 3
               for tab in tabs)


def test_ten_tabs_share_one_stream_and_one_poll(chromium, app):
    server, folder, release = app
    context = chromium.new_context()
    try:
        tabs = open_tabs(context, server.port, TABS)
        wait_for(lambda: all_running(tabs), timeout=10,
                 what="every job's progress in its tab")
        for tab in tabs:
            tab.wait_for_function("window.quickServerLiveReload && "
                                  "window.quickServerLiveReload.readyState "
                                  "=== 1", timeout=5000)
            assert tab.evaluate("window.quickServerHub.role") == \
                "shared-worker"
            answer, ms = tab.evaluate(FETCH_MS)
            assert answer == {"pong": True} and ms < 200, ms
        # what waits: one live-reload stream, one poll for all 30 jobs
        assert server.reloader.live.listeners == 1
        assert server.workers.waiting() <= 1
        assert server.workers.active() == 3 * TABS
        release.set()
        for tab in tabs:
            tab.wait_for_function("Object.keys(window.results).length === 3",
                                  timeout=10000)
            assert tab.evaluate("window.results") == {
                name: {"done": name} for name in "abc"}
            assert tab.evaluate("window.errors") == {}
            assert tab.evaluate("window.progress") == {
                name: f"{name} running" for name in "abc"}
        (folder / "index.html").write_text(PAGE.format(version="second"))
        for tab in tabs:
            tab.wait_for_function(
                "document.querySelector('h1') && "
                "document.querySelector('h1').textContent === 'second'",
                timeout=5000)
    finally:
        context.close()


def test_the_tab_holding_the_connections_hands_them_over(chromium, app):
    """Without SharedWorker: one tab, elected with a Web Lock, holds the
    stream and the poll for all; when it closes another takes over."""
    server, folder, release = app
    release.set()  # jobs end at once: this test is about the stream
    context = chromium.new_context()
    context.add_init_script("delete window.SharedWorker;")
    try:
        tabs = open_tabs(context, server.port, 3)
        for tab in tabs:
            tab.wait_for_function("window.quickServerLiveReload && "
                                  "window.quickServerLiveReload.readyState "
                                  "=== 1", timeout=5000)
            tab.wait_for_function("Object.keys(window.results).length === 3",
                                  timeout=10000)
        roles = [tab.evaluate("window.quickServerHub.role") for tab in tabs]
        assert sorted(roles) == ["follower", "follower", "leader"], roles
        assert server.reloader.live.listeners == 1
        leader = tabs[roles.index("leader")]
        rest = [tab for tab in tabs if tab is not leader]
        leader.close()
        wait_for(lambda: "leader" in [tab.evaluate(
            "window.quickServerHub.role") for tab in rest], timeout=10,
            what="another tab to take over")
        (folder / "index.html").write_text(PAGE.format(version="second"))
        for tab in rest:
            tab.wait_for_function(
                "document.querySelector('h1') && "
                "document.querySelector('h1').textContent === 'second'",
                timeout=5000)
        wait_for(lambda: sorted(tab.evaluate("window.quickServerHub.role")
                                for tab in rest) == ["follower", "leader"],
                 timeout=5, what="one tab holding the connections again")
    finally:
        context.close()
