#!/usr/bin/env python3
"""Async JSON (issue 20): a small JSON answer from a plain route and from
an `async def` route of quick_server, beside uvicorn + starlette's async
endpoint (the shared harness' `servers/uvicorn_app.py`), in one run, with
`wrk` at 1 and 32 connections; ratios to uvicorn.

    python3 benchmarks/async_json.py [--duration 3] [--checkout DIR]
        [--venv /tmp/qs-bench-venv]

Each server gets a socket bound here on 127.0.0.1 (quick_server adopts it
through QUICK_SERVER_FDS, uvicorn as `Server.run(sockets=)`), is loaded after a 1 s
warm-up, and is stopped by its PID. The venv is the shared harness' (its
`setup.sh` installs uvicorn and starlette)."""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request

from bench import wrk_load  # (run as a script: benchmarks/ is on the path)
from live import stop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "127.0.0.1"

QS_APP = r'''
import asyncio, sys
from quick_server import create_server
server = create_server(("127.0.0.1", int(sys.argv[1])))
server.suppress_noise = True
server.no_command_loop = True

@server.json_get("/api/ping")
def ping(req, args):
    return {"ok": True}

@server.json_get("/api/aping")
async def aping(req, args):
    await asyncio.sleep(0)
    return {"ok": True}

server.serve_forever()
'''

UVICORN_APP = r'''
import socket, sys
import uvicorn
sys.path.insert(0, sys.argv[2])
from uvicorn_app import make_app
sock = socket.socket(fileno=int(sys.argv[1]))  # AF_INET, as bound
config = uvicorn.Config(make_app(sys.argv[3]), access_log=False,
                        log_level="warning", loop="uvloop", http="httptools")
uvicorn.Server(config).run(sockets=[sock])
'''


def start(argv: list[str], env: dict[str, str], listener: socket.socket,
          cwd: str) -> subprocess.Popen[bytes]:
    # (`python -c` puts the working folder first on the path: the
    # checkout's, so that it is the package imported)
    return subprocess.Popen(argv, env=env, pass_fds=[listener.fileno()],
                            cwd=cwd,
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server for {url} exited ({proc.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                answer.read()
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within 20 s")


def load(port: int, path: str, connections: int, seconds: int
         ) -> tuple[float, str]:
    """req/s and p99 of `wrk` (bench.py's), after a 1 s warm-up."""
    wrk_load(port, path, connections, False, 1)
    found = wrk_load(port, path, connections, False, max(1, seconds))
    p99 = found["p99_ms"]
    return found["rps"], "?" if p99 is None else f"{p99:.2f}ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=3,
                        help="seconds per case (after a 1 s warm-up)")
    parser.add_argument("--checkout", default=ROOT)
    parser.add_argument("--venv", default=os.environ.get(
        "QS_BENCH_VENV", "/tmp/qs-bench-venv"))
    parser.add_argument("--servers", default=os.path.join(
        os.path.dirname(ROOT), "shared", "bench", "servers"))
    options = parser.parse_args()
    venv_python = os.path.join(options.venv, "bin", "python")
    if not os.path.exists(venv_python):
        print(f"async_json.py: no venv at {options.venv} (run the shared "
              f"harness' setup.sh)", file=sys.stderr)
        return 2
    rows: list[tuple[str, int, float, str]] = []
    cases = [("quick_server plain", "qs", "/api/ping"),
             ("quick_server async def", "qs", "/api/aping"),
             ("uvicorn+starlette async", "uvicorn", "/api/ping")]
    for name, system, path in cases:
        listener = socket.create_server((HOST, 0), backlog=1024)
        port = listener.getsockname()[1]
        if system == "qs":
            env = {**os.environ, "PYTHONPATH": options.checkout,
                   "QUICK_SERVER_FDS": str(listener.fileno())}
            argv = [sys.executable, "-c", QS_APP, str(port)]
        else:
            env = dict(os.environ)
            argv = [venv_python, "-c", UVICORN_APP, str(listener.fileno()),
                    options.servers, options.checkout]
        proc = start(argv, env, listener, options.checkout)
        listener.close()
        try:
            ready(f"http://{HOST}:{port}{path}", proc)
            for connections in (1, 32):
                rps, p99 = load(port, path, connections, options.duration)
                rows.append((name, connections, rps, p99))
        finally:
            stop(proc)
    peer = {c: r for n, c, r, _ in rows if n.startswith("uvicorn")}
    print("| server | connections | req/s | p99 | vs uvicorn async |")
    print("|---|---:|---:|---:|---:|")
    for name, connections, rps, p99 in rows:
        ratio = rps / peer[connections] if peer.get(connections) else 0
        print(f"| {name} | {connections} | {rps:,.0f} | {p99} | "
              f"{ratio:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
