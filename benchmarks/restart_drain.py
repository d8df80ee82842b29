#!/usr/bin/env python3
"""A job that spans a restart (issue 21, "better still"): under
`setup_restart`, the old process finishes it while the new one serves.

    .venv-3.11/bin/python benchmarks/restart_drain.py [--rounds N] [--job S]

A worker job computes for `--job` seconds (a busy loop reporting progress
every 0.1 s), started by a client in this process that long-polls until
its result. Cases, each its own server process under its supervisor
(`XDG_CACHE_HOME` is a temporary folder):

* none: no restart: start to result.
* drain: `restart` typed 1 s into the job (the default, `drain_timeout`
  600 s): start to result; the restart's pause (the command to the new
  process answering `/pid`); the resident memory (VmRSS) of the draining
  old process and of the new one meanwhile.
* rerun: the same with `drain_timeout = 0` and `restartable=True` (what
  a restart did before: the job runs again from its start in the new
  process).

Every loop is bounded in time; the servers are stopped by their PID."""
from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

APP = """
import os, sys, time
sys.path.insert(0, {root!r})
from quick_server import create_server, report_progress, setup_restart
setup_restart()
server = create_server(("127.0.0.1", {port}))
server.suppress_noise = True
server.settings.jobs.drain_timeout = {drain}

@server.json_get("/pid")
def _pid(req, args):
    return os.getpid()

@server.json_worker("/work", restartable=True)
def _work(payload):
    end = time.monotonic() + payload["seconds"]
    while time.monotonic() < end:
        report_progress(payload["seconds"] - (end - time.monotonic()),
                        payload["seconds"])
        stop = time.monotonic() + 0.1
        while time.monotonic() < min(stop, end):
            pass
    return os.getpid()

try:
    server.serve_forever()
finally:
    server.server_close()
"""


def call(port: int, path: str, obj: object = None, timeout: float = 30
         ) -> object:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if obj is None:
            conn.request("GET", path)
        else:
            conn.request("POST", path, json.dumps(obj),
                         {"Content-Type": "application/json"})
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pid_of(port: int) -> int | None:
    try:
        return int(call(port, "/pid", timeout=2))  # type: ignore[arg-type]
    except (OSError, ValueError):
        return None


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def run_case(case: str, seconds: float, folder: str) -> dict[str, float]:
    port = free_port()
    script = os.path.join(folder, f"app-{case}.py")
    with open(script, "w", encoding="utf-8") as handle:
        handle.write(APP.format(root=ROOT, port=port,
                                drain=0 if case == "rerun" else 600))
    proc = subprocess.Popen([sys.executable, script], cwd=folder,
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    out: dict[str, float] = {}
    try:
        deadline = time.monotonic() + 20
        while (old := pid_of(port)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError("the server did not start")
            time.sleep(0.05)
        began = time.monotonic()
        token = call(port, "/work", {"action": "start", "wait": 0,
                                     "payload": {"seconds": seconds}})
        token = token["token"]  # type: ignore[index]
        if case != "none":
            time.sleep(1.0)
            typed = time.monotonic()
            assert proc.stdin is not None
            proc.stdin.write(b"restart\n")
            proc.stdin.flush()
            while pid_of(port) in (None, old):
                if time.monotonic() > typed + 20:
                    raise TimeoutError("no restart")
                time.sleep(0.01)
            out["pause"] = time.monotonic() - typed
            new = pid_of(port)
            if case == "drain" and new is not None:
                time.sleep(0.3)
                out["old_rss"] = rss_kib(old) / 1024
                out["new_rss"] = rss_kib(new) / 1024
        while True:
            answer = call(port, "/work", {"action": "get", "token": token,
                                          "wait": 5})
            if answer["done"]:  # type: ignore[index]
                break
            if time.monotonic() > began + 60:
                raise TimeoutError("no result")
        out["total"] = time.monotonic() - began
        ran_in = json.loads(answer["result"])  # type: ignore[index]
        out["ran_in_old"] = float(ran_in == old)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--job", type=float, default=3.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        os.environ["XDG_CACHE_HOME"] = folder
        results: dict[str, list[dict[str, float]]] = {}
        for _ in range(args.rounds):
            for case in ("none", "drain", "rerun"):
                results.setdefault(case, []).append(
                    run_case(case, args.job, folder))
    print(f"job of {args.job:.1f} s, restart 1 s into it, "
          f"{args.rounds} rounds (medians)")
    for case, rows in results.items():
        keys = sorted({key for row in rows for key in row})
        print(f"{case:6}", "  ".join(
            f"{key} {statistics.median(row[key] for row in rows):.2f}"
            for key in keys))


if __name__ == "__main__":
    main()
