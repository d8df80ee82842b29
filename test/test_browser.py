"""worker.js in a real headless Chromium (Debian's /usr/bin/chromium,
driven by Playwright): results, progress, errors, cancelling (a job
process killed from the page), and the example page."""
from __future__ import annotations

import os
import re
import threading
import time

import pytest

from conftest import (get, pid_alive, run_in_thread, start_process,
                      stop_process, wait_for)
from quick_server import Response, report_progress
from quick_server.jobs.progress import MIN_INTERVAL

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<script src="/js/worker.js"></script></head><body><script>
window.statuses = [];
window.results = {};
window.progress = [];
window.errors = {};
function describe(err) {
  return {kind: err.kind, type: err.type, message: err.message,
          status: err.status, progress: err.progress,
          isError: err instanceof quick_server.WorkerError};
}
window.work = new quick_server.Worker({onError: (name, err) => {
  window.errors[name] = describe(err); }});
work.status((n) => window.statuses.push(n));
</script></body></html>"""


@pytest.fixture
def browser(chromium):
    return chromium  # conftest's, shared by every browser test


@pytest.fixture
def page(make_server, tmp_path, browser):
    (tmp_path / "index.html").write_text(PAGE)
    server = make_server(start=False)
    server.bind_path("/", str(tmp_path))
    server.link_worker_js("/js/worker.js")
    server.max_chunk_size = 1000
    server.runs = []
    server.gates = [threading.Event() for _ in range(3)]

    @server.json_worker("/work")
    def _work(payload):
        server.runs.append(payload.get("tag"))
        for step in range(1, payload.get("steps", 0) + 1):
            report_progress(step, payload["steps"], f"step {step}")
            if step < payload["steps"]:  # the test lets it go on
                assert server.gates[step].wait(10)
                time.sleep(MIN_INTERVAL * 1.5)  # (closer reports are dropped)
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


def post(tab, name, payload, url="/work"):
    """work.post with a result callback (window.results[name]) and a
    progress callback (window.progress)."""
    tab.evaluate("([n, p, u]) => work.post(n, u, p, "
                 "(r) => { window.results[n] = r; }, "
                 "(g) => { window.progress.push(g); })", [name, payload, url])


def test_result_and_status(page):
    tab, _ = page
    post(tab, "a", {"tag": "A", "ms": 300})
    tab.wait_for_function("window.results.a !== undefined", timeout=10000)
    assert tab.evaluate("window.results.a") == {"tag": "A", "data": ""}
    assert tab.evaluate("window.statuses") == [0, 1, 0]
    assert tab.evaluate("window.progress") == []  # the job reported none


def test_on_progress_gets_each_new_progress_in_order(page):
    """Each report reaches onProgress once, in order, the last one
    before the result: the job waits for the page to have seen a report
    before it makes the next."""
    tab, server = page
    post(tab, "p", {"tag": "P", "steps": 3})
    for step in (1, 2):
        tab.wait_for_function(f"window.progress.length >= {step}",
                              timeout=10000)
        server.gates[step].set()
    tab.wait_for_function("window.results.p !== undefined", timeout=10000)
    assert tab.evaluate("window.progress") == [
        {"done": step, "total": 3, "message": f"step {step}"}
        for step in (1, 2, 3)]


def test_replacement_by_name(page):
    tab, server = page
    post(tab, "job", {"tag": "old", "ms": 20000})
    wait_for(lambda: server.runs == ["old"], what="the old job to run")
    post(tab, "job", {"tag": "new", "ms": 100})
    tab.wait_for_function("window.results.job !== undefined", timeout=10000)
    assert tab.evaluate("window.results.job")["tag"] == "new"
    assert tab.evaluate("window.statuses")[-1] == 0
    # the old job was stopped (forgotten by the server, never delivered)
    wait_for(lambda: server.workers.active() == 0, what="no job left")
    assert tab.evaluate("window.results.job")["tag"] == "new"


def test_cancel(page):
    tab, server = page
    post(tab, "c", {"tag": "C", "ms": 20000})
    wait_for(lambda: server.runs == ["C"], what="the job to run")
    tab.evaluate("work.cancel('c')")
    wait_for(lambda: server.workers.active() == 0, timeout=5,
             what="the job to be cancelled")
    tab.wait_for_function("window.statuses[window.statuses.length - 1] "
                          "=== 0", timeout=10000)
    assert tab.evaluate("window.results.c") is None
    assert tab.evaluate("window.errors") == {}


def test_cargo(page):
    tab, _ = page
    post(tab, "big", {"tag": "B", "size": 5500})
    tab.wait_for_function("window.results.big !== undefined", timeout=10000)
    assert tab.evaluate("window.results.big.data.length") == 5500


def test_a_failed_job_reaches_on_error_with_its_type_and_message(page):
    """The Worker's onError(name, err), or the post's own onError(err):
    err names the exception's type and message; the result callback is
    not called and the status turns -1."""
    tab, _ = page
    post(tab, "bad", {"fail": True, "steps": 1})
    tab.wait_for_function("window.errors.bad !== undefined", timeout=10000)
    assert tab.evaluate("window.errors.bad") == {
        "kind": "job", "type": "ValueError", "message": "nope",
        "status": 500, "isError": True,
        "progress": {"done": 1, "total": 1, "message": "step 1"}}
    assert tab.evaluate("window.results.bad") is None
    assert tab.evaluate("window.statuses")[-1] == -1
    tab.evaluate("work.post('own', '/work', {fail: true}, null, null, "
                 "(err) => { window.own = [err.type, err.message]; })")
    tab.wait_for_function("window.own !== undefined", timeout=10000)
    assert tab.evaluate("window.own") == ["ValueError", "nope"]
    assert "own" not in tab.evaluate("window.errors")


def test_refusals_and_network_errors_are_worker_errors(page, refused_port):
    """Not a job's failure: an HTTP refusal names its status and the
    server's text; a server that is not there is a network error."""
    tab, _ = page
    post(tab, "missing", {}, url="/no/such/worker")
    closed = f"http://127.0.0.1:{refused_port}/work"
    post(tab, "closed", {}, url=closed)
    tab.wait_for_function("window.errors.missing && window.errors.closed",
                          timeout=10000)
    missing = tab.evaluate("window.errors.missing")
    assert (missing["kind"], missing["type"]) == ("http", "HTTPError")
    assert missing["status"] == 404
    assert missing["message"].startswith("HTTP 404")
    closed_error = tab.evaluate("window.errors.closed")
    assert (closed_error["kind"], closed_error["type"],
            closed_error["status"]) == ("network", "NetworkError", None)
    assert closed in closed_error["message"]


def test_unload_stops_jobs(page):
    tab, server = page
    post(tab, "u", {"tag": "U", "ms": 20000, "steps": 1})
    # the page knows the job's token once a reply brought its progress
    tab.wait_for_function("window.progress.length === 1", timeout=10000)
    tab.goto("about:blank")
    wait_for(lambda: server.workers.active() == 0, timeout=5,
             what="the job to be stopped")


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
        "window.got = [typeof module.exports.Worker, "
        "typeof module.exports.WorkerError, "
        "typeof module.exports.liveReload];</script>")
    tab.goto(f"http://127.0.0.1:{server.port}/module.html")
    tab.wait_for_function("window.got !== undefined", timeout=10000)
    assert tab.evaluate("window.got")["tag"] == "mod"
    tab.goto(f"http://127.0.0.1:{server.port}/cjs.html")
    assert tab.evaluate("window.got") == ["function"] * 3


def test_full_queue_is_retried(page):
    """With one worker and no queue, a second job is refused with 503 and
    Retry-After; worker.js asks again and gets its result."""
    tab, server = page
    server.max_workers = 1
    server.workers.max_queue = 0
    post(tab, "a", {"tag": "A", "ms": 500})
    wait_for(lambda: server.runs == ["A"], what="the first job to run")
    post(tab, "b", {"tag": "B"})
    tab.wait_for_function("window.results.b !== undefined", timeout=10000)
    assert tab.evaluate("window.results") == {
        "a": {"tag": "A", "data": ""}, "b": {"tag": "B", "data": ""}}
    assert server.runs == ["A", "B"]


def test_gateway_errors_are_retried_with_back_off(page):
    """502, 503 and 504 (what a dev proxy answers while the server
    restarts or is down) are asked again, a start as well as the
    browser's shared poll, after Retry-After or the back-off; the job gets
    its result."""
    tab, server = page
    flaky = {"start": [502, 503, 504], "poll": [504]}
    seen = []

    def gateway(req, args, okay):
        action = args["post"].get("action")
        codes = flaky.get(action, [])
        code = codes.pop(0) if codes else 200
        seen.append((action, code))
        if code == 200:
            return okay
        after = [("Retry-After", "0")] if code == 503 else []
        return Response(f"gateway says {code}\n", code,
                        "text/plain; charset=utf-8", after)

    with server.middlewares(gateway):
        @server.json_worker("/flaky")
        def _flaky(payload):
            time.sleep(0.3)  # answered by a poll, not by the start
            return {"tag": payload["tag"]}

    post(tab, "f", {"tag": "F"}, url="/flaky")
    tab.wait_for_function("window.results.f !== undefined", timeout=10000)
    assert tab.evaluate("window.results.f") == {"tag": "F"}
    assert tab.evaluate("window.errors") == {}
    assert seen[:6] == [("start", 502), ("start", 503), ("start", 504),
                        ("start", 200), ("poll", 504), ("poll", 200)], seen


def test_a_lasting_503_fails_with_the_error_of_its_json(page):
    """A 503 still there after the retries fails the job as an HTTP
    error whose message is the `error` of the JSON answer."""
    tab, server = page
    tries = []

    def down(req, args, okay):
        tries.append(args["post"].get("action"))
        return Response({"error": "the program failed to start"}, 503,
                        headers=[("Retry-After", "0")])

    with server.middlewares(down):
        @server.json_worker("/down")
        def _down(payload):
            return 1

    post(tab, "d", {}, url="/down")
    tab.wait_for_function("window.errors.d !== undefined", timeout=10000)
    error = tab.evaluate("window.errors.d")
    assert (error["kind"], error["type"], error["status"]) == \
        ("http", "HTTPError", 503)
    assert error["message"] == "HTTP 503: the program failed to start"
    assert tries == ["start"] * 6  # the first and five retries


def test_live_reload_script_loaded_from_another_server(page, make_server):
    """quick_server.liveReload(url) loads the live-reload script of the
    server at `url` into a page that server did not serve."""
    from quick_server.http.livescript import LIVE_SCRIPT_PATH, LIVE_STREAM_PATH
    tab, _ = page
    live = make_server(start=False)
    live.live_reload = True
    run_in_thread(live)
    wait_for(lambda: get(live.port, LIVE_SCRIPT_PATH)[0] == 200,
             what="the live-reload script")
    origin = f"http://127.0.0.1:{live.port}"
    assert tab.evaluate("window.quickServerLiveReload") is None
    tab.evaluate(f"quick_server.liveReload('{origin}/')")
    tab.wait_for_function("window.quickServerLiveReload !== undefined",
                          timeout=10000)
    assert tab.evaluate("window.quickServerLiveReload.url") == \
        origin + LIVE_STREAM_PATH
    assert tab.evaluate("quick_server.liveReload()") is None  # listening


# -- the example page, served by example/example.py in its own process ------

@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """example/example.py as a user runs it (a server process: it forks
    its job processes, which a server thread inside pytest must not)."""
    # it calls setup_restart(), whose supervisor would keep a handed
    # socket from its child: port 0, read from the URL it prints
    proc = start_process([os.path.join(ROOT, "example", "example.py")],
                         cwd=tmp_path_factory.mktemp("example"),
                         env={**os.environ, "PORT": "0",
                              "PYTHONPATH": ROOT})
    proc.url = f"http://127.0.0.1:{proc.port}/"
    yield proc
    code, out = stop_process(proc)
    assert code == 0, out


@pytest.fixture
def example_tab(example, browser):
    tab = browser.new_page(locale="en-US")
    tab.goto(example.url)
    yield tab
    tab.close()


def test_example_page(example_tab):
    """The page greets, and a click squares a number through a worker."""
    tab = example_tab
    tab.wait_for_function("document.getElementById('out').textContent"
                          ".includes('hello you')", timeout=10000)
    tab.fill("#x", "7")
    tab.click("#go")
    tab.wait_for_function("document.getElementById('out').textContent"
                          " === '7² = 49'", timeout=10000)
    assert tab.text_content("#status") == "0"


def _count(tab, n):
    tab.fill("#n", str(n))
    tab.click("#count")


def test_example_progress_bar_advances_to_100(example_tab):
    """Counting primes in a job process: the bar moves up as the job
    reports, ends at 100% with the count."""
    tab = example_tab
    tab.evaluate("""() => {
      window.bar = [];
      new MutationObserver(() => window.bar.push(
          document.getElementById('bar').value)).observe(
        document.getElementById('pct'), {childList: true});
    }""")
    _count(tab, 50_000_000)
    tab.wait_for_function("document.getElementById('primes').textContent"
                          " !== ''", timeout=60000)
    assert tab.text_content("#primes") == \
        "3,001,134 primes below 50,000,000"
    assert tab.text_content("#pct") == "100%"
    assert tab.evaluate("document.getElementById('bar').value") == 100
    seen = tab.evaluate("window.bar")
    assert seen == sorted(seen)
    assert any(0 < value < 100 for value in seen), seen  # it advanced
    assert "job process" in tab.text_content("#progress-message")


def test_example_failed_job_shows_its_type_and_message(example_tab):
    tab = example_tab
    _count(tab, -5)
    tab.wait_for_function("document.getElementById('primes').textContent"
                          " !== ''", timeout=10000)
    assert tab.text_content("#primes") == (
        "failed: ValueError: n must be a whole number from 2 to "
        "10,000,000,000, not -5")
    assert tab.text_content("#status") == "-1"


def test_example_cancel_kills_the_job_process(example_tab):
    """A job on the "process" executor, run and cancelled from the page:
    its process (named in its progress message) ends, and the next job
    runs."""
    tab = example_tab
    _count(tab, 10_000_000_000)  # minutes of work
    tab.wait_for_function("document.getElementById('progress-message')"
                          ".textContent.includes('job process')",
                          timeout=10000)
    pid = int(re.search(r"job process (\d+)",
                        tab.text_content("#progress-message")).group(1))
    assert pid_alive(pid)
    tab.click("#stop-count")
    wait_for(lambda: not pid_alive(pid), timeout=5, what="the job process end")
    assert tab.text_content("#status") == "0"
    assert tab.text_content("#primes") == ""
    _count(tab, 1000)
    tab.wait_for_function("document.getElementById('primes').textContent"
                          " !== ''", timeout=10000)
    assert tab.text_content("#primes") == "168 primes below 1,000"
