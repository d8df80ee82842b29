"""Many tabs of one browser against one server: how many connections they
hold open, and whether a tab still gets an answer.

Opens TABS tabs (default 10) of a page with live reload on, each starting
three jobs that run until released, in one headless Chromium (Debian's
/usr/bin/chromium, driven by Playwright), against a server of the
quick_server in CHECKOUT (default: this one). Prints, per tab, the time
its page took to load and a `fetch` took to answer (both bounded: 5 s),
then the connections established to the server and the requests waiting
in it.

    python benchmarks/tabs.py [--checkout DIR] [--tabs N]

A browser opens at most six HTTP/1.1 connections to one host; a page
whose stream and job polls each hold one uses them up after a tab or
two."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-quic", "--no-first-run",
                 "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
BOUND_MS = 5000

APP = """
import sys, threading
from quick_server import create_server, report_progress
server = create_server(("127.0.0.1", 0))
server.no_command_loop = True
server.suppress_noise = True
server.bind_path("/", sys.argv[1])
server.add_default_white_list()
server.link_worker_js("/js/worker.js")
server.live_reload = True
server.max_workers = 100
release = threading.Event()

@server.json_get("/api/ping")
def _ping(req, args):
    return {"pong": True, "waiting": server.workers.waiting(),
            "streams": server.reloader.live.listeners}

@server.json_get("/api/release")
def _release(req, args):
    release.set()
    return {}

@server.json_worker("/job")
def _job(payload):
    report_progress(0, 1, "running")
    release.wait(60)
    return payload

import quick_server
print(server.server_port, quick_server.__file__, flush=True)
server.serve_forever()
"""

PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<script src="/js/worker.js"></script></head><body><script>
const work = new quick_server.Worker();
for (const name of ['a', 'b', 'c']) { work.post(name, '/job', {name}, () => {}); }
</script></body></html>"""

FETCH = """async (bound) => {
  const began = performance.now();
  const timeout = new Promise((resolve) => setTimeout(() => resolve(null), bound));
  const answer = await Promise.race([fetch('/api/ping').then((r) => r.json()), timeout]);
  return answer === null ? null : [performance.now() - began, answer];
}"""


def established(port: int) -> int:
    """Connections established to `port` on this machine (Linux)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as handle:
            for line in list(handle)[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and \
                        fields[3] == "01":
                    count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", default=os.path.dirname(HERE))
    parser.add_argument("--tabs", type=int, default=10)
    options = parser.parse_args()
    from playwright.sync_api import sync_playwright
    folder = f"/tmp/qs-tabs-{os.getpid()}"
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "index.html"), "w") as handle:
        handle.write(PAGE)
    # -S: no site-packages, where an editable install of another checkout
    # would come first (quick_server needs nothing from there)
    server = subprocess.Popen(
        [sys.executable, "-S", "-c", APP, folder], stdout=subprocess.PIPE,
        cwd=folder,
        env={**os.environ, "PYTHONPATH": options.checkout})
    try:
        line = server.stdout.readline().split()  # type: ignore[union-attr]
        port = int(line[0])
        url = f"http://127.0.0.1:{port}/"
        with sync_playwright() as play:
            browser = play.chromium.launch(executable_path="/usr/bin/chromium",
                                           args=CHROMIUM_ARGS)
            context = browser.new_context()
            print(f"{line[1].decode()}: {options.tabs} tabs, 3 jobs each")
            print("tab  load ms  fetch ms")
            seen = None
            for index in range(options.tabs):
                tab = context.new_page()
                began = time.monotonic()
                try:
                    tab.goto(url, wait_until="load", timeout=BOUND_MS)
                    load = f"{(time.monotonic() - began) * 1000:7.0f}"
                    got = tab.evaluate(FETCH, BOUND_MS)
                    fetch = "   none" if got is None else f"{got[0]:7.0f}"
                    seen = got[1] if got is not None else seen
                except Exception:  # noqa: BLE001 (a page that never loads)
                    load, fetch = "  never", "      -"
                print(f"{index + 1:3}  {load}  {fetch}")
            time.sleep(1)  # what is open once the tabs settled
            print(f"connections established to the server: "
                  f"{established(port)} (idle ones included)")
            if seen is not None:
                print(f"waiting in the server at the last answer: "
                      f"{seen['waiting']} job polls, {seen['streams']} "
                      f"live-reload streams")
            browser.close()
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
