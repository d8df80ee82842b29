#!/usr/bin/env python3
"""Live development, measured: edit-to-serving time and the cost of
watching sources.

    python3 benchmarks/live.py [--edits N] [--idle S]

1. Edit to serving: a small app (`server.auto_restart = True`, one
   imported module of the user's) runs as its own process; N times, the
   module is rewritten and a client polls every 2 ms until the new value
   is served. Also `restart` typed on the command loop, in place and under
   `setup_restart()`: command to serving.
2. Watching: the time of one poll of the source watcher in this process
   (the app's imports), and for 1,000 watched files; then the CPU time an
   idle server process spends in S seconds with `auto_restart` on and off
   (from /proc/PID/stat).

Every server is started on a free loopback port and stopped by the PID
this script started."""
from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

APP = """
import os, sys
sys.path.insert(0, {root!r})
from quick_server import create_server, setup_restart
if {supervised}:
    setup_restart()
import mod
server = create_server(("127.0.0.1", {port}))
server.auto_restart = {auto}
server.suppress_noise = True
server.watch({watch!r})

@server.text_get("/v")
def _v(req, args):
    return str(mod.VALUE)

try:
    server.serve_forever()
finally:
    server.server_close()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def served(port: int) -> str | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/v")
        return conn.getresponse().read().decode()
    except OSError:
        return None
    finally:
        conn.close()


def wait_served(port: int, want: str, timeout: float = 20.0) -> float:
    """Seconds until `want` is served (polling every 2 ms)."""
    began = time.perf_counter()
    while served(port) != want:
        if time.perf_counter() - began > timeout:
            raise RuntimeError(f"{want!r} not served in {timeout} s")
        time.sleep(0.002)
    return time.perf_counter() - began


def start(folder: str, port: int, auto: bool, supervised: bool = False,
          watch: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    with open(os.path.join(folder, "mod.py"), "w") as handle:
        handle.write("VALUE = 0\n")
    script = os.path.join(folder, "app.py")
    with open(script, "w") as handle:
        handle.write(APP.format(root=ROOT, port=port, auto=auto,
                                supervised=supervised, watch=list(watch)))
    proc = subprocess.Popen([sys.executable, script], cwd=folder,
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_served(port, "0")
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def summary(times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return (f"median {statistics.median(ms):.0f} ms, p90 {p90:.0f} ms, "
            f"min {ms[0]:.0f} ms, max {ms[-1]:.0f} ms ({len(ms)} runs)")


def edit_to_serving(edits: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        proc = start(folder, port, auto=True)
        times = []
        try:
            for number in range(1, edits + 1):
                time.sleep(0.3)  # the last restart's dust settles
                with open(os.path.join(folder, "mod.py"), "w") as handle:
                    handle.write(f"VALUE = {number}\n")
                times.append(wait_served(port, str(number)))
        finally:
            stop(proc)
    print(f"auto_restart, edit to serving: {summary(times)}")
    for supervised in (False, True):
        with tempfile.TemporaryDirectory() as folder:
            port = free_port()
            proc = start(folder, port, auto=False, supervised=supervised)
            times = []
            try:
                assert proc.stdin is not None
                for number in range(1, edits + 1):
                    time.sleep(0.3)
                    with open(os.path.join(folder, "mod.py"), "w") as handle:
                        handle.write(f"VALUE = {number}\n")
                    proc.stdin.write(b"restart\n")
                    proc.stdin.flush()
                    times.append(wait_served(port, str(number)))
            finally:
                stop(proc)
        how = "under setup_restart()" if supervised else "in place"
        print(f"restart command {how}, command to serving: "
              f"{summary(times)}")


def poll_cost() -> None:
    from quick_server import create_server  # noqa: F401  (its imports)
    from quick_server.dev.watching import SourceWatcher
    watcher = SourceWatcher([])
    files = len(watcher.modules.files())
    rounds = 200
    began = time.perf_counter()
    for _ in range(rounds):
        watcher.poll()
    per_poll = (time.perf_counter() - began) / rounds
    print(f"one poll of {files} module files (this process): "
          f"{per_poll * 1e6:.0f} us = {per_poll / 0.1 * 100:.3f} % of a "
          f"core at the 0.1 s interval")
    with tempfile.TemporaryDirectory() as folder:
        for number in range(1000):
            with open(os.path.join(folder, f"m{number}.py"), "w") as handle:
                handle.write("X = 1\n")
        watcher = SourceWatcher([folder])
        began = time.perf_counter()
        for _ in range(50):
            watcher.poll()
        per_poll = (time.perf_counter() - began) / 50
    print(f"one poll of a watched folder of 1,000 files: "
          f"{per_poll * 1e6:.0f} us = {per_poll / 0.1 * 100:.2f} % of a "
          f"core at the 0.1 s interval")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(seconds: float) -> None:
    for auto, files in ((False, 0), (True, 0), (True, 1000)):
        with tempfile.TemporaryDirectory() as folder:
            watched = os.path.join(folder, "watched")
            os.mkdir(watched)
            for number in range(files):
                with open(os.path.join(watched, f"f{number}.txt"), "w"):
                    pass
            port = free_port()
            proc = start(folder, port, auto=auto,
                         watch=("watched",) if files else ())
            try:
                time.sleep(1.0)
                before = cpu_seconds(proc.pid)
                time.sleep(seconds)
                used = cpu_seconds(proc.pid) - before
            finally:
                stop(proc)
        extra = f", watch() of {files} files" if files else ""
        print(f"idle server, auto_restart={auto}{extra}: {used:.2f} s CPU "
              f"in {seconds:.0f} s = {used / seconds * 100:.2f} % of a core")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--idle", type=float, default=20.0)
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    edit_to_serving(args.edits)
    poll_cost()
    idle_cpu(args.idle)


if __name__ == "__main__":
    main()
