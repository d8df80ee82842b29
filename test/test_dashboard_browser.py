"""The dashboard page (`server.bind_dashboard()`) in a real headless
Chromium (conftest's `chromium`): a job's progress bar moves on the open
page, a service that stops calling turns dead within its timeout, the
cancel button cancels the job on the server, a request path holding
markup shows as text (nothing of it runs), the request list filters and
pauses, and a screenshot with live data.

The screenshot goes to a folder of the test run; with
`QUICK_SERVER_SCREENSHOT=1` in the environment it also replaces
docs/images/dashboard.png (the README's picture): its clock times, pid
and sizes differ from run to run, so an ordinary run leaves the tracked
file alone."""
from __future__ import annotations

import json
import os
import shutil
import threading
import time
from typing import Any

import pytest

from conftest import get, run_in_thread, wait_for
from quick_server import (WorkerError, is_worker_alive, report_progress,
                          worker_request)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCREENSHOT = os.path.join(ROOT, "docs", "images", "dashboard.png")
KEY = "a service key"
LIVE = "document.getElementById('conn').textContent === 'live'"


@pytest.fixture
def tab(chromium):
    """A page of conftest's Chromium, of a fixed size."""
    page = chromium.new_page(viewport={"width": 1280, "height": 860})
    yield page
    page.close()


def until(tab: Any, expression: str, seconds: float = 10.0) -> None:
    """Waits until the JavaScript `expression` is true in `tab` (given as
    a function: the page's CSP forbids Playwright's eval of a string)."""
    tab.wait_for_function(f"() => ({expression})", timeout=seconds * 1000)


def open_dashboard(tab: Any, server: Any) -> None:
    """Opens the dashboard and waits for its first push."""
    tab.goto(f"http://127.0.0.1:{server.port}/_quick_server")
    until(tab, LIVE)


def start_job(server: Any, path: str, payload: Any = None
              ) -> tuple[dict[str, Any], threading.Thread]:
    """Runs a job of `path` with the Python client in a thread: what it
    returned (`result`) or raised (`error`) lands in the dict."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = worker_request(
                f"http://127.0.0.1:{server.port}{path}", payload or {})
        except WorkerError as err:
            outcome["error"] = err
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return outcome, thread


def only_job(server: Any, path: str) -> dict[str, Any]:
    """The one job of `path` the server lists (waited for)."""
    return wait_for(lambda: next((job for job in server.status()["jobs"]
                                  if job["path"] == path), None),
                    what=f"a job of {path}")


def job_item(job_id: str) -> str:
    return f"#job-list li[data-key='{job_id}']"


def register(port: int, name: str, description: str = "") -> str:
    """A service registered by hand (docs/services-api.rst): its id."""
    status, _, body = get(port, "/services", "POST", json.dumps(
        {"name": name, "description": description}).encode(), {
            "Authorization": f"Bearer {KEY}",
            "Content-Type": "application/json"})
    assert status == 200, body
    return json.loads(body)["id"]


def heartbeat(port: int, service_id: str) -> None:
    status, _, body = get(port, f"/services/{service_id}", "PATCH",
                          headers={"Authorization": f"Bearer {KEY}"})
    assert status == 200, body


def test_a_progress_bar_moves_without_a_reload(make_server, tab):
    steps = [threading.Event() for _ in range(3)]
    server = make_server(start=False)
    server.bind_dashboard()

    @server.json_worker("/steps")
    def _steps(post):
        for done, step in enumerate(steps, 1):
            report_progress(done, 4, f"step {done}")
            if not step.wait(20):
                raise TimeoutError("not released")
        return {"steps": 3}

    run_in_thread(server)
    open_dashboard(tab, server)
    try:
        outcome, thread = start_job(server, "/steps")
        item = job_item(only_job(server, "/steps")["id"])
        bar = f"document.querySelector(\"{item} progress\")"
        note = f"document.querySelector(\"{item} .progress span\")"
        until(tab, f"{bar} && {bar}.value === 1")
        assert tab.evaluate(f"{bar}.max") == 4
        assert tab.evaluate(f"{note}.textContent") == \
            "1 / 4 (25%) — step 1"
        assert tab.text_content(f"{item} .state") == "running"
        assert tab.text_content(f"{item} .line").count("on thread") == 1
        tab.evaluate("window.notReloaded = true")
        for done in (2, 3):
            steps[done - 2].set()
            until(tab, f"{bar}.value === {done}")
            assert tab.evaluate(f"{note}.textContent") == \
                f"{done} / 4 ({25 * done}%) — step {done}"
        assert tab.evaluate("window.notReloaded") is True
    finally:
        for step in steps:
            step.set()
    thread.join(20)
    assert outcome == {"result": {"steps": 3}}
    until(tab, f"document.querySelector(\"{item} .state\").textContent "
          "=== 'done'")
    counts = "#job-routes tr[data-key='/steps'] td"
    until(tab, f"[...document.querySelectorAll(\"{counts}\")].map((td) => "
          "td.textContent).join(' ') === '/steps 0 0 1 0 0'")
    assert tab.evaluate("window.notReloaded") is True


def test_a_silent_service_turns_dead_within_its_timeout(make_server, tab):
    timeout = 2.0
    server = make_server(start=False)
    server.bind_dashboard()
    server.bind_services(prefix="/services", service_timeout=timeout,
                         key=KEY)
    run_in_thread(server)
    open_dashboard(tab, server)
    service = register(server.port, "resize", "resizes images")
    row = f"#service-list tr[data-key='{service}']"
    state = f"document.querySelector(\"{row} td:nth-child(2)\")"
    until(tab, f"{state} && {state}.textContent === 'alive'")
    assert tab.text_content(f"{row} td:first-child") == "resize"
    heartbeat(server.port, service)  # its last call
    silent_since = time.monotonic()
    until(tab, f"{state}.textContent.startsWith('dead since ')", timeout + 4)
    took = time.monotonic() - silent_since
    print(f"dead on the page {took:.2f} s after its last call "
          f"(service_timeout {timeout} s)")
    assert took >= timeout * 0.9  # not before its timeout
    # still listed, greyed
    assert tab.evaluate(f"document.querySelector(\"{row}\").classList"
                        ".contains('dead')")
    assert tab.evaluate(f"getComputedStyle(document.querySelector("
                        f"\"{row} td\")).opacity") == "0.6"
    assert not server.status()["services"][0]["alive"]


def test_the_cancel_button_cancels_the_job(make_server, tab):
    release = threading.Event()
    server = make_server(start=False)
    server.bind_dashboard()

    @server.json_worker("/long")
    def _long(post):
        report_progress(1, 10, "working")
        while is_worker_alive():
            if release.wait(0.02):
                return {"released": True}
        return {"stopped": True}

    run_in_thread(server)
    open_dashboard(tab, server)
    try:
        outcome, thread = start_job(server, "/long")
        job_id = only_job(server, "/long")["id"]
        item = job_item(job_id)
        button = tab.locator(f"{item} button.cancel")
        button.wait_for(state="visible", timeout=10000)
        assert tab.text_content(f"{item} .state") == "running"
        button.click()
        wait_for(lambda: server.status()["job_routes"]["/long"]
                 ["cancelled"] == 1, what="the job cancelled")
        until(tab, f"document.querySelector(\"{item} .state\").textContent "
              "=== 'cancelled'")
        assert not button.is_visible()  # an ended job has none
        thread.join(20)
        assert "error" in outcome, outcome  # its client was told
    finally:
        release.set()
    assert server.status()["job_routes"]["/long"]["done"] == 0


MARKUP = ("/<script>window.pwned=1</script>"
          "<img/src='x'/onerror='window.pwned=2'>")


def test_a_path_with_markup_shows_as_text(make_server, tab):
    server = make_server(start=False)
    server.bind_dashboard()
    run_in_thread(server)
    open_dashboard(tab, server)
    assert get(server.port, MARKUP)[0] == 404
    cell = tab.locator("#requests td.path", has_text="<script>")
    cell.wait_for(state="visible", timeout=10000)
    assert cell.text_content() == MARKUP
    assert tab.evaluate("window.pwned") is None
    assert tab.evaluate("document.querySelectorAll('#requests img, "
                        "#requests script').length") == 0
    assert tab.evaluate("document.scripts.length") == 1  # the page's own
    # the route list too: a 404 is "(no route)", with the path nowhere
    assert tab.locator("#route-list", has_text="(no route)").is_visible()


def test_the_request_list_filters_and_pauses(make_server, tab):
    server = make_server(start=False)
    server.bind_dashboard()

    @server.json_get("/api/ok")
    def _ok(req, args):
        return {"ok": True}

    run_in_thread(server)
    open_dashboard(tab, server)
    for path in ("/api/ok", "/missing", "/api/ok"):
        get(server.port, path)
    shown = ("[...document.querySelectorAll('#requests tr')].filter("
             "(tr) => !tr.hidden).map((tr) => tr.cells[3].textContent + ' ' "
             "+ tr.cells[4].textContent)")
    def listed(want: list[str]) -> str:
        """The rows shown (but the dashboard's own) are `want`."""
        text = json.dumps(want, separators=(",", ":"))
        return (f"JSON.stringify({shown}.filter((row) => !row.startsWith("
                f"'/_quick_server'))) === '{text}'")
    until(tab, listed(["/api/ok 200", "/missing 404",
                                  "/api/ok 200"]))
    tab.fill("#filter", "404")
    until(tab, listed(["/missing 404"]))
    tab.fill("#filter", "api/")
    until(tab, listed(["/api/ok 200", "/api/ok 200"]))
    tab.fill("#filter", "")
    tab.click("#pause")
    get(server.port, "/missing-while-paused")
    until(tab, "document.getElementById('pause').textContent "
                          "=== 'resume (1 new)'")
    assert "/missing-while-paused" not in tab.text_content("#requests")
    tab.click("#pause")
    assert tab.text_content("#pause") == "pause"
    assert "/missing-while-paused" in tab.text_content("#requests")


def test_a_screenshot_with_live_data(make_server, tab, tmp_path):
    """A job with progress, one that failed, a service, a few routes:
    the picture of the README (see the module's docstring)."""
    release = threading.Event()
    server = make_server(start=False)
    server.bind_dashboard()
    server.bind_services(prefix="/services", key=KEY)

    @server.json_worker("/render")
    def _render(post):
        report_progress(42, 100, "page 42 of 100")
        if not release.wait(30):
            raise TimeoutError("not released")
        return {"pages": 100}

    @server.json_worker("/thumbnail")
    def _thumbnail(post):
        raise ValueError("not an image: notes.txt")

    @server.json_get("/api/items")
    def _items(req, args):
        return {"items": list(range(10))}

    @server.json_get("/api/search")
    def _search(req, args):
        return {"found": 0}

    run_in_thread(server)
    try:
        register(server.port, "resize", "resizes images")
        for _ in range(12):
            get(server.port, "/api/items")
        for query in ("cats", "dogs", "owls"):
            get(server.port, f"/api/search?q={query}")
        get(server.port, "/favicon.png")
        failed, thread = start_job(server, "/thumbnail")
        thread.join(20)
        assert "error" in failed
        start_job(server, "/render")
        only_job(server, "/render")
        open_dashboard(tab, server)
        until(tab, "document.querySelectorAll('#job-list li').length === 2 && "
            "document.querySelector('#job-list li.running progress')"
            ".value === 42 && document.querySelectorAll('#service-list "
            "tr').length === 1")
        tab.evaluate("document.activeElement.blur()")
        tab.mouse.move(0, 0)
        shot = tmp_path / "dashboard.png"
        tab.screenshot(path=str(shot), full_page=True)
    finally:
        release.set()
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    if os.environ.get("QUICK_SERVER_SCREENSHOT") == "1":
        os.makedirs(os.path.dirname(SCREENSHOT), exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)


def test_a_stopped_server_shows_disconnected(make_server, tab):
    server = make_server(start=False)
    server.bind_dashboard()
    thread = run_in_thread(server)
    open_dashboard(tab, server)
    server.stop()  # its event stream ends; nothing answers after it
    thread.join(20)
    until(tab, "document.getElementById('conn').textContent === "
          "'disconnected — reconnecting…'")
    assert tab.evaluate("document.body.classList.contains('stale')")


def test_server_data_is_text_and_links_only_http(make_server, tab):
    """Pushes made up in the test (the stream is answered by Playwright):
    a Dask dashboard link that is not http(s) is no link; tracebacks
    show collapsed, as text."""
    server = make_server(start=False)
    server.bind_dashboard()
    run_in_thread(server)
    data = server.status()
    data["process"]["dask"] = {"scheduler": "tcp://10.0.0.5:8786",
                               "dashboard": "javascript:window.pwned=1"}
    data["process"]["cache"] = {"hits": 3, "misses": 1}
    trace = "Traceback (most recent call last):\n<b id='bold'>x</b>\n"
    data["requests"] = [{
        "seq": 1, "time": 1767225600.5, "client": "127.0.0.1",
        "method": "POST", "path": "/api/fails", "status": 500, "size": 99,
        "duration_ms": 1.5, "traceback": trace}]
    data["last_request"] = 1
    data["jobs"] = [{
        "id": "job1", "path": "/render", "state": "error",
        "progress": None, "runs_on": None, "elapsed_s": 1.25,
        "error": {"type": "ValueError", "message": "<i>bad</i>",
                  "traceback": trace}}]
    data["job_routes"] = {"/render": {
        "started": 1, "cached": 0, "done": 0, "error": 1, "cancelled": 0,
        "queued": 0, "running": 0}}
    pushes = []

    def answer(route: Any) -> None:
        """The first push names a javascript: link, the next an http
        one; each stream ends after its push (a long `retry`: only the
        reload connects again)."""
        if pushes:
            data["process"]["dask"]["dashboard"] = \
                "http://10.0.0.5:8787/status"
        pushes.append(route.request.url)
        route.fulfill(status=200, content_type="text/event-stream",
                      body=f"retry: 600000\n\nevent: status\ndata: "
                           f"{json.dumps(data)}\n\n")
    tab.route("**/_quick_server/events", answer)
    tab.goto(f"http://127.0.0.1:{server.port}/_quick_server")
    info = "document.getElementById('process-info')"
    until(tab, f"{info}.textContent.includes('tcp://10.0.0.5:8786')")
    assert tab.evaluate(f"{info}.querySelectorAll('a').length") == 0
    assert "3 hits, 1 misses" in tab.text_content("#process-info")
    # the stream ended: the page says so, and keeps what it showed
    until(tab, "document.getElementById('conn').textContent === "
          "'disconnected — reconnecting…'")
    for where in ("#requests", "#job-list"):
        details = tab.locator(f"{where} details")
        assert details.count() == 1
        assert details.get_attribute("open") is None  # collapsed
        details.locator("summary").click()
        assert details.locator("pre").text_content() == trace
    assert tab.text_content("#job-list .bad").startswith(
        "ValueError: <i>bad</i>")
    assert tab.evaluate("document.querySelectorAll('#bold, i').length") == 0
    tab.reload()
    until(tab, f"{info}.querySelector('a') !== null")
    assert tab.get_attribute("#process-info a", "href") == \
        "http://10.0.0.5:8787/status"
    assert tab.evaluate("window.pwned") is None
    assert len(pushes) == 2
