#!/usr/bin/env python3
"""A ~5 MB static HTML page (a Plotly page with plotly.js inline), fetched
with and without `Accept-Encoding: gzip` (issue 25): the first request's
time (for gzip: the compression into the disk cache included), a later
request's (median), and the bytes on the wire (head and body).

    python3 benchmarks/big_gzip.py [--plotly-js PATH] [--later 20]
        [--repeat 3]

The page inlines plotly.js: `--plotly-js` names a `plotly.min.js`; else
the one of the `plotly` package when it is installed; else a generated
stand-in (minified-looking JavaScript of the same size, which compresses
about as well; the table says which). Each case runs in a fresh server
process of this checkout (its disk cache empty), `--repeat` times, the
cases taking turns; each request is a new connection read to its end.
"wire at 100 Mbit/s" adds to the loopback time the bytes' time on such a
link (computed, not measured). Servers are started on a free loopback
port and stopped by the PID this script started; their cache folder is a
temporary one."""
from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

APP = r'''
import sys
sys.path.insert(0, sys.argv[3])
from quick_server import create_server
server = create_server(("127.0.0.1", int(sys.argv[1])))
server.no_command_loop = True
server.suppress_noise = True
server.bind_path("/", sys.argv[2])
server.add_default_white_list()
try:
    server.serve_forever()
finally:
    server.server_close()
'''


def plotly_js(path: str | None) -> tuple[str, bytes]:
    """Where the page's script comes from, and its bytes."""
    if path:
        with open(path, "rb") as handle:
            return os.path.basename(path), handle.read()
    try:
        from plotly.offline import get_plotlyjs  # type: ignore
        return "plotly package", get_plotlyjs().encode()
    except ImportError:
        pass
    rng = random.Random(25)
    words = ["function", "return", "var", "this", "null", "length", "for",
             "if", "else", "typeof", "void", "0", "1", "e", "t", "r", "n",
             "a", "i", "o", "s", "l", "c", "u", "f", "h", "p", "d", "m"]
    parts, size = [], 0
    while size < 4_800_000:
        token = rng.choice(words) + rng.choice(".,;(){}[]=+-*&|!?: ") + \
            str(rng.randrange(1000)) * (rng.random() < 0.2)
        parts.append(token)
        size += len(token)
    return "generated stand-in", "".join(parts).encode()


def page(script: bytes) -> bytes:
    return (b"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            b"<script type=\"text/javascript\">" + script +
            b"</script></head><body><div id=\"plot\"></div><script>"
            b"Plotly.newPlot(\"plot\", [{x: [1, 2, 3], y: [2, 1, 3]}]);"
            b"</script></body></html>\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(port: int, gzip: bool) -> tuple[float, int, bytes]:
    """Seconds, bytes on the wire and head of one GET of the page on a
    new connection (closed by the server after it)."""
    accept = b"Accept-Encoding: gzip, deflate, br\r\n" if gzip else b""
    began = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET /plot.html HTTP/1.1\r\nHost: x\r\n" + accept +
                     b"Connection: close\r\n\r\n")
        chunks = []
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    took = time.perf_counter() - began
    data = b"".join(chunks)
    return took, len(data), data[:data.find(b"\r\n\r\n")]


def serving(port: int, proc: subprocess.Popen) -> None:
    end = time.monotonic() + 20
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("the server ended")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("the server does not serve")


def run_case(folder: str, gzip: bool, later: int, cache: str
             ) -> tuple[float, float, int, bytes]:
    port = free_port()
    env = {**os.environ, "XDG_CACHE_HOME": cache}
    proc = subprocess.Popen([sys.executable, "-c", APP, str(port), folder,
                             ROOT], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        serving(port, proc)
        first, wire, head = fetch(port, gzip)
        times = [fetch(port, gzip)[0] for _ in range(later)]
        return first, statistics.median(times), wire, head
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plotly-js", help="a plotly.min.js to inline")
    parser.add_argument("--later", type=int, default=20,
                        help="later requests per case (median)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    source, script = plotly_js(args.plotly_js)
    work = tempfile.mkdtemp(prefix="big-gzip-bench-")
    try:
        folder = os.path.join(work, "www")
        os.mkdir(folder)
        body = page(script)
        with open(os.path.join(folder, "plot.html"), "wb") as handle:
            handle.write(body)
        results: dict[bool, list[tuple[float, float, int]]] = {
            False: [], True: []}
        for _ in range(args.repeat):
            for gzip in (False, True):
                cache = tempfile.mkdtemp(dir=work)  # empty: a fresh start
                first, later, wire, head = run_case(folder, gzip,
                                                    args.later, cache)
                encoded = b"content-encoding: gzip" in head.lower()
                if encoded != gzip:
                    raise RuntimeError(f"gzip={gzip}, head: {head!r}")
                results[gzip].append((first, later, wire))
        print(f"page: {len(body):,} bytes of HTML ({source}, "
              f"{len(script):,} bytes of script); {args.repeat} runs, "
              f"{args.later} later requests each; Python "
              f"{sys.version.split()[0]}, {os.cpu_count()} cores\n")
        print("| request | first: median (range) | later (median) | bytes "
              "on the wire | at 100 Mbit/s: first, later |")
        print("|---|---:|---:|---:|---:|")
        for gzip in (False, True):
            rows = results[gzip]
            firsts = [row[0] * 1000 for row in rows]
            first = statistics.median(firsts)
            later = statistics.median(row[1] for row in rows) * 1000
            wire = rows[0][2]
            link = wire * 8 / 100e6 * 1000
            print(f"| {'gzip' if gzip else 'identity'} | {first:.1f} ms "
                  f"({min(firsts):.0f}-{max(firsts):.0f}) | {later:.1f} ms "
                  f"| {wire:,} | {first + link:.0f} ms, "
                  f"{later + link:.0f} ms |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
