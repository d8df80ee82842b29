#!/usr/bin/env python3
"""Side-by-side benchmark of quick_server and its Python peers, in one run.

    python3 benchmarks/bench.py [--duration S] [--md FILE] [--cases a,b]

Starts, one after another on 127.0.0.1: this checkout's quick_server, the
PyPI release quick-server 0.10.0, bottle (its default wsgiref server) and
`python -m http.server`; the peers are installed into a virtual environment
(`--venv`, default /tmp/quick-server-bench-venv) on first use. Load comes
from wrk when it is installed, otherwise from a Python keep-alive client.
Each case lasts `--duration` seconds; worker cases run a fixed number of
jobs. Prints a Markdown table with each peer's result and the ratio
quick_server / peer, then quick_server's memory check (peak RSS growth
while serving a 64 MiB file and refusing a 64 MiB upload)."""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HOST = "127.0.0.1"
PEERS = ["quick-server==0.10.0", "typing_extensions", "bottle"]

# the cases each kind of system can answer
STATIC = {"static_1k_c1", "static_1k_c32", "static_1k_close_c8",
          "file_64m_c2"}
ROUTES = {"json_c1", "json_c32"}
WORKER = {"worker_0ms", "worker_200ms_wait"}
CASES = ["static_1k_c1", "static_1k_c32", "static_1k_close_c8", "json_c1",
         "json_c32", "file_64m_c2", "worker_0ms", "worker_200ms_wait"]
# case -> (path, connections, a new connection for every request)
LOAD = {"static_1k_c1": ("/index.html", 1, False),
        "static_1k_c32": ("/index.html", 32, False),
        "static_1k_close_c8": ("/index.html", 8, True),
        "json_c1": ("/api/ping", 1, False),
        "json_c32": ("/api/ping", 32, False),
        "file_64m_c2": ("/big.bin", 2, False)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def peer_python(venv: str) -> str:
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    probe = "import quick_server, bottle; print(quick_server.__file__)"
    done = subprocess.run([python, "-c", probe], capture_output=True,
                          text=True, cwd="/", check=False)
    if done.returncode != 0:
        subprocess.run([python, "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", *PEERS], check=True)
    return python


def systems(venv: str) -> dict[str, tuple[list[str], dict[str, str], set]]:
    peer = peer_python(venv)
    app = os.path.join(HERE, "app.py")
    bottle = os.path.join(HERE, "bottle_app.py")
    return {
        "quick_server": ([sys.executable, app], {"PYTHONPATH": ROOT},
                         STATIC | ROUTES | WORKER),
        "quick-server 0.10.0": ([peer, app], {}, STATIC | ROUTES | WORKER),
        "bottle": ([peer, bottle], {}, STATIC | ROUTES),
        "http.server": ([sys.executable, "-m", "http.server", "-b", HOST],
                        {}, STATIC),
    }


class Server:
    """One system, started by PID and stopped by the same PID."""

    def __init__(self, cmd: list[str], env: dict[str, str], www: str,
                 log: str) -> None:
        self.port = free_port()
        args = cmd + [str(self.port)]
        if "-m" in cmd:  # http.server: PORT then --directory
            args += ["--directory", www]
        else:
            args += [www]
        self.log = open(log, "wb")
        self.proc = subprocess.Popen(
            args, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **env},
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            cwd=tempfile.gettempdir())
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection((HOST, self.port), 0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{cmd} did not start, see {log}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# -- load ------------------------------------------------------------------

def wrk_load(port: int, path: str, conns: int, close: bool,
             duration: float) -> dict:
    header = ["-H", "Connection: close"] if close else []
    out = subprocess.run(
        ["wrk", f"-t{min(conns, 2)}", f"-c{conns}", f"-d{duration:g}s",
         "--latency", "--timeout", "5s", *header,
         f"http://{HOST}:{port}{path}"],
        capture_output=True, text=True, timeout=duration + 30, check=False)
    return parse_wrk(out.stdout)


def parse_wrk(text: str) -> dict:
    """Requests/s, requests, MB/s, p99 (ms, with --latency) and errors
    (non-2xx and socket errors) of wrk's report."""
    reqs = re.search(r"Requests/sec:\s*([\d.]+)", text)
    count = re.search(r"(\d+) requests in", text)
    transfer = re.search(r"Transfer/sec:\s*([\d.]+)(\w+)", text)
    p99 = re.search(r"99%\s+([\d.]+)(\w+)", text)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sock_err = re.search(r"Socket errors: (.*)", text)
    unit = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    return {
        "rps": float(reqs.group(1)) if reqs else 0.0,
        "requests": int(count.group(1)) if count else 0,
        "mbps": float(transfer.group(1)) * unit[transfer.group(2)] / 1e6
        if transfer else 0.0,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else None,
        "errors": (int(errors.group(1)) if errors else 0) +
        (sum(int(n) for n in re.findall(r"\d+", sock_err.group(1)))
         if sock_err else 0),
    }


def python_load(port: int, path: str, conns: int, close: bool,
                duration: float) -> dict:
    """Keep-alive (or `close`) clients on threads; bounded by
    `duration`."""
    stop = time.monotonic() + duration
    lock = threading.Lock()
    lat: list[float] = []
    totals = {"bytes": 0, "errors": 0}

    def client() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=5)
        while time.monotonic() < stop:
            start = time.perf_counter()
            try:
                conn.request("GET", path, headers={"Connection": "close"}
                             if close else {})
                resp = conn.getresponse()
                size = len(resp.read())
                ok = resp.status == 200
                if close:
                    conn.close()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=5)
                size, ok = 0, False
            with lock:
                lat.append(time.perf_counter() - start)
                totals["bytes"] += size
                totals["errors"] += not ok
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(conns)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.monotonic() - began
    lat.sort()
    return {"rps": len(lat) / took, "mbps": totals["bytes"] / took / 1e6,
            "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1e3 if lat else None,
            "errors": totals["errors"]}


def worker_case(port: int, ms: int, wait: float, jobs: int) -> dict:
    """Runs `jobs` jobs one after another through the worker protocol with
    a classic polling client (no `wait`) or a long-poll one."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)

    def post(obj: dict) -> dict:
        conn.request("POST", "/api/work", json.dumps(obj).encode(),
                     {"Content-Type": "application/json"})
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"worker answered {resp.status}")
        return json.loads(body)

    times, counts = [], []
    budget = time.monotonic() + 60
    for _ in range(jobs):
        if time.monotonic() > budget:
            break
        start = time.perf_counter()
        extra = {"wait": wait} if wait else {}
        res = post({"action": "start", "payload": {"ms": ms}, **extra})
        count = 1
        while not res["done"] and res["continue"] and count < 1000:
            if not wait:
                time.sleep(0.1)  # worker.js' classic polling interval
            res = post({"action": "get", "token": res["token"], **extra})
            count += 1
        times.append(time.perf_counter() - start)
        counts.append(count)
    conn.close()
    times.sort()
    return {"p50_ms": times[len(times) // 2] * 1e3,
            "req_per_job": sum(counts) / len(counts)}


# -- memory ------------------------------------------------------------------

def peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        return int(re.search(r"VmHWM:\s*(\d+)", handle.read()).group(1))


def memory_check(server: Server) -> dict:
    """Peak RSS (VmHWM) growth of the server while it serves the 64 MiB
    file, then refuses a 64 MiB upload, first with a declared length, then
    as a multipart file upload without a declared length."""
    pid = server.proc.pid
    conn = http.client.HTTPConnection(HOST, server.port, timeout=30)
    conn.request("GET", "/index.html")
    conn.getresponse().read()
    before = peak_rss_kib(pid)
    conn.request("GET", "/big.bin")
    resp = conn.getresponse()
    while resp.read(1 << 20):
        pass
    served = served_first = peak_rss_kib(pid)
    chunk = b"x" * (1 << 20)
    growth = {}
    for chunked in (False, True):
        up = http.client.HTTPConnection(HOST, server.port, timeout=30)
        up.putrequest("POST", "/api/upload")
        if chunked:  # a file upload form, its length not declared
            up.putheader("Content-Type", "multipart/form-data; boundary=b")
            up.putheader("Transfer-Encoding", "chunked")
        else:
            up.putheader("Content-Type", "application/octet-stream")
            up.putheader("Content-Length", str(64 << 20))
        up.endheaders()
        part = b'--b\r\nContent-Disposition: form-data; name="f"; ' \
            b'filename="big.bin"\r\n\r\n'
        try:
            if chunked:
                up.send(b"%x\r\n%s\r\n" % (len(part), part))
            for _ in range(64):
                up.send(b"%x\r\n%s\r\n" % (len(chunk), chunk)
                        if chunked else chunk)
            if chunked:
                up.send(b"0\r\n\r\n")
        except OSError:
            pass  # the server may close once it has refused the body
        try:
            status = up.getresponse().status
        except (OSError, http.client.HTTPException):
            status = None
        up.close()
        now = peak_rss_kib(pid)
        growth["a chunked multipart file" if chunked
               else "a declared length"] = (
            status, (now - served) / 1024)
        served = max(served, now)
    conn.close()
    return {"before_mib": before / 1024,
            "serve_64m_growth_mib": (served_first - before) / 1024,
            "refused": growth}


# -- driver ------------------------------------------------------------------

def make_www(folder: str) -> None:
    with open(os.path.join(folder, "index.html"), "wb") as handle:
        handle.write(b"<!doctype html><title>bench</title>".ljust(1024, b"."))
    with open(os.path.join(folder, "big.bin"), "wb") as handle:
        handle.truncate(64 << 20)


def run_case(case: str, port: int, duration: float, load: Callable) -> dict:
    if case == "worker_0ms":
        return worker_case(port, 0, 0, 20)
    if case == "worker_200ms_wait":
        return worker_case(port, 200, 5, 5)
    path, conns, close = LOAD[case]
    load(port, path, conns, close, 0.5)  # warm up
    return load(port, path, conns, close, duration)


def value(case: str, res: dict) -> float:
    if case.startswith("worker"):
        return res["p50_ms"]
    return res["mbps"] if case.startswith("file") else res["rps"]


def describe(case: str, res: dict) -> str:
    if case.startswith("worker"):
        return f"{res['p50_ms']:,.1f} ms p50, {res['req_per_job']:.1f} req"
    main = f"{res['mbps']:,.0f} MB/s" if case.startswith("file") \
        else f"{res['rps']:,.0f} req/s"
    p99 = f", p99 {res['p99_ms']:.1f} ms" if res["p99_ms"] is not None \
        else ""
    errors = f", {res['errors']} errors" if res["errors"] else ""
    return main + p99 + errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--venv", default=os.path.join(
        tempfile.gettempdir(), "quick-server-bench-venv"))
    parser.add_argument("--md", help="also write the table to this file")
    parser.add_argument("--python-load", action="store_true",
                        help="use the Python load client even with wrk")
    opts = parser.parse_args()
    cases = [c for c in opts.cases.split(",") if c]
    unknown = set(cases) - set(CASES)
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}; know {CASES}")
    load = wrk_load if shutil.which("wrk") and not opts.python_load \
        else python_load
    print(f"# load: {'wrk' if load is wrk_load else 'Python client'}, "
          f"{opts.duration:g} s per case", file=sys.stderr)
    results: dict[str, dict[str, dict]] = {}
    memory = None
    with tempfile.TemporaryDirectory(prefix="qs-bench-") as tmp:
        www = os.path.join(tmp, "www")
        os.mkdir(www)
        make_www(www)
        log = os.path.join(tmp, "server.log")
        for name, (cmd, env, can) in systems(opts.venv).items():
            for case in cases:
                if case not in can:
                    continue
                # a fresh server per case: an overloaded peer that wedges
                # in one case does not spoil the next
                server = Server(cmd, env, www, log)
                try:
                    res = run_case(case, server.port, opts.duration, load)
                finally:
                    server.stop()
                results.setdefault(case, {})[name] = res
                print(f"# {name:20} {case:18} {describe(case, res)}",
                      file=sys.stderr)
            if name == "quick_server":
                server = Server(cmd, env, www, log)
                try:
                    memory = memory_check(server)
                finally:
                    server.stop()
    table = render(cases, results, memory, load is wrk_load, opts.duration)
    print(table)
    if opts.md:
        with open(opts.md, "w", encoding="utf-8") as handle:
            handle.write(table)
    return 0


def render(cases: list[str], results: dict, memory: dict | None,
           wrk: bool, duration: float) -> str:
    names = ["quick_server", "quick-server 0.10.0", "bottle", "http.server"]
    lines = [f"load: {'wrk' if wrk else 'Python client'}, {duration:g} s "
             "per case, 127.0.0.1; ratio = quick_server / peer "
             "(for worker latency: peer / quick_server, higher is better)",
             "",
             "| case | " + " | ".join(names) + " |",
             "|---|" + "---:|" * len(names)]
    for case in cases:
        row = results.get(case, {})
        ours = row.get("quick_server")
        cells = []
        for name in names:
            res = row.get(name)
            if res is None:
                cells.append("—")
                continue
            cell = describe(case, res)
            mine, theirs = value(case, ours or res), value(case, res)
            if not theirs or not mine:
                cell += " (failed)"
            elif name != "quick_server" and ours is not None:
                ratio = theirs / mine if case.startswith("worker") \
                    else mine / theirs
                cell += f" (**{ratio:,.1f}x**)"
            cells.append(cell)
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    if memory is not None:
        refused = "; ".join(
            f"with {kind}: HTTP {status}, +{mib:.1f} MiB"
            for kind, (status, mib) in memory["refused"].items())
        lines += ["", f"quick_server peak RSS {memory['before_mib']:.1f} MiB"
                  f" at start; growth serving a 64 MiB file: "
                  f"+{memory['serve_64m_growth_mib']:.1f} MiB; refusing a "
                  f"64 MiB upload {refused} (spooled to a temporary file "
                  f"until `max_file_size`, 50 MiB)"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
