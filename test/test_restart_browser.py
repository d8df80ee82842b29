"""Nothing lost on restart, in a real headless Chromium (conftest's
`chromium`): a page running a job with a progress bar sees it finish
across an auto-restart. The page is not reloaded while its job runs (it
shows that a reload waits), its job's poll rides over the restart, the
job's result reaches it, and then it reloads to the new program."""
from __future__ import annotations

import json
import os

import pytest

from conftest import get, listening_socket, start_process, stop_process, \
    wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

APP = """
import os, sys, time
sys.path.insert(0, {root!r})
from quick_server import create_server, report_progress
import mod
server = create_server(("127.0.0.1", {port}))
server.bind_path("/", "www")
server.link_worker_js("/js/worker.js")
server.auto_restart = True
server.live_reload = True
server.no_command_loop = True
server.suppress_noise = True

@server.json_get("/value")
def _value(req, args):
    return mod.VALUE

@server.json_worker("/job", restartable=True)  # runs again after one
def _job(payload):
    report_progress(1, 2, "waiting for the test")
    end = time.monotonic() + 60
    while not os.path.exists("go"):  # the test says when it may end
        if time.monotonic() > end:
            raise TimeoutError("the test never said go")
        time.sleep(0.02)
    report_progress(2, 2, "finished")
    return {{"finished": True}}

try:
    server.serve_forever()
finally:
    server.server_close()
"""

PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<script src="/js/worker.js"></script></head><body>
<p id="v">?</p><progress id="bar" max="2" value="0"></progress><script>
fetch('/value').then((r) => r.json()).then((v) => {
  document.getElementById('v').textContent = String(v); });
function remember(key, value) {
  const list = JSON.parse(sessionStorage.getItem(key) || '[]');
  sessionStorage.setItem(key, JSON.stringify(list.concat([value])));
}
const work = new quick_server.Worker();
window.start = () => work.post('job', '/job', {}, (result) => {
  remember('results', result);
}, (progress) => {
  document.getElementById('bar').value = progress.done;
  remember('progress', progress.done);
}, (err) => { remember('errors', `${err.kind}: ${err.message}`); });
</script></body></html>"""

WAITING_NOTE = "document.getElementById('quick_server-reload-waiting')"


@pytest.fixture
def tab(chromium):
    page = chromium.new_page()
    yield page
    page.close()


def served_value(port):
    try:
        status, _, body = get(port, "/value")
    except OSError:
        return None
    return json.loads(body) if status == 200 else None


def stored(tab, key):
    return json.loads(tab.evaluate(f"sessionStorage.getItem('{key}')")
                      or "[]")


def test_a_job_finishes_across_an_auto_restart(tab, tmp_path):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text(PAGE)
    (tmp_path / "mod.py").write_text("VALUE = 1\n")
    sock, port = listening_socket()
    (tmp_path / "app.py").write_text(APP.format(root=ROOT, port=port))
    proc = start_process([str(tmp_path / "app.py")], sock, cwd=tmp_path)
    try:
        tab.goto(f"http://127.0.0.1:{port}/")
        tab.wait_for_function("window.quickServerLiveReload && "
                              "window.quickServerLiveReload.readyState === 1 "
                              "&& document.getElementById('v').textContent "
                              "=== '1'", timeout=10000)
        tab.evaluate("sessionStorage.clear(); window.notReloaded = true; "
                     "start()")
        tab.wait_for_function("document.getElementById('bar').value === 1",
                              timeout=10000)
        (tmp_path / "mod.py").write_text("VALUE = 2\n")  # restarts
        wait_for(lambda: served_value(port) == 2, timeout=20,
                 what="the restarted program")
        # the new process said hello: a reload waits for the job (unless
        # the job failed, and the page reloaded)
        tab.wait_for_function(f"{WAITING_NOTE} || "
                              "sessionStorage.getItem('errors')",
                              timeout=20000)
        assert stored(tab, "errors") == []
        assert tab.evaluate("window.notReloaded") is True
        assert tab.evaluate(f"{WAITING_NOTE}.textContent") == \
            "reload waiting: 1 job running"
        (tmp_path / "go").write_text("")
        tab.wait_for_function("sessionStorage.getItem('results') || "
                              "sessionStorage.getItem('errors')",
                              timeout=20000)
        # then the page reloads to the new program
        tab.wait_for_function("document.getElementById('v') && "
                              "document.getElementById('v').textContent "
                              "=== '2'", timeout=20000)
        assert stored(tab, "errors") == []
        assert stored(tab, "results") == [{"finished": True}]
        # the bar went to the end (the job ran again from its start in the
        # new process: its first report, the same, is not news)
        assert stored(tab, "progress") == [1, 2]
        assert tab.evaluate(WAITING_NOTE) is None
    finally:
        code, out = stop_process(proc)
    assert "mod.py changed: restarting" in out, out
    assert code == 0, out
