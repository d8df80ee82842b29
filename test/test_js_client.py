"""The typed browser client (bind_js_client) in a real headless Chromium:
a page imports /api.js, calls an rpc and gets the typed answer, gets a
rejected promise with status 400 and the field for a bad request, runs a
worker with progress and cancels one with an AbortSignal; a typed worker
contract plugs in; another server's client, with extra headers; files."""
from __future__ import annotations

import enum
import threading
from dataclasses import dataclass, field

import pytest

from conftest import get, run_in_thread, wait_for
from quick_server import FileResponse, Response, report_progress


class Mode(enum.Enum):
    FAST = "fast"
    SLOW = "slow"


@dataclass
class Line:
    """One line of an order."""
    name: str
    qty: int = 1


@dataclass
class OrderRequest:
    lines: list[Line]
    mode: Mode = Mode.FAST
    note: str | None = None


@dataclass
class OrderResponse:
    total: int
    names: list[str] = field(default_factory=list)
    mode: Mode = Mode.FAST


def order(request: OrderRequest) -> OrderResponse:
    """Adds up an order."""
    return OrderResponse(sum(line.qty for line in request.lines),
                         [line.name for line in request.lines],
                         request.mode)


@dataclass
class CountRequest:
    n: int


@dataclass
class CountResult:
    count: int


PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<script type="module">
import * as api from '/api.js';
window.api = api;
window.progress = [];
window.ready = true;
</script></head><body></body></html>"""


@pytest.fixture
def site(make_server, tmp_path, chromium):
    (tmp_path / "index.html").write_text(PAGE)
    (tmp_path / "report.csv").write_text("a,b\n1,2\n")
    server = make_server(start=False)
    server.bind_path("/", str(tmp_path))
    server.bind_js_client("/api.js", json_workers=True)
    server.rpc("/api/order")(order)
    server.gate = threading.Event()

    @server.rpc("/api/report")
    def report(request: CountRequest) -> FileResponse | CountResult:
        if request.n:
            return CountResult(request.n)
        return FileResponse(str(tmp_path / "report.csv"))

    @server.json_worker("/api/steps")
    def steps(payload):
        """Runs in steps, reporting each."""
        for step in range(1, payload["n"] + 1):
            report_progress(step, payload["n"], f"step {step}")
            if payload.get("hold"):
                assert server.gate.wait(20)
        return {"steps": payload["n"]}

    @server.rpc_worker("/api/count")  # a typed worker
    def count(request: CountRequest) -> CountResult:
        """Counts to n (a typed worker's contract)."""
        report_progress(1, 1, "counted")
        return CountResult(request.n)

    run_in_thread(server)
    tab = chromium.new_page()
    tab.goto(f"http://127.0.0.1:{server.port}/")
    tab.wait_for_function("window.ready === true")
    yield tab, server
    tab.close()


def test_an_rpc_resolves_to_its_typed_answer(site):
    tab, _ = site
    answer = tab.evaluate("""() => api.order({
        lines: [{name: 'apple', qty: 2}, {name: 'pear'}], mode: 'slow'})""")
    assert answer == {"total": 3, "names": ["apple", "pear"],
                      "mode": "slow"}
    assert tab.evaluate("api.order.name") == "order"


def test_a_bad_request_rejects_with_status_field_and_expected(
        site, refused_port):
    tab, _ = site
    err = tab.evaluate("""async () => {
      try {
        await api.order({lines: [{name: 'apple', qty: 'two'}]});
      } catch (err) {
        return {isRpcError: err instanceof api.RpcError, name: err.name,
                status: err.status, field: err.field,
                expected: err.expected, message: err.message};
      }
    }""")
    assert err["isRpcError"] and err["name"] == "RpcError"
    assert (err["status"], err["field"], err["expected"]) == (
        400, "lines[0].qty", "int")
    assert "expected int" in err["message"]
    # no answer at all: status null
    err = tab.evaluate("""async (base) => {
      try {
        await api.order({lines: []}, {baseUrl: base});
      } catch (err) { return [err.name, err.status, err.field]; }
    }""", f"http://127.0.0.1:{refused_port}/")
    assert err == ["RpcError", None, None]


def test_a_worker_resolves_to_its_result_with_progress(site):
    tab, _ = site
    got = tab.evaluate("""async () => {
      const result = await api.steps({n: 3}, {
        onProgress: (p) => window.progress.push(p)});
      return result;
    }""")
    assert got == {"steps": 3}
    assert tab.evaluate("window.progress")[-1] == {
        "done": 3, "total": 3, "message": "step 3"}
    assert tab.evaluate("api.steps.name") == "steps"


def test_an_abort_signal_cancels_a_worker_job(site):
    tab, server = site
    tab.evaluate("""() => {
      window.controller = new AbortController();
      window.outcome = null;
      api.steps({n: 2, hold: true}, {
        signal: window.controller.signal,
        onProgress: (p) => window.progress.push(p),
      }).then((r) => { window.outcome = {result: r}; },
              (err) => { window.outcome = {name: err.name}; });
    }""")
    tab.wait_for_function("window.progress.length === 1", timeout=10000)
    assert server.workers.active() == 1
    tab.evaluate("window.controller.abort()")
    tab.wait_for_function("window.outcome !== null", timeout=10000)
    assert tab.evaluate("window.outcome") == {"name": "AbortError"}
    wait_for(lambda: server.workers.active() == 0, what="the job stopped")
    assert tab.evaluate("window.quickServerJobs.count") == 0
    server.gate.set()


def test_a_typed_worker_contract_plugs_in(site):
    """A contract of kind "worker" is a worker function of the client:
    the job runs through the protocol, typed by its contract."""
    tab, server = site
    got = tab.evaluate("""async () => {
      const result = await api.count({n: 7}, {
        onProgress: (p) => window.progress.push(p)});
      return result;
    }""")
    assert got == {"count": 7}
    assert tab.evaluate("window.progress") == [
        {"done": 1, "total": 1, "message": "counted"}]
    dts = get(server.port, "/api.d.ts")[2].decode()
    assert "export declare function count(payload: CountRequest, " \
           "options?: WorkerCallOptions): Promise<CountResult>;" in dts


def test_a_file_answer_is_a_blob(site):
    tab, _ = site
    got = tab.evaluate("""async () => {
      const file = await api.report({n: 0});
      const typed = await api.report({n: 4});
      return [file instanceof Blob, await file.text(), typed];
    }""")
    assert got == [True, "a,b\n1,2\n", {"count": 4}]


def test_another_servers_client_with_extra_headers(make_server, site):
    """A page imports the client of another server (CORS): its calls go
    to the server it came from, with the headers configureClient gave."""
    tab, _ = site
    api = make_server(start=False)
    api.cross_origin = True
    seen = []

    def check_key(req, args, okay):
        seen.append(req.headers.get("Authorization"))
        if req.headers.get("Authorization") != "Bearer k1":
            return Response("no key", 401)
        return okay

    with api.middlewares(check_key):
        api.rpc("/api/order")(order)

        @api.json_worker("/api/double")
        def double(payload):
            report_progress(1, 1)
            return {"twice": payload["n"] * 2}
    api.bind_js_client("/js/api.js", json_workers=True)
    run_in_thread(api)
    got = tab.evaluate("""async (url) => {
      const other = await import(url);
      const refused = await other.order({lines: []}).catch(
        (err) => err.status);
      other.configureClient({headers: {Authorization: 'Bearer k1'}});
      const answer = await other.order({lines: [{name: 'fig'}]});
      const twice = await other.double({n: 21});
      return [refused, answer.total, twice];
    }""", f"http://127.0.0.1:{api.port}/js/api.js")
    assert got == [401, 1, {"twice": 42}]
    assert "Bearer k1" in seen
