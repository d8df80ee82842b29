#!/usr/bin/env python3
"""The event loop beside a job computing on a thread (issue 19's latency
note): JSON at 32 connections (`wrk -t2 -c32`) with no job, then while
one worker job spins on a thread, for each GIL switch interval given
(`settings.http.switch_interval`: 0.2 ms, quick_server's default, and
Python's own 5 ms), in one run.

    python3 benchmarks/busy_job.py [--checkout DIR] [--duration 3]

Each server runs in its own process (a socket bound here on 127.0.0.1,
adopted through QUICK_SERVER_FDS) and is stopped by its PID; the job
spins for the case's duration plus 2 s."""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

from bench import wrk_load  # (run as a script: benchmarks/ is on the path)
from live import stop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

APP = r'''
import sys, time
from quick_server import create_server
server = create_server(("127.0.0.1", int(sys.argv[1])))
server.suppress_noise = True
server.no_command_loop = True
try:
    server.settings.http.switch_interval = float(sys.argv[2])
except AttributeError:  # a checkout from before the setting
    sys.setswitchinterval(float(sys.argv[2]))

@server.json_get("/api/ping")
def ping(req, args):
    return {"ok": True}

@server.json_worker("/job", executor="thread")
def spin(payload):
    end, n = time.monotonic() + payload["seconds"], 0
    while time.monotonic() < end:
        n += 1
    return n

server.serve_forever()
'''


def load(port: int, seconds: int) -> tuple[float, str]:
    """req/s and p99 of `wrk` (bench.py's) on the JSON route."""
    found = wrk_load(port, "/api/ping", 32, False, seconds)
    p99 = found["p99_ms"]
    return found["rps"], "?" if p99 is None else f"{p99:.2f}ms"


def measure(checkout: str, interval: float, seconds: int
            ) -> list[tuple[float, str]]:
    listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
    port = listener.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": checkout,
           "QUICK_SERVER_FDS": str(listener.fileno())}
    proc = subprocess.Popen([sys.executable, "-c", APP, str(port),
                             str(interval)], env=env, cwd=checkout,
                            pass_fds=[listener.fileno()],
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    listener.close()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(base + "/api/ping", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.1)
        rows = [load(port, seconds)]
        start = urllib.request.Request(
            base + "/job", json.dumps({"action": "start", "payload": {
                "seconds": seconds + 2}}).encode(),
            {"Content-Type": "application/json"})
        urllib.request.urlopen(start, timeout=10).read()
        rows.append(load(port, seconds))
        return rows
    finally:
        stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", default=ROOT)
    parser.add_argument("--duration", type=int, default=3)
    options = parser.parse_args()
    print("| switch interval | no job | one CPU-bound thread job |")
    print("|---|---:|---:|")
    for interval in (0.0002, 0.005):
        (rps0, p0), (rps1, p1) = measure(options.checkout, interval,
                                         options.duration)
        print(f"| {interval * 1000:g} ms | {rps0:,.0f} req/s, p99 {p0} | "
              f"{rps1:,.0f} req/s, p99 {p1} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
