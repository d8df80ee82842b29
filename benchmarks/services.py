#!/usr/bin/env python3
"""What a remote service adds to a job: start-to-result latency of a 0 ms
job through `service_worker` (one service process pulling with a long
poll) against the same job on a server thread, both with a long-polling
client (`start` with `"wait"`). One server process, one service process,
on 127.0.0.1; jobs run one after another, bounded in count and time.

    python3 benchmarks/services.py [--jobs 300]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = "bench-key"
SERVER = """
import sys
from quick_server import create_server
server = create_server(("127.0.0.1", int(sys.argv[1])))
server.no_command_loop = True
server.suppress_noise = True
server.bind_services(key=%r, service_timeout=30.0)
server.service_worker("/service", "zero")

@server.json_worker("/thread")
def _zero(payload):
    return payload

server.serve_forever()
""" % KEY
SERVICE = """
def zero(payload):
    return payload
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, seconds: float = 15.0) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the server did not start")


def one_job(conn: http.client.HTTPConnection, path: str) -> float:
    """Seconds from `start` to the result, long-polling."""
    t0 = time.perf_counter()
    body = json.dumps({"action": "start", "wait": 5, "payload": {"n": 1}})
    while True:
        conn.request("POST", path, body,
                     {"Content-Type": "application/json"})
        res = json.loads(conn.getresponse().read())
        if res["done"]:
            break
        body = json.dumps({"action": "get", "token": res["token"],
                           "wait": 5})
    return time.perf_counter() - t0


def measure(port: int, path: str, jobs: int, budget: float) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(20):  # warm-up
        one_job(conn, path)
    times = []
    end = time.monotonic() + budget
    while len(times) < jobs and time.monotonic() < end:
        times.append(one_job(conn, path))
    conn.close()
    return times


def describe(times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p90 = ms[int(len(ms) * 0.9) - 1]
    return f"p50 {statistics.median(ms):.2f} ms, p90 {p90:.2f} ms " \
           f"({len(ms)} jobs)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--budget", type=float, default=60.0,
                        help="seconds at most per case")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="qs-bench-services-")
    with open(os.path.join(folder, "server.py"), "w") as handle:
        handle.write(SERVER)
    with open(os.path.join(folder, "svc.py"), "w") as handle:
        handle.write(SERVICE)
    env = {**os.environ, "PYTHONPATH": ROOT}
    port = free_port()
    server = subprocess.Popen([sys.executable, "server.py", str(port)],
                              cwd=folder, env=env, stdin=subprocess.DEVNULL)
    service = None
    try:
        wait_listening(port)
        service = subprocess.Popen(
            [sys.executable, "-m", "quick_server.service",
             f"http://127.0.0.1:{port}/services", "zero", "svc:zero",
             "--key", KEY], cwd=folder, env=env, stdin=subprocess.DEVNULL)
        thread = measure(port, "/thread", args.jobs, args.budget)
        remote = measure(port, "/service", args.jobs, args.budget)
    finally:
        for proc in (service, server):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    added = statistics.median(remote) - statistics.median(thread)
    print(f"thread job:  {describe(thread)}")
    print(f"service job: {describe(remote)}")
    print(f"added by the service (p50): {added * 1000:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
