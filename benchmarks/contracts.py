#!/usr/bin/env python3
"""What typed contracts and file answers cost, measured against their
untyped twins on one quick_server of this checkout:

    python3 benchmarks/contracts.py [--duration S] [--rounds N] [--cases a,b]

* `rpc` vs `json_post`: the same small POST (`{"name": "ann", "times":
  2}` -> `{"text": ...}`) to a `@server.rpc` route (request and answer
  validated as dataclasses) and to a plain `json_post` route, requests/s
  at 1 and 32 connections; the target is rpc >= 0.85x.
* `FileResponse` vs static: the same 64 MiB file as a route's
  `FileResponse` and as a static file, MB/s at 2 connections; the target
  is >= 0.9x. Memory: the server's peak RSS (VmHWM) growth while it sends
  the file three times as a FileResponse; the target is < 2 MiB.

Cases alternate (json, rpc, json, rpc, ...) for `--rounds` rounds on one
server, and each ratio is of the medians, so drift of the machine hits
both sides alike. Load comes from wrk when it is installed, else from a
Python keep-alive client (which shares the cores: ratios only)."""
from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import timeit
from dataclasses import dataclass

import bench  # the Server of the side-by-side benchmark (this folder)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HOST = "127.0.0.1"
BODY = b'{"name": "ann", "times": 2}'


# -- the server ----------------------------------------------------------------

@dataclass
class Greet:
    name: str
    times: int = 1


@dataclass
class Greeting:
    text: str


def greet_json(req, args) -> dict:
    """The untyped twin of `greet`."""
    post = args["post"]
    return {"text": " ".join(["hello"] * post.get("times", 1)) + " " +
            post["name"]}


def greet(request: Greet) -> Greeting:
    return Greeting(" ".join(["hello"] * request.times) + " " +
                    request.name)


def handler_cost(number: int = 100_000) -> tuple[float, float]:
    """Microseconds for one request's route work, body parsed: the
    json_post handler and its JSON, and the rpc's (request checked,
    answer checked, JSON), in this process (no network, no other load)."""
    sys.path.insert(0, ROOT)
    from quick_server.http.responses import to_json
    from quick_server.rpc.contracts import Contract

    class Req:
        headers = {"content-type": "application/json"}

    contract = Contract("/api/rpc", greet)
    args = {"post": {"name": "ann", "times": 2}}
    plain = min(timeit.repeat(lambda: to_json(greet_json(Req, args)),
                              number=number, repeat=5))
    typed = min(timeit.repeat(lambda: to_json(contract.answer(Req, args)),
                              number=number, repeat=5))
    return plain / number * 1e6, typed / number * 1e6


def serve(port: int, www: str) -> None:
    """The server under test: `contracts.py serve PORT WWW`."""
    sys.path.insert(0, ROOT)
    from quick_server import FileResponse, create_server

    server = create_server((HOST, port), parallel=True)
    server.bind_path("/", www)
    server.add_file_patterns(["*.bin"], blacklist=False)
    server.suppress_noise = True
    server.no_command_loop = True

    server.add_json_post_mask("/api/json", greet_json)
    server.rpc("/api/rpc")(greet)

    @server.json_get("/api/big")
    def _big(req, args):
        return FileResponse(os.path.join(www, "big.bin"))

    server.serve_forever()


class Server(bench.Server):
    """The server in a process of its own, stopped by the PID it got."""

    def __init__(self, www: str, log: str) -> None:
        super().__init__([sys.executable, os.path.abspath(__file__), "serve"],
                         {}, www, log)

    def cpu_seconds(self) -> float:
        """User and system CPU time the server has used so far."""
        with open(f"/proc/{self.proc.pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / \
            os.sysconf("SC_CLK_TCK")

    def peak_rss_kib(self) -> int:
        with open(f"/proc/{self.proc.pid}/status", encoding="ascii") as fh:
            return int(re.search(r"VmHWM:\s*(\d+)", fh.read()).group(1))


# -- load ----------------------------------------------------------------------

def wrk_load(port: int, path: str, conns: int, post: bool,
             duration: float) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua",
                                     delete=False) as script:
        if post:
            script.write('wrk.method = "POST"\n'
                         f"wrk.body = '{BODY.decode()}'\n"
                         'wrk.headers["Content-Type"] = '
                         '"application/json"\n')
    try:
        out = subprocess.run(
            ["wrk", f"-t{min(conns, 2)}", f"-c{conns}",
             f"-d{duration:g}s", "--timeout", "5s", "-s", script.name,
             f"http://{HOST}:{port}{path}"],
            capture_output=True, text=True, timeout=duration + 30,
            check=False).stdout
    finally:
        os.unlink(script.name)
    return bench.parse_wrk(out)


def python_load(port: int, path: str, conns: int, post: bool,
                duration: float) -> dict:
    """Keep-alive clients on threads, bounded by `duration`."""
    stop = time.monotonic() + duration
    lock = threading.Lock()
    totals = {"requests": 0, "bytes": 0, "errors": 0}

    def client() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        while time.monotonic() < stop:
            try:
                if post:
                    conn.request("POST", path, BODY,
                                 {"Content-Type": "application/json"})
                else:
                    conn.request("GET", path)
                resp = conn.getresponse()
                size, ok = 0, resp.status == 200
                while True:
                    block = resp.read(1 << 20)
                    if not block:
                        break
                    size += len(block)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=10)
                size, ok = 0, False
            with lock:
                totals["requests"] += 1
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
    return {"rps": totals["requests"] / took,
            "requests": totals["requests"],
            "mbps": totals["bytes"] / took / 1e6,
            "errors": totals["errors"]}


# -- the cases -----------------------------------------------------------------

# name -> (baseline (path, post), contender (path, post), connections, value)
PAIRS = {
    "rpc_vs_json_post_c1": (("/api/json", True), ("/api/rpc", True), 1,
                            "rps"),
    "rpc_vs_json_post_c32": (("/api/json", True), ("/api/rpc", True), 32,
                             "rps"),
    "file_response_vs_static_64m_c2": (("/big.bin", False),
                                       ("/api/big", False), 2, "mbps"),
}


def compare(server: Server, pair: tuple, rounds: int, duration: float,
            load) -> tuple[dict, dict, int]:
    """Medians of the baseline and the contender over alternating runs
    (the measure, and the server's CPU microseconds per request, which
    other load on the machine disturbs less), and the failed requests."""
    (base_path, base_post), (path, post), conns, value = pair
    load(server.port, base_path, conns, base_post, 0.5)  # warm up
    load(server.port, path, conns, post, 0.5)
    runs: dict[str, dict[str, list[float]]] = {
        "base": {"value": [], "cpu_us": []},
        "mine": {"value": [], "cpu_us": []}}
    errors = 0
    for _ in range(rounds):
        for side, (p, is_post) in (("base", (base_path, base_post)),
                                   ("mine", (path, post))):
            cpu = server.cpu_seconds()
            res = load(server.port, p, conns, is_post, duration)
            used = server.cpu_seconds() - cpu
            runs[side]["value"].append(res[value])
            runs[side]["cpu_us"].append(
                used / max(res["requests"], 1) * 1e6)
            errors += res["errors"]
    medians = {side: {key: statistics.median(values)
                      for key, values in run.items()}
               for side, run in runs.items()}
    return medians["base"], medians["mine"], errors


def file_memory(server: Server) -> float:
    """Peak RSS growth (MiB) while the 64 MiB file goes out three times as
    a FileResponse, after one small request."""
    conn = http.client.HTTPConnection(HOST, server.port, timeout=30)
    conn.request("POST", "/api/rpc", BODY,
                 {"Content-Type": "application/json"})
    conn.getresponse().read()
    before = server.peak_rss_kib()
    for _ in range(3):
        conn.request("GET", "/api/big")
        resp = conn.getresponse()
        while resp.read(1 << 20):
            pass
    conn.close()
    return (server.peak_rss_kib() - before) / 1024


def main() -> int:
    if sys.argv[1:2] == ["serve"]:
        serve(int(sys.argv[2]), sys.argv[3])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", default=",".join(PAIRS),
                        help=f"some of {', '.join(PAIRS)}")
    parser.add_argument("--python-load", action="store_true",
                        help="use the Python load client even with wrk")
    opts = parser.parse_args()
    cases = [case for case in opts.cases.split(",") if case]
    if set(cases) - set(PAIRS):
        parser.error(f"unknown cases {sorted(set(cases) - set(PAIRS))}")
    load = wrk_load if shutil.which("wrk") and not opts.python_load \
        else python_load
    lines = [f"load: {'wrk' if load is wrk_load else 'Python client'}, "
             f"{opts.rounds} alternating rounds of {opts.duration:g} s, "
             f"medians", "",
             "| case | baseline | contender | ratio | server CPU per request"
             " (baseline / contender) |", "|---|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory(prefix="qs-contracts-") as www:
        with open(os.path.join(www, "big.bin"), "wb") as handle:
            handle.truncate(64 << 20)
        log = os.path.join(www, "server.log")
        server = Server(www, log)
        try:
            growth = file_memory(server)
        finally:
            server.stop()
        for name in cases:
            pair = PAIRS[name]
            server = Server(www, log)  # a fresh server for each pair
            try:
                base, mine, errors = compare(server, pair, opts.rounds,
                                             opts.duration, load)
            finally:
                server.stop()
            unit = "req/s" if pair[3] == "rps" else "MB/s"
            failed = f" ({errors} failed)" if errors else ""
            lines.append(
                f"| {name} | {base['value']:,.0f} {unit} | "
                f"{mine['value']:,.0f} {unit}{failed} | "
                f"**{mine['value'] / base['value']:.2f}x** | "
                f"{base['cpu_us']:,.0f} / {mine['cpu_us']:,.0f} us "
                f"(**{base['cpu_us'] / mine['cpu_us']:.2f}x**) |")
            print(lines[-1], file=sys.stderr)
    plain, typed = handler_cost()
    lines += ["", f"peak RSS growth sending the 64 MiB file three times as "
                  f"a FileResponse: +{growth:.1f} MiB", "",
              f"route work per request (in process, best of 5): json_post "
              f"{plain:.1f} us, rpc {typed:.1f} us (+{typed - plain:.1f} us "
              f"for checking the request and the answer)"]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
