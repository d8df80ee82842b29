"""worker.js as an ES module (worker.mjs, and the copy mirror_worker_js
writes) in a real headless Chromium: named exports, a job as a promise
with progress, cancelled by an AbortSignal; a Worker with a base URL and
extra headers, also through the shared hub; one core in every form; and
worker.d.ts checked by TypeScript's compiler."""
from __future__ import annotations

import re
import threading

import pytest

from conftest import get, run_in_thread, wait_for
from quick_server import Response, report_progress
from quick_server.browser import js_source, worker_js, worker_module

MODULE_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<script type="module">
import { Worker, WorkerError, liveReload } from '/js/worker.mjs';
window.exports = [typeof Worker, typeof WorkerError, typeof liveReload];
window.Worker_ = Worker;
window.WorkerError_ = WorkerError;
window.progress = [];
window.ready = true;
</script></head><body></body></html>"""


@pytest.fixture
def site(make_server, tmp_path, chromium):
    (tmp_path / "index.html").write_text(MODULE_PAGE)
    server = make_server(start=False)
    server.bind_path("/", str(tmp_path))
    server.link_worker_js("/js/worker.js")
    server.max_chunk_size = 1000
    server.gate = threading.Event()
    server.runs = []

    @server.json_worker("/steps")
    def _steps(payload):
        server.runs.append(payload)
        report_progress(1, 2, "half")
        if payload.get("hold"):
            assert server.gate.wait(20)
        report_progress(2, 2, "done")
        return {"n": payload["n"], "data": "x" * payload.get("size", 0)}

    @server.json_worker("/fail")
    def _fail(payload):
        raise KeyError("missing")

    run_in_thread(server)
    tab = chromium.new_page()
    tab.goto(f"http://127.0.0.1:{server.port}/")
    tab.wait_for_function("window.ready === true")
    yield tab, server
    tab.close()


def test_named_exports_and_a_job_as_a_promise_with_progress(site):
    tab, _ = site
    assert tab.evaluate("window.exports") == ["function"] * 3
    got = tab.evaluate("""async () => {
      const work = new window.Worker_();
      const result = await work.run('/steps', {n: 3, size: 2500}, {
        onProgress: (p) => window.progress.push(p)});
      return result;
    }""")
    # a result larger than max_chunk_size came in cargo parts, joined
    assert got == {"n": 3, "data": "x" * 2500}
    assert tab.evaluate("window.progress")[-1] == {
        "done": 2, "total": 2, "message": "done"}


def test_a_failed_job_rejects_with_a_worker_error(site):
    tab, _ = site
    err = tab.evaluate("""async () => {
      try {
        await new window.Worker_().run('/fail', {});
      } catch (err) {
        return {isError: err instanceof window.WorkerError_, kind: err.kind,
                type: err.type, status: err.status};
      }
    }""")
    assert err == {"isError": True, "kind": "job", "type": "KeyError",
                   "status": 500}


def test_an_abort_signal_cancels_the_job_on_the_server(site):
    tab, server = site
    tab.evaluate("""() => {
      window.controller = new AbortController();
      window.work = new window.Worker_();
      window.counts = [];
      window.work.status((n) => window.counts.push(n));
      window.outcome = null;
      window.work.run('/steps', {n: 1, hold: true}, {
        signal: window.controller.signal,
        onProgress: (p) => window.progress.push(p),
      }).then((r) => { window.outcome = {result: r}; },
              (err) => { window.outcome = {name: err.name}; });
    }""")
    # the job runs (the page saw its first progress): then it is aborted
    tab.wait_for_function("window.progress.length === 1", timeout=10000)
    assert server.workers.active() == 1
    tab.evaluate("window.controller.abort()")
    tab.wait_for_function("window.outcome !== null", timeout=10000)
    assert tab.evaluate("window.outcome") == {"name": "AbortError"}
    wait_for(lambda: server.workers.active() == 0, what="the job stopped")
    assert tab.evaluate("window.counts") == [0, 1, 0]
    assert tab.evaluate("window.quickServerJobs.count") == 0
    # an already aborted signal starts nothing
    assert tab.evaluate("""async () => {
      const controller = new AbortController();
      controller.abort(new Error('not now'));
      try {
        await window.work.run('/steps', {n: 2}, {signal: controller.signal});
      } catch (err) { return err.message; }
    }""") == "not now"
    assert len(server.runs) == 1
    server.gate.set()


def test_cancel_by_name_on_the_module_worker(site):
    tab, server = site
    tab.evaluate("""() => {
      window.work = new window.Worker_();
      window.work.post('held', '/steps', {n: 1, hold: true},
                       (r) => { window.result = r; },
                       (p) => window.progress.push(p));
    }""")
    tab.wait_for_function("window.progress.length === 1", timeout=10000)
    tab.evaluate("window.work.cancel('held')")
    wait_for(lambda: server.workers.active() == 0, what="the job stopped")
    server.gate.set()
    assert tab.evaluate("window.result === undefined")


def test_base_url_and_headers_reach_another_server(make_server, site):
    """A page of one server runs jobs of another (CORS) that wants a
    bearer key: the start, the hub's shared long-poll and the cargo parts
    all carry it."""
    tab, _ = site
    api = make_server(start=False)
    api.cross_origin = True
    api.max_chunk_size = 1000
    seen = []

    def check_key(req, args, okay):
        post = args.get("post")
        seen.append((post.get("action") if isinstance(post, dict) else None,
                     req.headers.get("Authorization")))
        if req.headers.get("Authorization") != "Bearer k1":
            return Response("no key", 401)
        return okay

    gate = threading.Event()
    with api.middlewares(check_key):
        @api.json_worker("/held")
        def _held(payload):
            report_progress(1, 2)
            assert gate.wait(20)
            return {"data": "y" * 2500}
    run_in_thread(api)
    tab.evaluate("""(base) => {
      window.outcome = null;
      const work = new window.Worker_({baseUrl: base,
                                       headers: {Authorization: 'Bearer k1'}});
      work.run('/held', {}, {onProgress: (p) => window.progress.push(p)})
        .then((r) => { window.outcome = r.data.length; },
              (err) => { window.outcome = err.message; });
    }""", f"http://127.0.0.1:{api.port}")
    tab.wait_for_function("window.progress.length === 1", timeout=10000)
    gate.set()
    tab.wait_for_function("window.outcome !== null", timeout=10000)
    assert tab.evaluate("window.outcome") == 2500
    # the page's hub (its server's shared worker) long-polled the other
    # server with the key
    assert tab.evaluate("window.quickServerHub.role") == "shared-worker"
    assert {action for action, key in seen if key == "Bearer k1"} == {
        "start", "poll", "cargo"}
    assert {key for action, key in seen} <= {"Bearer k1", None}
    assert all(action is None for action, key in seen if key is None)
    # without the key: refused
    err = tab.evaluate("""async (base) => {
      try { await new window.Worker_({baseUrl: base}).run('/held', {}); }
      catch (err) { return [err.kind, err.status]; }
    }""", f"http://127.0.0.1:{api.port}")
    assert err == ["http", 401]


def test_one_core_in_every_form():
    """The protocol's core is one text that every form takes in."""
    core = js_source("worker-core.js").encode("utf-8")
    assert b"class Job" in core and b"action: 'cargo'" in core
    for form in (worker_js(), worker_module()):
        assert form.count(core) == 1
    assert b"/* include:" not in worker_js() + worker_module()
    assert b"export { Worker, WorkerError, liveReload };" in worker_module()
    assert not re.search(rb"^\s*(export|import)\b", worker_js(), re.M)


def test_served_beside_the_classic_script(make_server):
    server = make_server()
    server.link_worker_js("/js/worker.js")
    server.link_worker_js("/client")
    for path, kind in (("/js/worker.mjs", "text/javascript"),
                       ("/js/worker.d.ts", "application/typescript"),
                       ("/client.mjs", "text/javascript")):
        status, headers, _ = get(server.port, path)
        assert status == 200 and headers["content-type"].startswith(kind)


TS_FRONT_END = """
import { Worker, WorkerError, liveReload, type Progress } from './worker.js';

const work = new Worker({ baseUrl: 'http://127.0.0.1:8080',
                          headers: { Authorization: 'Bearer k' } });
const shown: string[] = [];
async function go(signal: AbortSignal): Promise<number> {
  const result = await work.run<{ count: number }>('/primes', { n: 10 }, {
    signal,
    onProgress: (p: Progress) => { shown.push(`${p.done}/${p.total ?? '?'}`); },
  });
  return result.count;
}
work.post('job', '/primes', { n: 1 }, (r: unknown) => console.log(r),
          null, (err: WorkerError) => console.log(err.kind, err.status));
work.status((n: number) => console.log(n));
const live = liveReload('http://127.0.0.1:8080');
const state: number | undefined = live?.readyState;
globalThis.quick_server?.Worker;
export { go, state };
"""


def test_worker_d_ts_types_a_typescript_front_end(make_server, tmp_path,
                                                  tsc):
    """The mirrored module and its declarations: tsc --strict accepts a
    front end that uses them, and refuses a misspelled member."""
    server = make_server(start=False)
    server.mirror_worker_js(str(tmp_path / "src" / "worker.js"))
    (tmp_path / "src" / "main.ts").write_text(TS_FRONT_END)
    args = ["--strict", "--noEmit", "--target", "es2022", "--module",
            "es2022", "--moduleResolution", "bundler", "--lib",
            "es2022,dom", "src/main.ts"]
    done = tsc(tmp_path, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    (tmp_path / "src" / "main.ts").write_text(
        TS_FRONT_END.replace("p.done", "p.dnoe"))
    done = tsc(tmp_path, *args)
    assert done.returncode != 0
    assert "Property 'dnoe' does not exist on type 'Progress'" in done.stdout
